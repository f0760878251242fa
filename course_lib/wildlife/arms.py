"""Pretrained against scratch on equal terms: the trained arms, their comparison over event splits, the floor."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .. import data, env, models, train
from ..errors import CourseLibError
from .splits import event_split


# --------------------------------------------------------------------------- trained arms, on equal terms
TRAINED_ARMS = ("fine-tune", "scratch")


def optimizer_steps(n_train: int, epochs: int, batch_size: int = 32) -> int:
    """Optimiser steps ``train.fine_tune`` takes on `n_train` images: epochs x batches per epoch (it drops a last
    batch of one image, which train-mode BatchNorm cannot normalise)."""
    per_epoch = n_train // batch_size + (1 if n_train % batch_size > 1 else 0)
    return int(epochs) * max(1, per_epoch)


def majority_accuracy(train_table: data.ImageTable, val_table: data.ImageTable) -> float:
    """Val accuracy of always answering the most common training class: the floor any model must beat."""
    return float(np.mean(val_table.labels == np.bincount(train_table.labels).argmax()))


def train_arm(kind: str, model_name: str, train_table: data.ImageTable, val_table: data.ImageTable, input_size: int,
              *, epochs: int, seed: int = 0, batch_size: int = 32, unfreeze_stages: int = 2, lr_head: float = 3e-3,
              lr_backbone: float = 3e-4, lr_scratch: float = 1e-3, checkpoint: bool = True) -> dict:
    """Train one arm of the pretrained-vs-scratch comparison on one split and score it on the val frames.

    ``"fine-tune"``: the ImageNet network with a new head (at `lr_head`) and its last `unfreeze_stages` stages
    (at `lr_backbone`) trained. ``"scratch"``: the same architecture from random weights, every layer at
    `lr_scratch` (``train.train_from_scratch``). Both arms are trained on equal terms: the same images, the same
    augmentation, `epochs` x the same batches (so the same optimiser steps, :func:`optimizer_steps`) with the same
    cosine schedule, and the same BatchNorm treatment: before scoring, every *trainable* BatchNorm layer gets its
    running statistics re-estimated on the training images (``strategies.recalibrate_batchnorm``). The frozen
    stages of the pretrained network keep the ImageNet statistics that belong to their frozen weights.

    Why the treatment matters: after a few dozen steps the running statistics of a network trained from random
    weights still lag far behind its weights, and in eval mode it scores near chance whatever it learned. Both
    scores are returned: ``accuracy`` (recalibrated, the one to compare) and ``accuracy_stale_bn`` (with the
    running statistics training left, as ``train.fine_tune`` reports it). Also ``proba`` (val probabilities,
    recalibrated), ``steps``, ``model``, ``result`` (the TrainResult) and ``seconds``.
    """
    import time

    from .. import strategies

    if kind not in TRAINED_ARMS:
        raise CourseLibError(f"unknown arm {kind!r}; choose one of {list(TRAINED_ARMS)}.")
    n_classes = len(train_table.classes)
    start = time.perf_counter()
    env.seed_everything(seed)  # the new head's initial weights: the same for a seed, whatever ran before
    reference = models.load_model(model_name, pretrained=True, num_classes=n_classes) if kind == "fine-tune" else None
    cfg_model = reference if reference is not None else models.load_model(model_name, pretrained=False)
    train_ds = data.ImageDataset(train_table, data.train_transform(cfg_model, input_size))
    val_ds = data.ImageDataset(val_table, data.eval_transform(cfg_model, input_size))
    common = dict(epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=False,
                  classes=list(train_table.classes))
    if kind == "fine-tune":
        model = reference
        result = train.fine_tune(model, train_ds, val_ds, unfreeze_stages=unfreeze_stages, lr_head=lr_head,
                                 lr_backbone=lr_backbone, **common)
    else:
        model, result = train.train_from_scratch(model_name, train_ds, val_ds, n_classes, lr=lr_scratch, **common)
    stale = result.metrics.accuracy
    strategies.recalibrate_batchnorm(model, data.ImageDataset(train_table, data.eval_transform(cfg_model, input_size)),
                                     batch_size=batch_size)
    model.eval()
    y, pred, proba = train.predict(model, val_ds)
    return {"kind": kind, "model": model, "proba": proba, "accuracy": float((pred == y).mean()),
            "accuracy_stale_bn": float(stale), "steps": optimizer_steps(len(train_table), epochs, batch_size),
            "epochs": int(epochs), "batch_size": int(batch_size), "result": result,
            "seconds": time.perf_counter() - start}


def compare_on_splits(table: data.ImageTable, X: np.ndarray, model_name: str, input_size: int, seeds: Iterable[int],
                      *, epochs: int, val_fraction: float = 0.25, gap_minutes: float = 5.0, first: dict | None = None,
                      **arm_kwargs) -> pd.DataFrame:
    """Pretrained probe, pretrained fine-tune and scratch on several event splits of `table` (one per seed, by
    :func:`event_split`), with the majority-class floor: one row per split. `X` holds the pooled ImageNet features
    of every image of `table`, in its order. Both trained arms come from :func:`train_arm` (same steps, same
    BatchNorm treatment). `first` may hold an already measured row for the first seed (the lab's main split), so
    that split is not trained twice."""
    import warnings

    row_of = {str(p): i for i, p in enumerate(table.paths)}
    rows = []
    for i, s in enumerate(seeds):
        if i == 0 and first is not None:
            rows.append(dict(first))
            continue
        tr, va = event_split(table, val_fraction=val_fraction, seed=s, gap_minutes=gap_minutes)
        Xt, Xv = X[[row_of[str(p)] for p in tr.paths]], X[[row_of[str(p)] for p in va.paths]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            probe = train.fit_linear_probe(Xt, tr.labels, Xv, va.labels, classes=table.classes, seed=s)
        arms = {k: train_arm(k, model_name, tr, va, input_size, epochs=epochs, seed=s, **arm_kwargs)
                for k in TRAINED_ARMS}
        rows.append(split_row(s, tr, va, probe.metrics.accuracy, arms))
    return pd.DataFrame(rows)


def split_row(seed: int, train_table: data.ImageTable, val_table: data.ImageTable, probe_accuracy: float,
              arms: dict) -> dict:
    """One row of :func:`compare_on_splits`: sizes, steps, the accuracy of every arm (scratch also with the stale
    BatchNorm statistics, to show what recalibrating changed) and the majority-class floor."""
    ft, sc = arms["fine-tune"], arms["scratch"]
    return {"seed": int(seed), "n_train": len(train_table), "n_val": len(val_table), "steps": sc["steps"],
            "pretrained probe": float(probe_accuracy), "pretrained fine-tune": ft["accuracy"], "scratch": sc["accuracy"],
            "fine-tune, stale BN": ft["accuracy_stale_bn"], "scratch, stale BN": sc["accuracy_stale_bn"],
            "majority": majority_accuracy(train_table, val_table), "steps_fine_tune": ft["steps"]}

