"""Figures and printouts of lab 02: accuracy against data size (:func:`plot_sweep`), cost per depth
(:func:`plot_costs`) and the k widget's body (:func:`show_depth`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .names import COLORS, COST_ORDER, label


def plot_sweep(summary: pd.DataFrame, majority: Mapping[str, float] | None = None,
               titles: Mapping[str, str] | None = None, k: int | None = None, order: Sequence[str] | None = None):
    """Accuracy against training images per class (log scale), one panel per data set (in `order`): mean over seeds
    with an error bar and a shaded band of one standard deviation, a dashed line for the majority class."""
    import matplotlib.pyplot as plt

    datasets = [d for d in (order or []) if d in set(summary["dataset"])]
    datasets += [d for d in dict.fromkeys(summary["dataset"]) if d not in datasets]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.2 * len(datasets), 4.9), squeeze=False)
    for ax, dataset in zip(axes.flat, datasets):
        part = summary[summary["dataset"] == dataset]
        for strategy in [s for s in COST_ORDER if s in set(part["strategy"])]:
            s = part[part["strategy"] == strategy].sort_values("n_per_class")
            x, m, sd = s["n_per_class"].to_numpy(), 100 * s["mean"].to_numpy(), 100 * s["std"].to_numpy()
            seeds = int(s["n_seeds"].max())
            ax.errorbar(x, m, yerr=sd, marker="o", ms=4, capsize=3, color=COLORS.get(strategy),
                        label=f"{label(strategy, k if strategy == 'last_k' else None)} ({seeds} seeds)")
            ax.fill_between(x, m - sd, m + sd, color=COLORS.get(strategy), alpha=0.15)
        if majority and dataset in majority:
            ax.axhline(100 * majority[dataset], ls="--", color="grey", label="majority class")
        sizes = sorted(part["n_per_class"].unique())
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([f"{v:g}" for v in np.round(sizes, 1)])
        ax.minorticks_off()
        ax.set_xlabel("training images per class (log scale; the last point is the whole train set)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title((titles or {}).get(dataset, dataset))
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes.flat:  # one legend for all panels, below them, so it hides no curve
        for h, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def plot_costs(costs: pd.DataFrame):
    """Trainable parameters and seconds per epoch for each unfrozen depth k (log scale for parameters)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    names = [("probe" if r.strategy == "probe" else f"k={r.k}") for r in costs.itertuples()]
    a.bar(names, costs["trainable_params"], color="#4C72B0")
    a.set_yscale("log")
    a.set_ylabel("trainable parameters (log scale)")
    a.set_title("What each depth trains")
    b.bar(names, costs["seconds_per_epoch"], color="#C44E52")
    b.set_ylabel(f"seconds per epoch ({int(costs['n_train'].iloc[0])} images)")
    b.set_title(f"What it costs here ({int(costs['input_size'].iloc[0])} px, CPU)")
    for ax in (a, b):
        ax.set_xlabel("strategy: linear probe, or head + last k stages trainable")
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def show_depth(k: int, costs: pd.DataFrame, summary: pd.DataFrame | None = None, k_of: Mapping[str, int] | None = None):
    """One line per fact about training the head and the last `k` stages: parameters, cost, and the sweep's
    accuracy for the strategy that trained that depth (if one did). The body of the lab's k widget."""
    row = costs[(costs["strategy"] != "probe") & (costs["k"] == k)]
    if row.empty:
        print(f"k={k} was not measured; measured depths: {sorted(costs.loc[costs['strategy'] != 'probe', 'k'])}")
        return None
    r = row.iloc[0]
    total = int(costs["trainable_params"].max())
    lines = [f"k = {k}: head + last {k} stage(s) trainable",
             f"  trainable parameters: {int(r.trainable_params):>10,}  ({100 * r.trainable_params / total:.1f}% of all)",
             f"  seconds per epoch:    {r.seconds_per_epoch:>10.2f}  ({int(r.n_train)} images, {int(r.input_size)} px)",
             f"  peak extra memory:    {r.peak_memory_mb:>10.0f} MB"]
    matches = [s for s, kk in (k_of or {}).items() if kk == k]
    if summary is not None and matches:
        for s in matches:
            part = summary[summary["strategy"] == s]
            for dataset, g in part.groupby("dataset", sort=False):
                cells = ", ".join(f"{sz}: {100 * m:.0f}±{100 * sd:.0f}%" for sz, m, sd in
                                  zip(g["size"], g["mean"], g["std"]))
                lines.append(f"  sweep accuracy, {label(s, k if s == 'last_k' else None)} on {dataset}: {cells}")
    else:
        lines.append("  (no sweep run at this depth: see the strategies that did in the plot above)")
    print("\n".join(lines))
    return r
