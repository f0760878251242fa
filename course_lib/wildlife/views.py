"""The figures of lab 04, each one call that returns its matplotlib figure (the lab saves it for the slides).

:func:`plot_class_counts` (the long tail), :func:`plot_random_vs_grouped` (one line per seed),
:func:`plot_confusion` (out-of-fold confusion of the larger classes), :func:`plot_coverage` (accuracy against the
share handled automatically) and :func:`plot_cost_accuracy` (each pipeline's accuracy against its cost per frame).
Used in: 04.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

# short names of the detectors in the cost figure's legend
SHORT_NAMES = {"ssdlite320_mobilenet_v3_large": "SSDlite + crops",
               "fasterrcnn_mobilenet_v3_large_320_fpn": "Faster R-CNN MobileNet-320 + crops",
               "fasterrcnn_resnet50_fpn": "Faster R-CNN ResNet-50 + crops"}


def plot_class_counts(counts: pd.Series):
    """Frames per label, largest first; labels with 1-2 frames in red."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.2))
    ax.bar(counts.index, counts.values, color=["#4C72B0" if c > 2 else "#C44E52" for c in counts.values])
    ax.set_ylabel("frames"); ax.set_title("Frames per label: the long tail, red = 1-2 frames")
    ax.tick_params(axis="x", rotation=75, labelsize=8)
    fig.tight_layout()
    return fig


def plot_random_vs_grouped(cv: pd.DataFrame):
    """Random folds against folds by event, one grey line per seed (`cv`: :func:`random_vs_grouped_cv`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for _, r in cv.iterrows():
        ax.plot([0, 1], [r.random, r.grouped], "-o", color="grey", alpha=0.6)
    ax.set_xticks([0, 1], ["random folds", "folds by event"]); ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel("probe accuracy, 5-fold CV"); ax.set_title("Same model, same data: one line per seed")
    fig.tight_layout()
    return fig


def plot_confusion(confusion, classes: Sequence[str], shown: Sequence[str]):
    """The rows and columns of `shown` of a confusion matrix, every other class summed into one "other" column."""
    import matplotlib.pyplot as plt

    ids = [list(classes).index(c) for c in shown]
    cm = np.asarray(confusion)
    small = np.c_[cm[np.ix_(ids, ids)], cm[ids].sum(1) - cm[np.ix_(ids, ids)].sum(1)]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.imshow(small, cmap="Blues")
    for (r, c), v in np.ndenumerate(small):
        ax.text(c, r, v, ha="center", va="center", fontsize=8, color="white" if v > small.max() / 2 else "black")
    ax.set_xticks(range(len(shown) + 1), list(shown) + ["other"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(shown)), list(shown), fontsize=8)
    ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title("Out-of-fold confusion, classes with 4+ frames")
    fig.tight_layout()
    return fig


def plot_coverage(curve: pd.DataFrame, marks: Sequence[float] = (0.3, 0.5, 0.7, 0.9)):
    """Accuracy on the frames handled automatically against their share (`curve`: :func:`coverage_curve`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(curve.coverage, curve.accuracy, "-o", ms=3)
    for t in marks:
        r = curve.iloc[(curve.threshold - t).abs().argmin()]
        ax.annotate(f"t={r.threshold:.2f}", (r.coverage, r.accuracy), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")
    ax.set_xlabel("share of frames handled automatically"); ax.set_ylabel("accuracy on those frames")
    ax.set_title("Out-of-fold probe: accuracy vs automation"); ax.set_xlim(0, 1.02); ax.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


def plot_cost_accuracy(scored: pd.DataFrame, majority: float, n_val: int,
                       short: Mapping[str, str] = SHORT_NAMES):
    """Each scored pipeline's accuracy against its milliseconds per frame (log scale), with the majority class."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    for r, marker in zip(scored.itertuples(), "osDv^<>"):
        ax.scatter(r.ms_per_frame, r.accuracy, s=45, marker=marker,
                   label=short.get(r.pipeline.split(": ")[-1], r.pipeline.split(",")[0]))
    ax.axhline(majority, ls="--", color="grey", label="majority class")
    ax.set_xscale("log"); ax.set_xlabel("ms per frame on this CPU, log scale")
    ax.set_ylabel(f"accuracy, {n_val} val frames")
    ax.set_title("Accuracy against cost per frame"); ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["SHORT_NAMES", "plot_class_counts", "plot_confusion", "plot_cost_accuracy", "plot_coverage",
           "plot_random_vs_grouped"]
