"""Do bigger networks overfit more on small data? The same fine-tuning, on the same images, seeds, input size and
schedule, for pretrained networks of several sizes: accuracy on the training images, on the validation images, and
the gap between them (:func:`capacity_study`), summarised per network (:func:`gap_summary`) and paired by seed for
a verdict (:func:`gap_pairs`)."""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from .. import models
from ..errors import CourseLibError
from . import run
from .names import ALL
from .task import Task


def _normalisation(model: nn.Module) -> tuple:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", ())), tuple(cfg.get("std", ()))


def task_for_model(task: Task, model: nn.Module) -> Task:
    """`task` for another pretrained network: the same training images, validation tensors, transforms and input
    size, so every network sees exactly the same pixels; only the network changes. It has no probe features
    (empty arrays): it is for fine-tuning runs. A network that expects other normalisation (mean, std) raises:
    it would need other tensors."""
    if _normalisation(model) != _normalisation(task.model):
        raise CourseLibError(f"{getattr(model, 'course_name', type(model).__name__)} normalises its input with "
                             f"{_normalisation(model)}, the task's network with {_normalisation(task.model)}: "
                             "prepare a task for it (strategies.prepare_task) instead.")
    name = getattr(model, "course_name", type(model).__name__)
    return dataclasses.replace(task, model=model, model_name=name, train_X=np.zeros((len(task.train), 0), np.float32),
                               val_X=np.zeros((len(task.val), 0), np.float32), seconds={})


def capacity_study(tasks: Mapping[str, Task], n_per_class: int | str | None, seeds: Sequence[int], epochs: int = 3,
                   strategy: str = "full_ft", **run_kwargs) -> pd.DataFrame:
    """One row per network (the keys of `tasks`, smallest first) and seed: `strategy` trained on `n_per_class`
    images per class (None or "all": every training image) with the same settings for every network, scored on the
    validation set (``accuracy``) and on its own training images without augmentation (``train_accuracy``);
    ``gap`` = train_accuracy - accuracy; ``params``: the pretrained network's parameters. A seed picks the same
    images for every network (checked: tasks with other training images raise)."""
    n = None if n_per_class in (None, ALL) else int(n_per_class)
    first = next(iter(tasks.values()))
    for label, task in tasks.items():
        if [str(p) for p in task.train.paths] != [str(p) for p in first.train.paths] or task.val_set is not first.val_set:
            raise CourseLibError(f"{label!r} has other training or validation images than the first task: compare "
                                 "networks on one task (strategies.task_for_model).")
    rows = []
    for seed in seeds:
        for label, task in tasks.items():
            row = run.run_strategy(strategy, task, n, seed, epochs, score_train=True, **run_kwargs)
            rows.append({**row, "network": label, "params": models.count_parameters(task.model),
                         "gap": row["train_accuracy"] - row["accuracy"]})
    return pd.DataFrame(rows)


def gap_summary(rows: pd.DataFrame) -> dict:
    """{network: {"params", "n_train", "train", "val", "gap"}} in the rows' order of networks; each of the last three
    is ``{"mean", "std", "n", "values"}`` over seeds (sorted by seed), the shape of the results JSON."""
    out = {}
    for label, g in rows.groupby("network", sort=False):
        g = g.sort_values("seed")
        out[label] = {"params": int(g["params"].iloc[0]), "n_train": int(g["n_train"].iloc[0]),
                      "seeds": [int(s) for s in g["seed"]]}
        for key, column in (("train", "train_accuracy"), ("val", "accuracy"), ("gap", "gap")):
            v = g[column].astype(float)
            out[label][key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                               "n": int(len(v)), "values": v.tolist()}
    return out


def gap_pairs(rows: pd.DataFrame, big: str, small: str) -> dict:
    """The gaps of networks `big` and `small` paired by seed, ready for ``claims.record(..., design="seeds",
    **pairs)``: ``a`` = big's gaps, ``b`` = small's, ``n_eval`` the validation images, and each run's per-image
    validation results as ``correct_a`` / ``correct_b``.

    Why those per-image results: gap_big - gap_small = (train_big - train_small) - (val_big - val_small). Each seed
    draws other training images, so the training part's sampling noise is in the seed-to-seed spread; every seed
    shares one validation set, whose own sampling variance is the variance over images of val_big - val_small,
    which is what the verdict computes from these lists (the sign of that part does not change its variance)."""
    left, right = (rows[rows["network"] == x].set_index("seed").sort_index() for x in (big, small))
    if left.empty or right.empty:
        raise CourseLibError(f"no runs of {big if left.empty else small!r}; networks run: "
                             f"{sorted(set(rows['network']))}.")
    seeds = sorted(left.index.intersection(right.index))
    n_eval = {len(c) for c in [*left.loc[seeds, "correct"], *right.loc[seeds, "correct"]]}
    if len(n_eval) != 1:
        raise CourseLibError(f"the runs of {big!r} and {small!r} were scored on different numbers of validation "
                             f"images ({sorted(n_eval)}).")
    return {"a": [float(left.loc[s, "gap"]) for s in seeds], "b": [float(right.loc[s, "gap"]) for s in seeds],
            "correct_a": [list(map(int, left.loc[s, "correct"])) for s in seeds],
            "correct_b": [list(map(int, right.loc[s, "correct"])) for s in seeds], "n_eval": n_eval.pop()}


def plot_capacity(rows: pd.DataFrame, title: str = ""):
    """Train and validation accuracy (mean over seeds, one standard deviation as error bars) against the networks'
    parameters; the gap between the two curves is the overfitting."""
    import matplotlib.pyplot as plt

    s = gap_summary(rows)
    x = np.array([v["params"] / 1e6 for v in s.values()])
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    for key, name, colour in (("train", "training images (no augmentation)", "#C44E52"),
                              ("val", "validation images", "#4C72B0")):
        m = np.array([100 * v[key]["mean"] for v in s.values()])
        sd = np.array([100 * v[key]["std"] for v in s.values()])
        ax.errorbar(x, m, yerr=sd, marker="o", capsize=3, color=colour, label=name)
    for xi, (label, v) in zip(x, s.items()):
        ax.annotate(f"{label}\ngap {100 * v['gap']['mean']:+.1f}", (xi, 100 * v["val"]["mean"]),
                    textcoords="offset points", xytext=(0, -28), ha="center", fontsize=8)
    ax.set_xlabel("parameters of the pretrained network (millions)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "accuracy by network size, full fine-tuning")
    ax.legend(fontsize=8)
    ax.margins(x=0.15, y=0.25)
    fig.tight_layout()
    return fig
