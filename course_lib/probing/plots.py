"""The layer-wise curve: probe accuracy against stage depth for several data sets, pretrained and random init,
with the stage-less references and the majority class."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from ..errors import CourseLibError
from .layers import PRETRAINED, RANDOM, curve, reference

COLORS = {"hymenoptera": "#4C72B0", "eurosat": "#DD8452", "xray_normal_vs_pneumonia": "#55A868",
          "xray_bacteria_vs_virus": "#C44E52"}
_FALLBACK_COLORS = ("#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def _color(dataset: str, i: int) -> str:
    return COLORS.get(dataset, _FALLBACK_COLORS[i % len(_FALLBACK_COLORS)])


def plot_layerwise(summary: pd.DataFrame, datasets: Sequence[str], title: str,
                   labels: Mapping[str, str] | None = None, raw_kind: str | Sequence[str] | None = None,
                   chance: Mapping[str, float] | None = None, ylim: tuple[float, float] = (0.0, 1.02)):
    """Probe accuracy against stage depth: a line per data set, solid for pretrained and dotted for random init,
    shaded ± one standard deviation over folds and seeds; references without a stage (`raw_kind`: raw pixels, or
    several) as horizontal dashed / dash-dotted lines, the majority class as a thin solid line."""
    kinds = [raw_kind] if isinstance(raw_kind, str) else list(raw_kind or [])
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    stage_ticks: dict[int, str] = {}
    for i, ds in enumerate(datasets):
        color, name = _color(ds, i), (labels or {}).get(ds, ds)
        for kind, style, marker, alpha in ((PRETRAINED, "-", "o", 0.18), (RANDOM, ":", "s", 0.10)):
            try:
                c = curve(summary, ds, kind)
            except CourseLibError:
                continue
            x, y, s = c["depth"].to_numpy(float), c["mean"].to_numpy(float), c["std"].to_numpy(float)
            stage_ticks.update({int(d): st for st, d in zip(c.index, x)})
            ax.plot(x, y, style, marker=marker, ms=4, color=color, label=f"{name}: {kind}")
            ax.fill_between(x, y - s, y + s, color=color, alpha=alpha, lw=0)
        for kind, style in zip(kinds, ("--", "-.", (0, (1, 3)))):
            try:
                ref = reference(summary, ds, kind)
            except CourseLibError:
                continue
            ax.axhline(ref["mean"], ls=style, lw=1.3, color=color, label=f"{name}: {kind}")
        if chance is not None and ds in chance:
            ax.axhline(chance[ds], ls="-", lw=0.6, color=color, alpha=0.5)
    ticks = sorted(stage_ticks)
    ax.set_xticks(ticks, [stage_ticks[t] for t in ticks], rotation=30, ha="right")
    ax.set_xlabel("stage the features are taken after (input side -> output side)")
    ax.set_ylabel("probe accuracy, fraction correct\n(cross-validated, mean ± 1 std)")
    ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if chance is not None:
        ax.text(0.01, 0.01, "thin solid lines: majority class", transform=ax.transAxes, fontsize=7, color="grey")
    fig.tight_layout()
    return fig
