"""Negative transfer, measured: what a source network from a poorly matched domain gives a target task.

Course texts warn first of negative transfer: knowledge from a source that does not match the target can *hurt*.
The study here makes a poorly matched source on purpose (the ImageNet network fine-tuned, every layer, on chest
X-rays) and compares three sources of frozen features for the same target (natural photos), each read by the same
linear probe on the same cross-validation folds:

- ``ImageNet``: the well-matched source (photos to photos);
- ``X-ray-adapted``: the same network after fine-tuning on X-rays, the poorly matched source;
- ``random init``: the same architecture with random weights, i.e. no transfer at all.

Two verdicts follow (``claims``, design 'splits'): does the mismatched source lose to the matched one
(``source_match``), and does it fall below no transfer at all (``negative_transfer``, the strict definition)?
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import claims, data, features, models, train

IMAGENET, ADAPTED, RANDOM = "ImageNet", "X-ray-adapted", "random init"
COLORS = {IMAGENET: "#4C72B0", ADAPTED: "#C44E52", RANDOM: "#999999"}


@dataclass
class SourceStudy:
    """Per-fold probe accuracy on the target for each source, and how the mismatched source was made."""

    target: str
    folds: dict[str, list[float]]
    n_eval: int
    n_train: int
    adaptation: dict                      # source data, images, epochs, its own validation accuracy, seconds
    majority: float
    seconds: dict[str, float] = field(default_factory=dict)

    def means(self) -> dict[str, float]:
        return {name: float(np.mean(acc)) for name, acc in self.folds.items()}


def source_split(table: data.ImageTable, val_fraction: float = 0.2, seed: int = 0):
    """Train/val of the source data: grouped (by patient) when the table has groups, else stratified."""
    if table.groups is not None:
        return data.group_split(table, val_fraction, seed)
    return data.stratified_split(table, val_fraction, seed)


def adapt_to_source(model_name: str, source: str, task: str | None = None, input_size: int = 112, epochs: int = 3,
                    lr: float = 1e-2, per_class: int | None = None, seed: int = 0) -> tuple[nn.Module, dict]:
    """The ImageNet network fine-tuned, every layer, on the `source` data set: a source far from the target.

    A high backbone learning rate (`lr`, the head 10x) moves the features towards the source task, as a network
    published for X-rays would be: at 1e-2 for two epochs on 818 X-rays (112 px) the hymenoptera probe on its
    features fell from 0.90 (ImageNet) to 0.57, the level of random weights; at 1e-3 for one epoch on 96 X-rays it
    did not move. `per_class` subsamples the source's training images. The run is checkpointed in the cache, so a second run of the lab reads it back.
    Returns the network (its head still for the source classes; the study reads pooled features) and a record."""
    table = data.load_dataset(source, task=task)
    tr, va = source_split(table, 0.2, seed)
    if per_class is not None:                      # fewer source images: a cheaper, still thorough, adaptation
        tr = data.subsample_per_class(tr, per_class, seed)
        va = data.subsample_per_class(va, max(2, per_class // 4), seed)
    model = models.load_model(model_name)
    torch.manual_seed(seed)
    models.replace_head(model, len(table.classes))
    transform = data.eval_transform(model, input_size=input_size)
    start = time.perf_counter()
    result = train.fine_tune(model, data.TensorImages(tr, transform, flip=True), data.TensorImages(va, transform),
                             epochs=epochs, unfreeze_stages="all", lr_head=10 * lr, lr_backbone=lr, checkpoint=True,
                             seed=seed, progress=False)
    record = {"source": source, "task": table.task, "n_train": len(tr), "n_val": len(va), "epochs": epochs,
              "lr_backbone": lr, "input_size": input_size, "val_accuracy": float(result.metrics.accuracy),
              "seconds": round(time.perf_counter() - start, 1), "resumed": result.resumed_from is not None}
    return model.eval(), record


def random_source(model_name: str, seed: int = 0) -> nn.Module:
    """The same architecture with random weights: what 'no transfer' gives a probe."""
    torch.manual_seed(seed)
    return models.load_model(model_name, pretrained=False)


def target_features(sources: dict[str, nn.Module], table: data.ImageTable, input_size: int) -> dict[str, np.ndarray]:
    """Pooled features of every source network for the target images (cached by the weights' content)."""
    out = {}
    for name, net in sources.items():
        transform = data.FastTransform(data.eval_transform(net, input_size=input_size))
        out[name] = features.extract_features(net, table, transform=transform, progress=False).X
    return out


def source_study(model_name: str = "tf_efficientnet_lite0", source: str = "chest_xray_more",
                 source_task: str | None = "normal_vs_pneumonia", target: str = "hymenoptera", input_size: int = 112,
                 epochs: int = 3, lr: float = 1e-2, per_class: int | None = None, n_splits: int = 5,
                 repeats: int = 2, seed: int = 0) -> SourceStudy:
    """Make the mismatched source, then probe the target with each source's frozen features on paired folds."""
    t0 = time.perf_counter()
    adapted, record = adapt_to_source(model_name, source, source_task, input_size, epochs, lr, per_class, seed)
    t1 = time.perf_counter()
    table = data.load_dataset(target)
    sources = {IMAGENET: models.load_model(model_name), ADAPTED: adapted, RANDOM: random_source(model_name, seed)}
    feats = target_features(sources, table, input_size)
    folds = train.cross_validate_feature_sets(feats, table.labels, table.groups, n_splits, repeats, seed)
    n_eval = round(len(table) / n_splits)
    majority = float(np.bincount(table.labels).max() / len(table))
    return SourceStudy(target, folds, n_eval, len(table) - n_eval, record, majority,
                       {"adapt": round(t1 - t0, 1), "probe": round(time.perf_counter() - t1, 1)})


def record_source_study(ledger, study: SourceStudy, profile: str = "") -> dict[str, dict]:
    """Both verdicts into the lab's ledger: ImageNet vs the mismatched source, and the mismatched source vs none."""
    settings = dict(design="splits", n_eval=study.n_eval, n_train=study.n_train, dataset=study.target,
                    profile=profile, unit="accuracy",
                    note=f"source adapted on {study.adaptation['source']} ({study.adaptation['n_train']} images, "
                         f"{study.adaptation['epochs']} epochs, all layers); target probe {len(study.folds[IMAGENET])} "
                         "paired folds")
    match = claims.record(ledger, "source_match", a=study.folds[IMAGENET], b=study.folds[ADAPTED], **settings)
    negative = claims.record(ledger, "negative_transfer", a=study.folds[RANDOM], b=study.folds[ADAPTED], **settings)
    return {"source_match": match, "negative_transfer": negative}


def plot_source_study(study: SourceStudy, ax=None):
    """Target probe accuracy by source (mean and every fold), the majority class dashed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 2.6))
    names = [IMAGENET, ADAPTED, RANDOM]
    for i, name in enumerate(names):
        acc = study.folds[name]
        ax.scatter(acc, np.full(len(acc), i) + np.linspace(-0.15, 0.15, len(acc)), s=12, color=COLORS[name], alpha=0.6)
        ax.plot([np.mean(acc)] * 2, [i - 0.3, i + 0.3], color=COLORS[name], lw=3)
    ax.axvline(study.majority, ls="--", color="grey", label="majority class")
    ax.set_yticks(range(len(names)), [f"{n} source" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(f"linear-probe accuracy on {study.target} (every fold; bar = mean)")
    ax.set_title(f"Negative transfer: frozen features from three sources, one target ({study.target})", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return ax
