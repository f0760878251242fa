"""Lab 02's bookkeeping around the strategy study, one call each, so the lab's cells show what is measured.

- :func:`dataset_facts` and :func:`task_line`: what each prepared data set holds, for the results and the printout;
- :func:`cost_ratios` and :func:`cost_line`: full fine-tuning against training the head alone;
- :func:`accuracy_table`: a sweep summary as "mean ± std" per data set, strategy and size;
- :func:`more_data_facts` and :func:`pick_line`: the inner-split choice of section 3b;
- :func:`lr_summary`, :func:`probe_at`, :func:`plot_learning_rate` and :func:`lr_facts`: the learning-rate runs;
- :func:`lp_ft_facts` and :func:`lp_ft_line`: LP-FT against fine-tuning from a random head, paired runs;
- :func:`capacity_table` and :func:`gap_line`: networks of three sizes, their train/validation gap.
Used in: 02.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .sweep import mean_std, paired
from .task import Task


def dataset_facts(tasks: Mapping[str, Task], closeness: Mapping[str, str]) -> dict:
    """Per data set: closeness to ImageNet, input size, train/val images, classes, majority fraction, largest class."""
    return {t.name: {"closeness": closeness[t.name], "input_size": t.input_size, "n_train": len(t.train),
                     "n_val": len(t.val), "num_classes": t.num_classes, "majority": t.majority,
                     "max_per_class": t.max_per_class} for t in tasks.values()}


def task_line(t: Task, closeness: str) -> str:
    """One prepared data set in one printed line: images, classes, size, where its features came from."""
    return (f"{t.name:<12} {closeness:<5} {len(t.train)} train / {len(t.val)} val images, {t.num_classes} classes, "
            f"{t.input_size} px; features {'from cache' if t.seconds['features_from_cache'] else 'computed'} in "
            f"{t.seconds['features']:.1f} s, majority class {t.majority:.1%}")


def _head_and_full(costs: pd.DataFrame):
    by = {r.strategy if r.strategy in ("probe", "full_ft") else f"k={r.k}": r for r in costs.itertuples()}
    return by["k=0"], by["full_ft"]


def cost_ratios(costs: pd.DataFrame) -> dict:
    """Full fine-tuning against the head alone (k = 0): trainable parameters, seconds per epoch, peak memory."""
    head_only, full = _head_and_full(costs)
    return {"param_ratio_full_vs_head": full.trainable_params / head_only.trainable_params,
            "epoch_ratio_full_vs_head": full.seconds_per_epoch / head_only.seconds_per_epoch,
            "memory_ratio_full_vs_head": full.peak_memory_mb / max(head_only.peak_memory_mb, 1.0)}


def cost_line(costs: pd.DataFrame) -> str:
    """:func:`cost_ratios` as one printed sentence."""
    head_only, full = _head_and_full(costs)
    r = cost_ratios(costs)
    return (f"full fine-tuning trains {r['param_ratio_full_vs_head']:,.0f}x the parameters of the head alone, "
            f"its epoch takes {r['epoch_ratio_full_vs_head']:.1f}x as long, and it needs "
            f"{full.peak_memory_mb:.0f} MB of extra memory against {head_only.peak_memory_mb:.0f} MB")


def accuracy_table(summary: pd.DataFrame, columns: str = "size", sizes: Sequence | None = None) -> pd.DataFrame:
    """"mean ± std" accuracy (in points) per data set and strategy (rows) and size (`columns`: "size" or
    "n_per_class"); `sizes` orders and filters the "size" columns (those the summary holds)."""
    table = summary.assign(acc=[f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(summary["mean"], summary["std"])])
    wide = table.pivot_table(index=["dataset", "strategy"], columns=columns, values="acc", aggfunc="first")
    if sizes is not None:
        wide = wide[[str(s) for s in sizes if str(s) in set(table[columns])]]
    return wide


def more_data_facts(picks: Mapping[str, dict], tasks: Mapping[str, tuple[Task, int]],
                    candidates: Sequence[str]) -> dict:
    """Per data set, what ``choose_on_inner_split`` returned (without its rows), the candidates, epochs and images.
    `tasks` maps a name to (task, epochs)."""
    out = {}
    for name, pick in picks.items():
        t, e = tasks[name]
        out[name] = {**{k: v for k, v in pick.items() if k != "rows"}, "candidates": candidates,
                     "epochs": e, "n_train": len(t.train), "n_val": len(t.val),
                     "per_class": len(t.train) / t.num_classes}
    return out


def pick_line(name: str, t: Task, pick: Mapping) -> str:
    """One inner-split choice in one printed line: images, each candidate's inner score, the winner."""
    return (f"{name:<21} {len(t.train) / t.num_classes:.0f} per class; inner split {pick['n_inner_train']} train / "
            f"{pick['n_inner_val']} inner-val images: " + ", ".join(f"{s} {a:.1%}" for s, a in pick["scores"].items())
            + f" -> {pick['winner']}")


def lr_summary(lr_rows: pd.DataFrame) -> pd.DataFrame:
    """Per backbone learning rate: mean and std of the accuracy, mean weight change, seeds."""
    return lr_rows.groupby("lr").agg(accuracy=("accuracy", "mean"), std=("accuracy", "std"),
                                     weight_change=("weight_change", "mean"), seeds=("seed", "nunique"))


def probe_at(summary: pd.DataFrame, dataset: str, size) -> float:
    """The probe's mean accuracy on `dataset` at `size` per class (``"all"`` for every image)."""
    sel = summary[(summary.dataset == dataset) & (summary.strategy == "probe") & (summary["size"] == str(size))]
    return sel["mean"].iloc[0]


def plot_learning_rate(lr_sum: pd.DataFrame, probe_ref: float, majority: float, title: str = ""):
    """Full fine-tuning's accuracy against the backbone's learning rate (log scale), the probe and the majority
    class as horizontal lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.errorbar(lr_sum.index, 100 * lr_sum["accuracy"], yerr=100 * lr_sum["std"].fillna(0), marker="o", capsize=3,
                label="full fine-tuning")
    ax.axhline(100 * probe_ref, ls="--", color="#4C72B0", label="linear probe, frozen backbone")
    ax.axhline(100 * majority, ls=":", color="grey", label="majority class")
    ax.set_xscale("log")
    ax.set_xlabel("backbone learning rate (AdamW; head at 1e-2)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lr_facts(lr_rows: pd.DataFrame, dataset: str, size, lr_head: float, probe_ref: float) -> dict:
    """The learning-rate runs for the results: per rate the accuracy (mean, std, n, values by seed) and the weight
    change, the probe's accuracy beside them and how many runs came from the sweep."""
    return {"dataset": dataset, "size": str(size), "lr_head": lr_head, "probe_accuracy": probe_ref,
            "reused_from_sweep": int(lr_rows["reused"].sum()),
            "by_lr": {f"{lr:g}": {**mean_std(g.sort_values("seed")["accuracy"]),
                                  "weight_change": mean_std(g["weight_change"]),
                                  "values": g.sort_values("seed")["accuracy"].tolist()}
                      for lr, g in lr_rows.groupby("lr")}}


def lp_ft_facts(sweep: pd.DataFrame, datasets: Sequence[str], sizes: Sequence[str]) -> dict:
    """LP-FT against full fine-tuning from a random head, paired by size and seed: per data set the mean
    difference, wins, ties and pairs; the mean weight change of both per data set."""
    by_dataset = {}
    for name in datasets:
        a, b = paired(sweep, name, "lp_ft", "full_ft", sizes)
        diff = np.subtract(a, b)
        by_dataset[name] = {"lp_ft_minus_full_ft": mean_std(diff), "wins": int((diff > 0).sum()),
                            "ties": int((diff == 0).sum()), "pairs": int(len(diff))}
    moved = sweep[sweep.strategy.isin(["full_ft", "lp_ft"]) & sweep["size"].isin(sizes)]
    return {"sizes": list(sizes), "by_dataset": by_dataset,
            "weight_change": moved.groupby(["dataset", "strategy"])["weight_change"].mean().unstack().to_dict()}


def lp_ft_line(name: str, r: Mapping) -> str:
    """One data set of :func:`lp_ft_facts` in one printed line."""
    return (f"{name:<12} LP-FT - fine-tuning from a random head: {100 * r['lp_ft_minus_full_ft']['mean']:+.1f} points "
            f"on average, LP-FT ahead in {r['wins']} of {r['pairs']} paired runs")


def capacity_table(cap: Mapping[str, dict]) -> pd.DataFrame:
    """``gap_summary``'s networks as a table: parameters (M), mean train and val accuracy, the gap and its std."""
    return pd.DataFrame({n: {"parameters (M)": v["params"] / 1e6, "train": v["train"]["mean"], "val": v["val"]["mean"],
                             "gap": v["gap"]["mean"], "gap std": v["gap"]["std"]} for n, v in cap.items()}).T


def gap_line(name: str, v: Mapping) -> str:
    """One network of ``gap_summary`` in one printed line."""
    return (f"{name} ({v['params'] / 1e6:.1f} M parameters): {v['train']['mean']:.1%} on its training images, "
            f"{v['val']['mean']:.1%} on validation, a gap of {100 * v['gap']['mean']:+.1f} points "
            f"(± {100 * v['gap']['std']:.1f})")


__all__ = ["accuracy_table", "capacity_table", "cost_line", "cost_ratios", "dataset_facts", "gap_line", "lp_ft_facts",
           "lp_ft_line", "lr_facts", "lr_summary", "more_data_facts", "pick_line", "plot_learning_rate", "probe_at",
           "task_line"]
