"""Choosing under constraints: Pareto fronts, a deployment's limits, the shortlist, its plot and its widget panel."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import CourseLibError
from ..widgets import panel


# ============================================================================= choosing under constraints
def pareto_front(table, cost: str, gain: str = "top1"):
    """Boolean Series: True for models no other model beats on both axes (lower `cost`, higher `gain`).

    A model is dominated when another has cost <= and gain >= with at least one strict. Rows with a missing
    value are never on the front.
    """
    import pandas as pd

    c = table[cost].astype(float).to_numpy()
    g = table[gain].astype(float).to_numpy()
    ok = np.isfinite(c) & np.isfinite(g)
    front = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (c <= c[i]) & (g >= g[i]) & ((c < c[i]) | (g > g[i]))
        front[i] = not dominated.any()
    return pd.Series(front, index=table.index, name=f"pareto_{cost}")


@dataclass(frozen=True)
class Constraints:
    """What a deployment allows. None = no limit. ``fps`` turns into a per-image budget of 1000 / fps ms."""

    max_ms: float | None = None
    max_mb: float | None = None
    min_top1: float | None = None
    fps: float | None = None

    @property
    def budget_ms(self) -> float | None:
        limits = [v for v in (self.max_ms, None if not self.fps else 1000.0 / self.fps) if v]
        return min(limits) if limits else None


def shortlist(table, max_ms: float | None = None, max_mb: float | None = None, min_top1: float | None = None,
              fps: float | None = None, ms_col: str = "ms_bs1", mb_col: str = "file_mb", top1_col: str = "top1"):
    """The models that meet every constraint, most accurate first.

    ``fps`` (real time) means at most 1000/fps ms per image, combined with ``max_ms`` by the stricter. A model
    whose latency (or size, accuracy) is unknown is left out once that constraint is set: it cannot be checked.
    """
    import pandas as pd

    for name, v in (("max_ms", max_ms), ("max_mb", max_mb), ("fps", fps)):
        if v is not None and v <= 0:
            raise CourseLibError(f"{name} must be positive, got {v}; use None for no limit.")
    budget = Constraints(max_ms, max_mb, min_top1, fps).budget_ms
    keep = pd.Series(True, index=table.index)
    if budget is not None:
        keep &= table[ms_col].astype(float) <= budget
    if max_mb is not None:
        keep &= table[mb_col].astype(float) <= max_mb
    if min_top1 is not None:
        keep &= table[top1_col].astype(float) >= min_top1
    return table[keep.fillna(False)].sort_values(top1_col, ascending=False)


def plot_pareto(table, cost: str, gain: str = "top1", ax=None, logx: bool = True, highlight: Iterable[str] = (),
                budget: float | None = None, xlabel: str | None = None, title: str | None = None):
    """Each model as a point (cost vs gain), the Pareto front as a line, `highlight`ed names ringed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    data = table[[cost, gain]].astype(float).dropna()
    front = pareto_front(data, cost, gain)
    highlight = set(highlight)
    ax.scatter(data[cost], data[gain], color="#999999", s=28, label="dominated", zorder=2)
    on = data[front].sort_values(cost)
    ax.scatter(on[cost], on[gain], color="#C44E52", s=40, label="Pareto front", zorder=3)
    ax.step(on[cost], on[gain], where="post", color="#C44E52", lw=1.2, zorder=1)
    for name, (x, y) in data.iterrows():
        ax.annotate(name.replace("tf_efficientnet_", ""), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if name in highlight:
            ax.scatter([x], [y], s=140, facecolors="none", edgecolors="#4C72B0", lw=1.6, zorder=4)
    if highlight:
        ax.scatter([], [], s=140, facecolors="none", edgecolors="#4C72B0", lw=1.6, label="shortlisted")
    if budget is not None:
        ax.axvline(budget, ls="--", color="grey", lw=1, label=f"budget {budget:g}")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or cost)
    ax.set_ylabel("ImageNet top-1 (%)" if gain == "top1" else gain)
    ax.set_title(title or f"{gain} vs {cost}")
    ax.legend(fontsize=7, loc="best")
    return ax


def plot_fronts(speed, zoo):
    """Two panels: top-1 against the latency measured here (`speed`, :func:`measure_zoo`), and against the
    published weights file of the whole `zoo` (``models.zoo_table()``), each with its Pareto front."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4.4))
    plot_pareto(speed, "ms_bs1", ax=a, xlabel="ms per image at batch 1 (measured here)",
                title="Accuracy vs latency: timed models")
    plot_pareto(zoo, "file_mb", ax=b, xlabel="weights file (MB, published)", title="Accuracy vs size: the whole zoo")
    fig.tight_layout()
    return fig


def constraint_panel(table, ms_col: str = "ms_bs1", max_ms: float = 50.0, max_mb: float = 100.0,
                     min_top1: float = 70.0, fps: float = 0.0):
    """An ipywidget: sliders for max ms per image, max MB, min top-1 and fps; it plots and lists the shortlist.

    Without a widget front end (papermill, nbconvert, tests) it is drawn once with the defaults as ordinary output
    (``widgets.panel``); ``panel.result`` holds that shortlist either way. fps = 0 means no real-time need.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def draw(max_ms=max_ms, max_mb=max_mb, min_top1=min_top1, fps=fps):
        picked = shortlist(table, max_ms=max_ms, max_mb=max_mb, min_top1=min_top1, fps=fps or None, ms_col=ms_col)
        budget = Constraints(max_ms, max_mb, min_top1, fps or None).budget_ms
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        plot_pareto(table, ms_col, highlight=picked.index, budget=budget, ax=ax, xlabel="ms per image (batch 1, here)",
                    title=f"{len(picked)} of {len(table)} models meet the constraints")
        fig.tight_layout()
        plt.show()
        try:
            from IPython.display import display

            display(picked[[c for c in (ms_col, "file_mb", "top1") if c in picked]].round(2))
        except ImportError:
            print(picked)
        return picked

    top_ms = float(max(table[ms_col].astype(float).max() * 2, max_ms))
    return panel(
        draw, "the constraint panel",
        max_ms=widgets.FloatSlider(value=max_ms, min=1.0, max=round(top_ms), step=1.0, description="max ms"),
        max_mb=widgets.FloatSlider(value=max_mb, min=5.0, max=600.0, step=5.0, description="max MB"),
        min_top1=widgets.FloatSlider(value=min_top1, min=60.0, max=90.0, step=0.5, description="min top-1"),
        fps=widgets.FloatSlider(value=fps, min=0.0, max=120.0, step=5.0, description="fps (0: none)"))

