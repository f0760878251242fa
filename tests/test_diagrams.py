"""The concept diagrams draw, label what the labs name, and refuse an unknown kind with the list of kinds."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import diagrams  # noqa: E402
from course_lib.errors import UnknownNameError  # noqa: E402


@pytest.mark.parametrize("kind", diagrams.KINDS)
def test_every_diagram_draws_its_boxes_and_title(kind, tmp_path):
    ax = diagrams.concept_diagram(kind)
    texts = [t.get_text() for t in ax.texts]
    assert ax.get_title() and len(ax.patches) >= 5
    expected = {"backbone": "head", "strategies": "from scratch", "decision": "linear probe on the last stage",
                "routes": "classifier\non each crop", "choose": "report: the choice,\nwhat was ruled out"}[kind]
    assert any(expected in t for t in texts)
    ax.figure.savefig(tmp_path / f"{kind}.png")
    assert (tmp_path / f"{kind}.png").stat().st_size > 5000
    plt.close(ax.figure)


def test_strategies_diagram_trains_exactly_what_each_strategy_trains():
    ax = diagrams.concept_diagram("strategies")
    colours = [matplotlib.colors.to_hex(p.get_facecolor()).upper() for p in ax.patches]
    trained = colours.count(diagrams.TRAINED.upper())
    # probe: head; last 2: 2 + head; full: 5 + head; scratch: 5 + head
    assert trained == 1 + 3 + 6 + 6 and colours.count(diagrams.FROZEN.upper()) == 5 + 3
    plt.close(ax.figure)


def test_unknown_kind_suggests_the_close_one():
    with pytest.raises(UnknownNameError, match="strategies"):
        diagrams.concept_diagram("strategy")
