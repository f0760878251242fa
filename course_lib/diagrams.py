"""Concept diagrams the labs open with, drawn with matplotlib so they need no image files and match the kit's terms.

- ``"backbone"``: a pretrained classifier as stages, pooled features and a head; early stages generic, late ones
  specific (labs 00 and 01).
- ``"strategies"``: which parts train in each adaptation strategy of lab 02 (probe, last k stages, full
  fine-tuning, from scratch), frozen parts in blue, trained ones in red, random initialisation hatched.
- ``"decision"``: the transfer decision flow of labs 03-05: how close the data is to the source, how much of it
  there is, and the strategy to start with (``recommend.strategy_for``).
- ``"routes"``: lab 04's three routes from a camera-trap frame to a label (whole-frame classifier, detector then
  classifier on each crop, training from scratch) and what each costs and can answer.
- ``"choose"``: lab 05's path from a folder of images to a written choice (checks, candidates, measurement, report).
"""
from __future__ import annotations

from .errors import unknown_name

FROZEN, TRAINED, NEUTRAL = "#9DB7D5", "#E39A9C", "#E8E8E8"
KINDS = ("backbone", "strategies", "decision", "routes", "choose")


def _box(ax, x, y, w, h, text, color=NEUTRAL, hatch=None, size=8):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=color, edgecolor="#444444",
                                hatch=hatch, linewidth=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="#444444", lw=0.9))


def _backbone(ax, n_stages: int = 5):
    _box(ax, 0.0, 0.4, 0.9, 0.5, "image")
    for i in range(n_stages):
        x = 1.2 + i * 1.1
        _box(ax, x, 0.4, 0.9, 0.5, f"stage {i + 1}", FROZEN)
        _arrow(ax, x - 0.3, 0.65, x, 0.65)
    xp = 1.2 + n_stages * 1.1
    _box(ax, xp, 0.4, 1.1, 0.5, "pooled\nfeatures")
    _box(ax, xp + 1.4, 0.4, 0.9, 0.5, "head", TRAINED)
    _arrow(ax, xp - 0.3, 0.65, xp, 0.65)
    _arrow(ax, xp + 1.1, 0.65, xp + 1.4, 0.65)
    ax.text(1.2, 1.15, "early stages: edges, colours, textures (generic, transfer widely)", fontsize=8)
    ax.text(1.2 + (n_stages - 2) * 1.1, 0.1, "late stages: parts, objects (specific to the source task)", fontsize=8)
    ax.text(xp + 1.4, 1.15, "replaced for your classes", fontsize=8, color="#A33")
    ax.set_xlim(-0.1, xp + 2.5)
    ax.set_ylim(0, 1.4)
    return "A pretrained classifier: a backbone of stages, pooled features, and a head"


def _strategies(ax, n_stages: int = 5):
    rows = [("linear probe", 0, False), ("last k stages (k = 2)", 2, False), ("full fine-tuning", n_stages, False),
            ("from scratch", n_stages, True)]
    for r, (name, trained, scratch) in enumerate(rows):
        y = (len(rows) - 1 - r) * 0.8
        ax.text(0, y + 0.25, name, fontsize=8, va="center")
        for i in range(n_stages):
            train_it = i >= n_stages - trained
            _box(ax, 2.2 + i * 0.9, y, 0.8, 0.5, f"{i + 1}", TRAINED if train_it else FROZEN,
                 "///" if scratch else None)
        _box(ax, 2.2 + n_stages * 0.9 + 0.2, y, 0.8, 0.5, "head", TRAINED, "///" if scratch else None)
    ax.text(2.2, len(rows) * 0.8 - 0.1, "blue: frozen (pretrained)   red: trained   hatched: random start",
            fontsize=8)
    ax.set_xlim(-0.1, 2.2 + n_stages * 0.9 + 1.2)
    ax.set_ylim(-0.2, len(rows) * 0.8 + 0.2)
    return "What each adaptation strategy trains"


def _decision(ax):
    _box(ax, 0.0, 0.62, 2.2, 0.6, "your task and data", size=8)
    _box(ax, 3.0, 0.62, 2.6, 0.6, "close to the source?\n(photos vs X-rays, tiles)", size=7)
    _arrow(ax, 2.2, 0.92, 3.0, 0.92)
    leaves = [("near, few images\n(under ~100 per class)", 10, "linear probe on the last stage"),
              ("near, many images\n(1,000+ per class)", 2000, "fine-tune, backbone LR 10x lower"),
              ("far, few images\n(under ~100 per class)", 10, "probe mid-level stages too"),
              ("far, many images\n(1,000+ per class)", 2000, "fine-tune more stages; check shortcuts")]
    for i, (what, n, advice) in enumerate(leaves):
        y = 2.1 - i * 0.8
        _box(ax, 6.4, y, 2.4, 0.55, what, FROZEN if n < 100 else TRAINED, size=7)
        _box(ax, 9.4, y, 3.2, 0.55, advice, size=7)
        _arrow(ax, 5.6, 0.92, 6.4, y + 0.28)
        _arrow(ax, 8.8, y + 0.28, 9.4, y + 0.28)
    ax.text(0, -0.55, "then measure: a verdict with its interval decides, not the rule of thumb (labs 02, 03, 05)",
            fontsize=8)
    ax.set_xlim(-0.1, 12.8)
    ax.set_ylim(-0.7, 2.8)
    return "The transfer decision, as a first guess to measure"


def _routes(ax):
    _box(ax, 0.0, 1.0, 1.6, 0.6, "camera-trap\nframe")
    routes = [("pretrained backbone\n(frozen or fine-tuned)", None, "one label per frame",
               "cheap: one forward pass"),
              ("detector: boxes", "classifier\non each crop", "a label per animal,\ncounts, small animals",
               "a detector pass + one per box"),
              ("network from scratch", None, "one label per frame", "needs many labelled frames")]
    for i, (first, second, answers, cost) in enumerate(routes):
        y = 2.0 - i * 1.0
        _box(ax, 2.4, y, 2.6, 0.6, first, FROZEN if i < 2 else TRAINED, "///" if i == 2 else None, size=7)
        _arrow(ax, 1.6, 1.3, 2.4, y + 0.3)
        if second:
            _box(ax, 5.5, y, 1.8, 0.6, second, TRAINED, size=7)
            _arrow(ax, 5.0, y + 0.3, 5.5, y + 0.3)
        _box(ax, 7.8, y, 2.4, 0.6, answers, size=7)
        _arrow(ax, 7.3 if second else 5.0, y + 0.3, 7.8, y + 0.3)
        ax.text(10.4, y + 0.3, cost, fontsize=7, va="center")
    ax.set_xlim(-0.1, 13.0)
    ax.set_ylim(-0.2, 2.8)
    return "Three routes from a frame to a label: what each can answer, and what it costs"


def _choose(ax):
    steps = [("your folder\n(class sub-folders)", NEUTRAL), ("checks: bad files,\nduplicates, balance", NEUTRAL),
             ("candidates: size\nand speed fit?", FROZEN), ("measure: paired folds,\nshortcuts, latency", TRAINED),
             ("report: the choice,\nwhat was ruled out", NEUTRAL)]
    for i, (text, color) in enumerate(steps):
        x = i * 2.5
        _box(ax, x, 0.4, 2.0, 0.7, text, color, size=7)
        if i:
            _arrow(ax, x - 0.5, 0.75, x, 0.75)
    ax.text(0, 1.4, "each step can stop the run with a message that says what to fix", fontsize=8)
    ax.set_xlim(-0.1, 12.2)
    ax.set_ylim(0, 1.7)
    return "Choosing a model for your own images: the steps `choose` runs"


def concept_diagram(kind: str, ax=None):
    """Draw one of :data:`KINDS` (see the module docstring); returns the axes."""
    import matplotlib.pyplot as plt

    draw = {"backbone": _backbone, "strategies": _strategies, "decision": _decision, "routes": _routes,
            "choose": _choose}
    if kind not in draw:
        raise unknown_name("diagram", kind, KINDS, "course_lib.diagrams.KINDS")
    if ax is None:
        _, ax = plt.subplots(figsize=(11, {"backbone": 2.2, "choose": 1.8}.get(kind, 3.0)))
    ax.set_title(draw[kind](ax), fontsize=10)
    ax.axis("off")
    return ax
