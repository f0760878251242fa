"""Widget panels that degrade to figures: a live notebook gets the controls, a headless run (papermill, nbconvert,
nbval, a script) gets the panel drawn once with its default values as ordinary cell output.

``ipywidgets.interactive`` draws into an Output widget, which an executed notebook stores as widget state that no
viewer shows (GitHub, a static site, the slides), so a headless run must call the drawing function itself.
"""
from __future__ import annotations

from typing import Any, Callable

from . import env


class StaticPanel:
    """What a panel returns without a widget front end: the drawing function was called once with the defaults
    (its figures and tables are in the cell's output); ``result`` holds what it returned, as ``interactive`` does."""

    def __init__(self, result: Any, values: dict, what: str):
        self.result, self.kwargs, self.what = result, values, what

    def _repr_markdown_(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"*{self.what}, drawn once with the defaults ({shown}); in a live notebook this is a form you can change.*"

    def __repr__(self) -> str:
        return f"StaticPanel({self.what!r}, {self.kwargs})"


def panel(fn: Callable[..., Any], what: str, **controls):
    """``ipywidgets.interactive(fn, **controls)`` in a live front end; otherwise `fn` called once with each
    control's value, returning a :class:`StaticPanel`. Either way ``.result`` is what `fn` returned."""
    if env.has_widget_frontend():
        import ipywidgets as widgets

        return widgets.interactive(fn, **controls)
    values = {name: getattr(c, "value", c) for name, c in controls.items()}
    return StaticPanel(fn(**values), values, what)
