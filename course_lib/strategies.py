"""Ways to adapt a pretrained network, measured on the same data and split, with what each one costs.

- ``probe``: the backbone stays frozen; a logistic regression is fit on its cached pooled features.
- ``last_k``: a new head and the last ``k`` stages train (the rest frozen).
- ``full_ft``: a new head and every stage train, the backbone at a much smaller learning rate than the head.
- ``lp_ft``: LP-FT: the head starts as the probe, then every stage trains at the small rate.
- ``scratch``: the same architecture, randomly initialised, every layer trained.

Fine-tuning keeps the pretrained BatchNorm layers frozen (:func:`freeze_batchnorm`): with batches of a few images
their statistics would drift. A :class:`Task` prepares one data set at one input size once (tables, images decoded
into memory, validation tensors, cached probe features), so a sweep over strategies, sizes and seeds decodes and
extracts only once. :func:`run_strategy` gives one row per run (with each validation image's right/wrong, for
paired verdicts: :func:`claim_pairs`); :func:`summarize`, :func:`crossing_points` and :func:`decision_table` turn
rows into curves with spread, the sizes where curves cross, and a decision table; :func:`cost_table` measures
parameters, seconds per epoch and memory per unfrozen depth. ``prepare_task(..., extra_train=...)`` adds more
training images (e.g. ``eurosat_more``) to a data set's own train split; :func:`inner_task` and
:func:`choose_on_inner_split` pick a setting on a split of the training images only, so the validation set that
gives a verdict never chose what it judges.
Used in: 02.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import bench, data, env, features, models, train
from ._atomic import atomic_write
from .errors import CourseLibError

STRATEGIES = ("probe", "last_k", "full_ft", "scratch")
LABELS = {"probe": "linear probe (frozen backbone)", "head": "head only (frozen backbone)",
          "last_k": "fine-tune last k stages", "full_ft": "full fine-tuning", "scratch": "from scratch",
          "lp_ft": "LP-FT (probe head, then full fine-tuning)"}
# Cheapest first: when strategies tie, the decision table picks the first of them in this order.
COST_ORDER = ("probe", "head", "last_k", "full_ft", "lp_ft", "scratch")
COLORS = {"probe": "#4C72B0", "head": "#64B5CD", "last_k": "#55A868", "full_ft": "#C44E52", "scratch": "#8172B2",
          "lp_ft": "#CCB974"}
ALL = "all"


def label(strategy: str, k: int | None = None) -> str:
    """Display name of a strategy key (``last_k`` names its k when given)."""
    text = LABELS.get(strategy, strategy)
    return text.replace("last k", f"last {k}") if k is not None else text


# ----------------------------------------------------------------------------- fast, exact input pipeline
class ArrayTransform:
    """A torchvision/timm transform whose to-tensor and normalise steps run in NumPy; the PIL steps are kept.

    Same numbers as the original (to float32 rounding), but on a busy 2-core machine torch's own ``ToTensor`` and
    ``Normalize`` wake its intra-op thread pool for every image: measured 5-24 ms per 128-px image against
    0.03 ms in NumPy, which made data preparation slower than the training step it feeds.
    """

    def __init__(self, transform):
        steps = list(getattr(transform, "transforms", [transform]))
        names = [type(t).__name__ for t in steps]
        if "ToTensor" in names or "MaybeToTensor" in names:
            i = names.index("MaybeToTensor" if "MaybeToTensor" in names else "ToTensor")
        else:
            raise CourseLibError(f"ArrayTransform needs a transform ending in ToTensor + Normalize, got {names}.")
        rest = steps[i + 1:]
        norm = rest.pop(0) if rest and names[i + 1] == "Normalize" else None
        if rest:
            raise CourseLibError(f"ArrayTransform cannot reproduce steps after Normalize: {names[i + 2:]}.")
        self.pil_steps = steps[:i]
        mean = norm.mean.tolist() if norm is not None and hasattr(norm.mean, "tolist") else (norm.mean if norm else 0.0)
        std = norm.std.tolist() if norm is not None and hasattr(norm.std, "tolist") else (norm.std if norm else 1.0)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 1, -1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 1, -1)

    def __call__(self, image) -> torch.Tensor:
        for step in self.pil_steps:
            image = step(image)
        a = np.asarray(image, dtype=np.float32)
        if a.ndim == 2:
            a = a[:, :, None]
        a = (a / np.float32(255.0) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        steps = ", ".join(repr(s).replace("\n", "") for s in self.pil_steps)
        return f"ArrayTransform([{steps}], mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


def _shrink(image, short_side: int):
    """A copy whose shorter side is at most `short_side` (never enlarged): augmentation then works on small images."""
    from PIL import Image

    w, h = image.size
    if min(w, h) <= short_side:
        return image
    scale = short_side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


class ImagesInMemory(torch.utils.data.Dataset):
    """(tensor, label) for the rows of `table`, from its images decoded once and kept in memory, through `transform`
    (e.g. random augmentation). ``table`` names the files, so ``train.fine_tune`` identifies the data by it."""

    def __init__(self, table: data.ImageTable, images: Sequence, transform):
        if len(images) != len(table):
            raise CourseLibError(f"{len(images)} images for a table of {len(table)} rows.")
        self.table, self.images, self.transform, self.classes = table, list(images), transform, list(table.classes)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), int(self.table.labels[i])


class TensorSet(torch.utils.data.Dataset):
    """Pre-computed input tensors (validation images through the deterministic eval transform) and labels."""

    def __init__(self, X: torch.Tensor, y: np.ndarray, classes: Sequence[str]):
        self.X, self.y, self.classes = X, torch.as_tensor(np.asarray(y), dtype=torch.long), list(classes)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.X[i], self.y[i]


def use_fastest_threads(model: nn.Module, input_size: int = 112, batch_size: int = 8, repeats: int = 1) -> dict:
    """One core or all of them, whichever runs `model` faster here (see :func:`course_lib.bench.fastest_threads`)."""
    return bench.fastest_threads(model, input_size, batch_size, steps=repeats)


# ----------------------------------------------------------------------------- one task, prepared once
@dataclass
class Task:
    """One data set at one input size, prepared once for many runs.

    ``model`` is the pretrained network (runs train deep copies of it, never it); ``train_X``/``val_X`` are its
    cached pooled features; ``images`` the training images decoded and shrunk; ``val_set`` the validation tensors.
    """

    name: str
    model_name: str
    input_size: int
    model: nn.Module
    train: data.ImageTable
    val: data.ImageTable
    train_transform: ArrayTransform
    eval_transform: ArrayTransform
    images: list
    val_set: TensorSet
    train_X: np.ndarray
    val_X: np.ndarray
    seconds: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.val.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def max_per_class(self) -> int:
        """The largest n for which every class has n training images."""
        return int(self.train.class_counts().min())

    @property
    def majority(self) -> float:
        """Validation accuracy of always answering the most frequent class: the floor every strategy must beat."""
        return float(np.bincount(self.val.labels, minlength=self.num_classes).max() / len(self.val))

    def subset(self, n_per_class: int | None, seed: int = 0) -> np.ndarray:
        """Row indices of `n_per_class` random training images per class (``data.subsample_per_class``); None: all."""
        if n_per_class is None or n_per_class == ALL:
            return np.arange(len(self.train))
        sub = data.subsample_per_class(self.train, int(n_per_class), seed=seed)
        where = {str(p): i for i, p in enumerate(self.train.paths)}
        return np.array([where[str(p)] for p in sub.paths], dtype=np.int64)

    def train_set(self, indices: np.ndarray, transform=None) -> ImagesInMemory:
        """The training images at `indices`, augmented by the train transform (or `transform`)."""
        return ImagesInMemory(self.train.subset(indices), [self.images[i] for i in indices],
                              transform or self.train_transform)

    def fresh_model(self) -> nn.Module:
        """A copy of the pretrained network with a new, randomly initialised head for this task's classes."""
        return models.replace_head(copy.deepcopy(self.model), self.num_classes)


def concat_tables(first: data.ImageTable, second: data.ImageTable) -> data.ImageTable:
    """The rows of `first`, then those of `second` (the same classes, in the same order), as one table named
    ``"first+second"``. A file in both raises: the tables must be disjoint."""
    if list(first.classes) != list(second.classes):
        raise CourseLibError(f"cannot join {first.name!r} and {second.name!r}: their classes differ "
                             f"({first.classes} vs {second.classes}).")
    shared = {str(p) for p in first.paths} & {str(p) for p in second.paths}
    if shared:
        raise CourseLibError(f"{len(shared)} file(s) are in both {first.name!r} and {second.name!r}, e.g. "
                             f"{sorted(shared)[:2]}: join disjoint tables only.")

    def both(x, y):
        return None if x is None or y is None else np.concatenate([np.asarray(x, dtype=object),
                                                                   np.asarray(y, dtype=object)])

    return data.ImageTable(f"{first.name}+{second.name}", first.task, [*first.paths, *second.paths],
                           np.concatenate([first.labels, second.labels]).astype(np.int64), list(first.classes),
                           both(first.groups, second.groups), both(first.split, second.split),
                           pd.concat([first.frame, second.frame], ignore_index=True))


def prepare_task(model: nn.Module, dataset: str, input_size: int, task: str | None = None,
                 shrink: float = 1.25, extra_train: Sequence[str] = ()) -> Task:
    """Load `dataset`'s own train/val split, decode its images once, and cache the model's pooled features.

    Features go through ``features.extract_features`` (cached on disk, so a second run reads them back); the
    training images are kept in memory with their shorter side at most ``shrink * input_size`` px.
    ``extra_train``: data sets whose images (all of them: e.g. ``eurosat_more``, which has no split of its own) join
    the training side; the validation set stays `dataset`'s own, and the task is named ``"eurosat+eurosat_more"``.
    An extra image whose file name is also in `dataset` raises, and so does a file or group on both sides of the
    split (``data.assert_no_leak``).
    """
    t0 = time.perf_counter()
    train_table = data.load_dataset(dataset, task=task, split="train")
    val_table = data.load_dataset(dataset, task=task, split="val")
    for extra in extra_train:
        more = data.load_dataset(extra, task=task)
        # Two folders can hold the same images (e.g. an official archive unpacked for both): compare file names too.
        same = {p.name for p in more.paths} & {p.name for p in [*train_table.paths, *val_table.paths]}
        if same:
            raise CourseLibError(f"{len(same)} file name(s) of {extra!r} are also in {dataset!r}, e.g. "
                                 f"{sorted(same)[:2]}: the extra images must be disjoint from the data set's own.")
        train_table = concat_tables(train_table, more)
    if extra_train:
        data.assert_no_leak(train_table, val_table)
    dataset = "+".join([dataset, *extra_train])
    eval_tf = ArrayTransform(data.eval_transform(model, input_size=input_size))
    train_tf = ArrayTransform(data.train_transform(model, input_size=input_size))
    t1 = time.perf_counter()
    ftr = features.extract_features(model, train_table, transform=eval_tf, progress=False)
    fva = features.extract_features(model, val_table, transform=eval_tf, progress=False)
    t2 = time.perf_counter()
    short = int(round(shrink * input_size))
    images = [_shrink(data.open_image(p), short) for p in train_table.paths]
    val_X = torch.stack([eval_tf(data.open_image(p)) for p in val_table.paths])
    t3 = time.perf_counter()
    return Task(name=dataset, model_name=getattr(model, "course_name", type(model).__name__), input_size=input_size,
                model=model, train=train_table, val=val_table, train_transform=train_tf, eval_transform=eval_tf,
                images=images, val_set=TensorSet(val_X, val_table.labels, val_table.classes), train_X=ftr.X,
                val_X=fva.X, seconds={"load": t1 - t0, "features": t2 - t1, "features_from_cache": ftr.from_cache
                                      and fva.from_cache, "decode": t3 - t2})


def inner_task(task: Task, val_fraction: float = 0.25, seed: int = 0) -> Task:
    """The same task on its training images only: a stratified split of ``task.train`` (``data.stratified_split``)
    into an inner train part and an inner validation part, named ``"<task>.inner"``. A setting chosen by its score
    here never saw ``task.val``, so ``task.val`` can then judge it once without a selection bias."""
    t0 = time.perf_counter()
    inner_train, inner_val = data.stratified_split(task.train, val_fraction, seed=seed)
    where = {str(p): i for i, p in enumerate(task.train.paths)}
    tr = np.array([where[str(p)] for p in inner_train.paths], dtype=np.int64)
    va = np.array([where[str(p)] for p in inner_val.paths], dtype=np.int64)
    val_X = torch.stack([task.eval_transform(data.open_image(task.train.paths[i])) for i in va])
    return Task(name=f"{task.name}.inner", model_name=task.model_name, input_size=task.input_size, model=task.model,
                train=inner_train, val=inner_val, train_transform=task.train_transform,
                eval_transform=task.eval_transform, images=[task.images[i] for i in tr],
                val_set=TensorSet(val_X, inner_val.labels, inner_val.classes), train_X=task.train_X[tr],
                val_X=task.train_X[va], seconds={"decode": time.perf_counter() - t0})


def choose_on_inner_split(task: Task, candidates: Sequence[str], seeds: Sequence[int], epochs: int = 3,
                          val_fraction: float = 0.25, split_seed: int = 0, **run_kwargs) -> dict:
    """Pick one of `candidates` (strategy names) by their mean accuracy on an inner split of the training images
    (:func:`inner_task`), all of them trained on the inner train part with every seed in `seeds`. Exact ties go to
    the cheaper strategy (``COST_ORDER``). Returns ``{"winner", "scores": {strategy: mean inner accuracy},
    "n_inner_train", "n_inner_val", "rows"}``; the task's own validation set plays no part. A single candidate is
    returned as it is, with no training (``scores`` empty): it was fixed before any measurement, nothing is chosen.
    """
    if not candidates:
        raise CourseLibError("choose_on_inner_split needs at least one candidate strategy.")
    if len(candidates) == 1:
        return {"winner": candidates[0], "scores": {}, "n_inner_train": 0, "n_inner_val": 0,
                "split_seed": int(split_seed), "rows": []}
    inner = inner_task(task, val_fraction, split_seed)
    rows = [run_strategy(c, inner, None, s, epochs, **run_kwargs) for c in candidates for s in seeds]
    scores = pd.DataFrame(rows).groupby("strategy")["accuracy"].mean()
    order = [c for c in COST_ORDER if c in scores.index] + sorted(set(scores.index) - set(COST_ORDER))
    winner = next(c for c in order if scores[c] >= scores.max())
    return {"winner": winner, "scores": {c: float(scores[c]) for c in order}, "n_inner_train": len(inner.train),
            "n_inner_val": len(inner.val), "split_seed": int(split_seed), "rows": rows}


# ----------------------------------------------------------------------------- one run
def schedule_epochs(n_train: int, epochs: int, batch_size: int = 32, min_steps: int = 0) -> int:
    """`epochs`, raised so that training takes at least `min_steps` optimiser steps.

    Five images per class fill one small batch: three epochs would be three steps, too few to learn anything.
    """
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return max(int(epochs), math.ceil(min_steps / steps_per_epoch))


def optimiser_steps_per_epoch(n_train: int, batch_size: int = 32) -> int:
    """Optimiser steps in one epoch of ``train.fine_tune``: one per batch, a last batch of one image dropped."""
    full, rest = divmod(int(n_train), int(batch_size))
    return full + (1 if rest > 1 or (rest == 1 and n_train == 1) else 0)


def probe_parameters(num_features: int, num_classes: int) -> int:
    """Parameters a linear probe learns: one weight per feature and class, one bias per class (2 classes: one row)."""
    rows = 1 if num_classes == 2 else num_classes
    return rows * (num_features + 1)


def weight_change(model: nn.Module, reference: nn.Module) -> float:
    """How far the backbone moved: ||w - w0|| / ||w0|| over every backbone parameter (the head is left out)."""
    head = models.head_name(model)
    ref = dict(reference.named_parameters())
    diff = base = 0.0
    for name, p in model.named_parameters():
        if name.startswith(head + ".") or name not in ref or ref[name].shape != p.shape:
            continue
        w0 = ref[name].detach().float().cpu()
        diff += float((p.detach().float().cpu() - w0).pow(2).sum())
        base += float(w0.pow(2).sum())
    return math.sqrt(diff / base) if base > 0 else float("nan")


def head_from_probe(probe_pipeline, head: nn.Linear) -> nn.Linear:
    """Copy a fitted linear probe (LogisticRegression, optionally after a StandardScaler) into `head`, so the network
    predicts exactly as the probe does.

    A scaler folds into the weights: w·(x - mu)/sigma + b = (w/sigma)·x + (b - (w/sigma)·mu). A binary logistic
    regression has one row z; logits (-z/2, z/2) give the same softmax as its sigmoid.
    """
    steps = list(getattr(probe_pipeline, "steps", [(None, probe_pipeline)]))
    clf = steps[-1][1]
    w = np.asarray(clf.coef_, dtype=np.float64)
    b = np.asarray(clf.intercept_, dtype=np.float64)
    for _, step in steps[:-1]:
        if not (hasattr(step, "scale_") and hasattr(step, "mean_")):
            raise CourseLibError(f"cannot fold a {type(step).__name__} into a linear head; only StandardScaler.")
        w = w / np.asarray(step.scale_, dtype=np.float64)
        b = b - w @ np.asarray(step.mean_, dtype=np.float64)
    if w.shape[0] == 1:
        w, b = np.vstack([-w / 2, w / 2]), np.concatenate([-b / 2, b / 2])
    if tuple(head.weight.shape) != w.shape:
        raise CourseLibError(f"the probe has {w.shape[0]} outputs of {w.shape[1]} features but the head is "
                             f"{tuple(head.weight.shape)}: replace the head with one output per class first.")
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(w))
        if head.bias is not None:
            head.bias.copy_(torch.from_numpy(b))
    return head


def fit_probe(task: Task, indices: np.ndarray, seed: int = 0, C: float = 1.0, standardize: bool = False,
              max_iter: int = 3000) -> train.ProbeResult:
    """A linear probe on the cached features of the training rows `indices`, scored on the whole val set.

    Logistic regression (L2, `C`) on the raw pooled features. ``train.fit_linear_probe`` standardises each feature
    first (``standardize=True`` here does the same); with 5 images per class that divides by standard deviations
    estimated from 10 values and amplifies noise features: measured 72% vs 84% on hymenoptera and 64% vs 69% on
    eurosat at 5 per class, the same within 2 points with all images. BLAS runs on one thread: on a busy 2-core
    machine OpenBLAS's two threads wait for each other (a 10-class probe on 50 images: 48 s instead of 0.8 s).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    y = task.train.labels[indices]
    if len(np.unique(y)) < 2:
        raise CourseLibError("the training rows hold a single class; a probe needs at least two.")
    steps = [StandardScaler()] if standardize else []
    pipe = make_pipeline(*steps, LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        pipe.fit(task.train_X[indices], y)
        metrics = train.evaluate_predictions(task.val.labels, pipe.predict(task.val_X), task.classes)
    return train.ProbeResult(metrics, pipe, time.perf_counter() - start)


def _score(model: nn.Module, task: Task) -> tuple[train.Metrics, list[int]]:
    """Metrics of `model` on the task's whole val set, and per validation image 1 (right) or 0 (wrong)."""
    y, pred, _ = train.predict(model, task.val_set, batch_size=64)
    return train.evaluate_predictions(y, pred, task.classes), (pred == y).astype(int).tolist()


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Freeze every BatchNorm layer of a pretrained network: its scale and shift, and its running statistics
    (``train.fine_tune`` keeps frozen BatchNorm layers in eval mode).

    With batches of 10 augmented images, train-mode BatchNorm replaces the ImageNet statistics by noisy ones within
    a few steps, and the features every later layer (and a probe-initialised head) relies on shift. Measured on
    hymenoptera at 112 px, 2 seeds: LP-FT from a probe at 88% fell to 72% after 10 steps at lr 1e-4 with BatchNorm
    training, and rose to 89% with it frozen; full fine-tuning (head 1e-2, backbone 1e-4) scored 74/78/85% at
    5/20/all images per class with BatchNorm training and 81/82/89% with it frozen. Frozen BatchNorm also makes
    the backbone rate matter more: at 1e-3 the same full fine-tuning fell to 48% at 20 per class.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.requires_grad_(False)
            m.eval()
    return model


def recalibrate_batchnorm(model: nn.Module, dataset, batch_size: int = 64) -> nn.Module:
    """Re-estimate the running statistics of every trainable BatchNorm layer on `dataset` ("precise BN").

    A network trained from scratch for a few dozen steps keeps running statistics that are still close to their
    initial values (mean 0, variance 1), so in eval mode it scores near chance whatever it learned. One forward
    pass in train mode, with a cumulative average instead of momentum, gives the statistics of the data.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and any(p.requires_grad for p in m.parameters(recurse=False))]
    if not bns:
        return model
    momenta = [m.momentum for m in bns]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over every batch of the pass
        model.train()
        models.set_frozen_batchnorm_eval(model)
        with torch.no_grad():
            for x, _ in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
                model(x.to(device, memory_format=torch.channels_last))
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        model.train(was_training)
    return model


@functools.lru_cache(maxsize=1)
def _training_code_digest() -> str:
    """A hash of the kit's training code (this module, train, features, models/stages for freezing and unfreezing,
    models/core for the new head): read once per process."""
    import sys

    from ._digest import source_digest
    from .models import core as models_core, stages as models_stages

    return source_digest(train, features, models_stages, models_core, sys.modules[__name__])


def _source_digest(fn) -> str:
    """A hash of a function's source (its bytecode when the source cannot be read)."""
    import inspect

    try:
        text = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        text = getattr(getattr(fn, "__code__", None), "co_code", repr(fn).encode())
    return hashlib.sha256(text).hexdigest()[:16]


def _run_cache_path(name: str, task: Task, n_per_class, seed: int, epochs: int, settings: dict):
    """Where one finished run's row is kept: its key covers everything the run depends on (strategy, data, model
    weights (their content), transforms, settings, the training images ``data.subsample_per_class`` picks and its
    source, library versions and this kit's training code), so a changed input means a new run, never a stale
    number."""
    from ._digest import TRAINING_LIBRARIES, library_versions, weights_digest

    key = {"strategy": name, "dataset": task.name, "model": task.model_name, "input_size": task.input_size,
           "weights": getattr(task.model, "course_weights", None), "weights_digest": weights_digest(task.model),
           "subsample": [_source_digest(data.subsample_per_class), task.subset(n_per_class, seed).tolist()],
           "train": [[str(p) for p in task.train.paths], [int(y) for y in task.train.labels]],
           "val": [[str(p) for p in task.val.paths], [int(y) for y in task.val.labels]],
           "transforms": [repr(task.train_transform), repr(task.eval_transform)],
           "n_per_class": n_per_class, "seed": int(seed), "epochs": int(epochs), **settings,
           "versions": library_versions(TRAINING_LIBRARIES), "code": _training_code_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return env.cache_dir() / "runs" / f"{task.name}-{name}-{digest}.json"


def run_strategy(name: str, task: Task, n_per_class: int | None = None, seed: int = 0, epochs: int = 3, *,
                 k: int = 2, lr_head: float = 1e-2, lr_backbone: float = 1e-4, lr_scratch: float = 1e-3,
                 batch_size: int = 32, min_steps: int = 10, freeze_bn: bool = True, history: bool = False,
                 keep_model: bool = False, cache: bool = True) -> dict:
    """Train one strategy on `n_per_class` training images per class (None: all) and score it on the whole val set.

    ``probe``: logistic regression on the cached features (:func:`fit_probe`). ``head``, ``last_k``, ``full_ft``: a
    new random head (at `lr_head`) on the pretrained network, with 0, `k` or all stages unfrozen (at `lr_backbone`).
    ``lp_ft``: the head starts as the probe fit on the same images, then every layer trains at `lr_backbone` (the
    head is no longer random, so it needs no large steps). ``freeze_bn`` keeps the pretrained BatchNorm layers
    frozen (see :func:`freeze_batchnorm`). ``scratch``: random weights, everything at `lr_scratch`, BatchNorm
    statistics re-estimated on the training images before scoring (:func:`recalibrate_batchnorm`).
    Training runs ``schedule_epochs(n_train, epochs, batch_size, min_steps)`` epochs of light augmentation.

    Returns a flat row: data set, strategy, size, seed, accuracy, balanced accuracy, trainable parameters, seconds
    (the whole run), seconds per epoch, optimiser ``steps``, learning rates, how far the backbone moved
    (``weight_change``), and ``correct``: 1 or 0 per validation image, in the val set's order (for paired verdicts,
    :func:`claim_pairs`).
    ``history`` also scores after every epoch (one extra validation pass each); ``keep_model`` adds ``"model"``.
    With ``cache`` (and neither of those), a finished run's row is kept on disk (written atomically) and a later
    call with the same inputs returns it (``from_cache`` True; ``seconds`` stays the measured time): re-running a lab
    repeats no training, and an interrupted sweep resumes after its last finished run.
    """
    known = (*STRATEGIES, "head", "lp_ft")
    if name not in known:
        raise CourseLibError(f"unknown strategy {name!r}; choose one of {list(known)}.")
    cached = None
    if cache and not history and not keep_model:
        cached = _run_cache_path(name, task, n_per_class, seed, epochs,
                                 dict(k=k, lr_head=lr_head, lr_backbone=lr_backbone, lr_scratch=lr_scratch,
                                      batch_size=batch_size, min_steps=min_steps, freeze_bn=freeze_bn))
        if cached.exists():
            return {**json.loads(cached.read_text()), "from_cache": True}
    idx = task.subset(n_per_class, seed)
    size = ALL if n_per_class in (None, ALL) else int(n_per_class)
    row = {"dataset": task.name, "strategy": name, "size": str(size), "n_per_class": len(idx) / task.num_classes,
           "n_train": int(len(idx)), "seed": int(seed), "k": None, "epochs": None, "steps": None,
           "seconds_per_epoch": None, "lr_head": None, "lr_backbone": None, "weight_change": None,
           "accuracy_before": None}
    start = time.perf_counter()
    if name == "probe":
        result = fit_probe(task, idx, seed)
        metrics, trainable, hist, model = result.metrics, probe_parameters(task.train_X.shape[1], task.num_classes), [], result.model
        with env.one_blas_thread():
            correct = (model.predict(task.val_X) == task.val.labels).astype(int).tolist()
    else:
        n_epochs = schedule_epochs(len(idx), epochs, batch_size, min_steps)
        train_set, val_set = task.train_set(idx), (task.val_set if history else None)
        common = dict(epochs=n_epochs, batch_size=batch_size, progress=False)
        if name == "scratch":
            model, result = train.train_from_scratch(task.model_name, train_set, val_set, task.num_classes,
                                                     lr=lr_scratch, seed=seed, **common)
            recalibrate_batchnorm(model, task.train_set(idx, task.eval_transform))
            metrics, correct = _score(model, task)
            row.update(lr_head=lr_scratch, lr_backbone=lr_scratch)
        else:
            env.seed_everything(seed)  # the new head's initial weights: the same for a seed, whatever ran before
            model = task.fresh_model()
            if name == "lp_ft":
                probe = fit_probe(task, idx, seed)
                head_from_probe(probe.model, model.get_submodule(models.head_name(model)))
                # The network now computes exactly the probe (same features, same weights): no need to score it again.
                row["accuracy_before"] = probe.metrics.accuracy
            n_stages = len(models.stage_names(model))
            models.unfreeze_last(model, {"head": 0, "last_k": k, "full_ft": n_stages, "lp_ft": n_stages}[name])
            if freeze_bn:
                freeze_batchnorm(model)
            if name == "lp_ft":
                lr_head = lr_backbone
            result = train.fine_tune(model, train_set, val_set, unfreeze_stages=None, lr_head=lr_head,
                                     lr_backbone=lr_backbone, seed=seed, **common)
            metrics, correct = _score(model, task)
            row.update(lr_head=lr_head, lr_backbone=lr_backbone if name != "head" else None,
                       weight_change=weight_change(model, task.model))
        trainable, hist = result.trainable_params, result.history
        row.update(k=k if name == "last_k" else None, epochs=n_epochs, seconds_per_epoch=result.seconds_per_epoch,
                   steps=n_epochs * optimiser_steps_per_epoch(len(idx), batch_size))
    row.update(accuracy=metrics.accuracy, balanced_accuracy=metrics.balanced_accuracy, trainable_params=int(trainable),
               seconds=time.perf_counter() - start, correct=correct)
    if history:
        row["history"] = [h.get("val_acc") for h in hist]
    if keep_model:
        row["model"] = model
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cached, "w") as f:
            json.dump(row, f, default=float)
    row["from_cache"] = False
    return row


# ----------------------------------------------------------------------------- sweeps
def data_size_sweep(task: Task, plan: Mapping[str, Sequence[int | str | None]], seeds: Sequence[int], epochs: int = 3,
                    callback: Callable[[dict], None] | None = None, **run_kwargs) -> pd.DataFrame:
    """Every strategy in `plan` at each of its sizes (images per class; None or "all": the whole train set) for
    every seed: one row per run. The same seed picks the same images for every strategy."""
    rows = []
    for strategy, sizes in plan.items():
        for size in usable_sizes(task, sizes):
            for seed in seeds:
                row = run_strategy(strategy, task, None if size in (None, ALL) else int(size), seed, epochs,
                                   **run_kwargs)
                rows.append(row)
                if callback is not None:
                    callback(row)
    return pd.DataFrame(rows)


def usable_sizes(task: Task, sizes: Sequence[int | str | None]) -> list[int | str]:
    """`sizes` without those this data set cannot give (n per class >= its smallest class, when "all" is also
    asked for, is the whole train set again); None becomes "all"."""
    sizes = [ALL if s in (None, ALL) else int(s) for s in sizes]
    keep = [s for s in sizes if s == ALL or s < task.max_per_class or (s == task.max_per_class and ALL not in sizes)]
    return list(dict.fromkeys(keep))


def sweep_to_dict(sweep: pd.DataFrame, value: str = "accuracy") -> dict:
    """{dataset: {strategy: {size: {"mean", "std", "n_seeds", "n_per_class", "values", "seeds", "seconds"}}}} for the
    results JSON (``seconds``: mean wall time of one run)."""
    out: dict = {}
    for (dataset, strategy, size), g in sweep.groupby(["dataset", "strategy", "size"], sort=False):
        g = g.sort_values("seed")
        stats = mean_std(g[value])
        out.setdefault(dataset, {}).setdefault(strategy, {})[str(size)] = {
            "mean": stats["mean"], "std": stats["std"], "n_seeds": stats["n"],
            "n_per_class": float(g["n_per_class"].mean()), "values": [float(v) for v in g[value]],
            "seeds": [int(v) for v in g["seed"]], "seconds": float(g["seconds"].mean())}
    return out


def paired(sweep: pd.DataFrame, dataset: str, a: str, b: str, sizes: Iterable[str] | None = None,
           value: str = "accuracy") -> tuple[list[float], list[float]]:
    """Values of strategies `a` and `b` paired by (size, seed): same images, same seed, for paired comparisons."""
    s = sweep[sweep["dataset"] == dataset]
    if sizes is not None:
        s = s[s["size"].isin([str(x) for x in sizes])]
    wide = s[s["strategy"].isin([a, b])].pivot_table(index=["size", "seed"], columns="strategy", values=value)
    wide = wide.dropna()
    if a not in wide or b not in wide:
        return [], []
    return wide[a].tolist(), wide[b].tolist()


def claim_pairs(sweep: pd.DataFrame, dataset: str, a: str, b: str, sizes: Iterable[str] | None = None) -> dict:
    """The runs of strategies `a` and `b` paired by (size, seed), ready for ``claims.record(..., design="seeds",
    **pairs)``: their accuracies ``a`` and ``b``, each run's per-image results ``correct_a`` / ``correct_b`` (the
    same validation images in the same order) and ``n_eval``, the number of validation images."""
    s = sweep[sweep["dataset"] == dataset]
    if sizes is not None:
        s = s[s["size"].isin([str(x) for x in sizes])]
    left, right = (s[s["strategy"] == x].set_index(["size", "seed"]) for x in (a, b))
    for x, side in ((a, left), (b, right)):
        if side.index.has_duplicates:
            raise CourseLibError(f"{x!r} has several runs at the same size and seed on {dataset!r} (other "
                                 "settings?): pass runs with one row per strategy, size and seed.")
    keys = sorted(left.index.intersection(right.index),
                  key=lambda k: (k[0] == ALL, int(k[0]) if k[0] != ALL else 0, k[1]))
    if not keys:
        return {"a": [], "b": [], "correct_a": None, "correct_b": None, "n_eval": None}
    correct_a = [list(map(int, left.loc[k, "correct"])) for k in keys]
    correct_b = [list(map(int, right.loc[k, "correct"])) for k in keys]
    n_eval = {len(c) for c in correct_a + correct_b}
    if len(n_eval) != 1:
        raise CourseLibError(f"the runs of {a!r} and {b!r} on {dataset!r} were scored on different numbers of "
                             f"validation images ({sorted(n_eval)}); pair runs of one validation set only.")
    return {"a": [float(left.loc[k, "accuracy"]) for k in keys],
            "b": [float(right.loc[k, "accuracy"]) for k in keys],
            "correct_a": correct_a, "correct_b": correct_b, "n_eval": n_eval.pop()}


def summarize(sweep: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean, standard deviation (over seeds, ddof=1; 0 for one seed) and number of seeds per data set, strategy, size."""
    g = sweep.groupby(["dataset", "strategy", "size"], sort=False)
    out = g.agg(n_per_class=("n_per_class", "mean"), mean=(value, "mean"), std=(value, "std"), n_seeds=("seed", "nunique"),
                seconds=("seconds", "mean")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out.sort_values(["dataset", "strategy", "n_per_class"]).reset_index(drop=True)


def _curve(summary: pd.DataFrame, dataset: str, strategy: str) -> pd.Series:
    s = summary[(summary["dataset"] == dataset) & (summary["strategy"] == strategy)]
    return s.set_index("n_per_class")["mean"].sort_index()


def crossing_points(summary: pd.DataFrame, dataset: str, a: str, b: str) -> list[dict]:
    """Where the mean curves of strategies `a` and `b` cross, on the sizes both were run at.

    A crossing lies where ``mean_a - mean_b`` changes sign: between two neighbouring sizes it is interpolated
    linearly in log(images per class); if the curves meet exactly at a size in between, it is that size (a touch
    without a change of sign is no crossing). An empty list: the same curve is ahead wherever they differ.
    """
    ca, cb = _curve(summary, dataset, a), _curve(summary, dataset, b)
    common = ca.index.intersection(cb.index)
    d = (ca[common] - cb[common]).sort_index()
    xs, ds = d.index.to_numpy(dtype=float), d.to_numpy(dtype=float)
    out, last = [], None  # last: index of the previous size where the curves differ
    for i, di in enumerate(ds):
        if di == 0:
            continue
        if last is not None and np.sign(di) != np.sign(ds[last]):
            if i == last + 1:  # between two sizes: interpolate where the difference reaches 0
                t = ds[last] / (ds[last] - di)
                x = float(np.exp(np.log(xs[last]) + t * (np.log(xs[i]) - np.log(xs[last]))))
            else:  # the curves meet exactly at the size(s) in between
                x = float(np.exp(np.log(xs[last + 1:i]).mean()))
            out.append({"dataset": dataset, "a": a, "b": b, "between": [float(xs[last]), float(xs[i])],
                        "n_per_class": x, "ahead_before": a if ds[last] > 0 else b, "ahead_after": a if di > 0 else b})
        last = i
    return out


def leader(summary: pd.DataFrame, dataset: str, a: str, b: str) -> str | None:
    """The strategy ahead at every common size, or None if the curves cross or touch."""
    ca, cb = _curve(summary, dataset, a), _curve(summary, dataset, b)
    common = ca.index.intersection(cb.index)
    d = ca[common] - cb[common]
    if len(d) and (d > 0).all():
        return a
    if len(d) and (d < 0).all():
        return b
    return None


def all_crossings(summary: pd.DataFrame) -> list[dict]:
    """Crossings of every pair of strategies on every data set; pairs that never cross say who stays ahead."""
    out = []
    for dataset in summary["dataset"].unique():
        present = [s for s in COST_ORDER if s in set(summary.loc[summary["dataset"] == dataset, "strategy"])]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                found = crossing_points(summary, dataset, a, b)
                out.extend(found or [{"dataset": dataset, "a": a, "b": b, "between": None, "n_per_class": None,
                                      "ahead_before": leader(summary, dataset, a, b),
                                      "ahead_after": leader(summary, dataset, a, b)}])
    return out


def best_strategies(summary: pd.DataFrame, dataset: str, size: str | int, tolerance: float = 0.02) -> list[str]:
    """Strategies whose mean accuracy at `size` is within `tolerance` (or the best's seed spread) of the best,
    cheapest first: all of them are right answers for this cell; the first is what the decision table shows."""
    s = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
    if s.empty:
        raise CourseLibError(f"no sweep results for {dataset!r} at size {size!r}; sizes run: "
                             f"{sorted(set(summary.loc[summary['dataset'] == dataset, 'size']))}.")
    best = s.loc[s["mean"].idxmax()]
    margin = max(tolerance, float(best["std"]))
    close = set(s.loc[s["mean"] >= best["mean"] - margin, "strategy"])
    return [c for c in COST_ORDER if c in close] + sorted(close - set(COST_ORDER))


def decision_table(summary: pd.DataFrame, closeness: Mapping[str, str], tolerance: float = 0.02,
                   sizes: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows: training images per class; columns: how close each data set's domain is to the pretraining data.

    Each cell names the cheapest strategy within `tolerance` of the best measured one (more compute is only worth
    it when it buys accuracy), with its mean accuracy. `closeness` maps data set -> e.g. "near" / "far".
    """
    sizes = list(sizes) if sizes is not None else sorted(
        set(summary["size"]), key=lambda s: (s == ALL, int(s) if s != ALL else 0))
    table = pd.DataFrame(index=pd.Index(sizes, name="images per class"),
                         columns=pd.Index([f"{c} ({d})" for d, c in closeness.items()], name="domain"), dtype=object)
    for dataset, close in closeness.items():
        for size in sizes:
            s = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
            if s.empty:
                continue
            pick = best_strategies(summary, dataset, size, tolerance)[0]
            acc = float(s.loc[s["strategy"] == pick, "mean"].iloc[0])
            table.loc[size, f"{close} ({dataset})"] = f"{pick} ({100 * acc:.0f}%)"
    return table


def decision_dict(summary: pd.DataFrame, closeness: Mapping[str, str], tolerance: float = 0.02) -> dict:
    """The decision table as {closeness: {size: {"strategy", "accuracy", "ties"}}}, for the results JSON."""
    out: dict = {}
    for dataset, close in closeness.items():
        for size in summary.loc[summary["dataset"] == dataset, "size"].unique():
            ties = best_strategies(summary, dataset, size, tolerance)
            s = summary[(summary["dataset"] == dataset) & (summary["size"] == size)].set_index("strategy")["mean"]
            out.setdefault(close, {})[str(size)] = {"dataset": dataset, "strategy": ties[0],
                                                    "accuracy": float(s[ties[0]]), "ties": ties}
    return out


# ----------------------------------------------------------------------------- cost
def _peak_and_latency(fn):
    try:
        from .bench import peak_memory_mb
    except ImportError:  # pragma: no cover - bench is part of the kit; keep the lab running without it
        return fn(), float("nan")
    return peak_memory_mb(fn, device="cpu")


def _train_step_seconds(model: nn.Module, batch_size: int, input_size: int, steps: int) -> float:
    """Seconds of one forward + backward + optimiser step on a random batch (trainable parameters only)."""
    try:
        from .bench import measure_training_step

        lat = measure_training_step(model, batch_size=batch_size, input_size=input_size, warmup=1, steps=steps,
                                    device="cpu", channels_last=True)
        return lat.ms_per_batch / 1e3
    except ImportError:  # pragma: no cover
        x = torch.randn(batch_size, 3, input_size, input_size).contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        model.train()
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            model(x).logsumexp(1).mean().backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return float(np.median(times[1:]))


def cost_table(task: Task, ks: Iterable[int | str] = (0, 1, 2, "all"), batch_size: int = 32, steps: int = 3,
               n_train: int | None = None, freeze_bn: bool = True) -> pd.DataFrame:
    """What each strategy costs per epoch of `n_train` images (default: the task's train set), measured here.

    Per unfrozen depth k (0 = head only, "all" = full fine-tuning; training from scratch costs the same as "all"):
    trainable parameters, seconds per training step on a random batch (timm-style: warm-up, then the median of
    timed steps), seconds per epoch, and peak extra memory of those steps (CPU: resident memory, approximate).
    The linear probe row: one forward pass per image (features, cached afterwards) and the probe fit.
    ``freeze_bn``: BatchNorm layers stay frozen, as :func:`run_strategy` trains them.
    """
    n_train = n_train or len(task.train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    rows = []
    n_stages = len(models.stage_names(task.model))
    warm = task.fresh_model()  # one untimed step first: thread pools and allocator settle before the first row
    _train_step_seconds(models.unfreeze(warm), batch_size, task.input_size, 1)
    del warm
    for k in ks:
        k = n_stages if k == ALL else min(int(k), n_stages)
        model = task.fresh_model()
        models.unfreeze_last(model, k)
        if freeze_bn:
            freeze_batchnorm(model)
        seconds, peak = _peak_and_latency(lambda: _train_step_seconds(model, batch_size, task.input_size, steps))
        rows.append({"strategy": "full_ft" if k == n_stages else ("head" if k == 0 else "last_k"), "k": k,
                     "trainable_params": models.count_parameters(model, trainable_only=True),
                     "seconds_per_step": seconds, "seconds_per_epoch": seconds * steps_per_epoch,
                     "peak_memory_mb": peak})
        del model
    # The probe: a forward pass per image once (then cached), and a logistic regression on the features.
    model = task.fresh_model().eval()
    x = torch.randn(batch_size, 3, task.input_size, task.input_size).contiguous(memory_format=torch.channels_last)

    def forward_once() -> float:
        with torch.inference_mode():
            model(x)
            t0 = time.perf_counter()
            for _ in range(steps):
                model(x)
            return (time.perf_counter() - t0) / steps

    seconds, peak = _peak_and_latency(forward_once)
    fit = fit_probe(task, np.arange(len(task.train)))
    rows.insert(0, {"strategy": "probe", "k": 0,
                    "trainable_params": probe_parameters(task.train_X.shape[1], task.num_classes),
                    "seconds_per_step": seconds, "seconds_per_epoch": seconds * steps_per_epoch + fit.seconds,
                    "peak_memory_mb": peak})
    out = pd.DataFrame(rows)
    out.insert(0, "dataset", task.name)
    out["input_size"] = task.input_size
    out["n_train"] = n_train
    return out


# ----------------------------------------------------------------------------- plots
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


# ----------------------------------------------------------------------------- learning rate and LP-FT
def lr_experiment(task: Task, lrs: Sequence[float], seeds: Sequence[int], epochs: int = 3,
                  n_per_class: int | None = None, reuse: pd.DataFrame | None = None, **kw) -> pd.DataFrame:
    """Full fine-tuning with the backbone at each learning rate in `lrs` (the head keeps its own rate): accuracy and
    how far the backbone's weights moved from their pretrained values (``weight_change``).

    Runs already in `reuse` (e.g. the sweep's full fine-tuning at the same size, seed and rates) are taken from it.
    """
    lr_head = kw.get("lr_head", 1e-2)
    size = ALL if n_per_class in (None, ALL) else str(int(n_per_class))
    rows = []
    for lr in lrs:
        for seed in seeds:
            hit = pd.DataFrame()
            if reuse is not None and "lr_backbone" in reuse:
                hit = reuse[(reuse["dataset"] == task.name) & (reuse["strategy"] == "full_ft") & (reuse["size"] == size)
                            & (reuse["seed"] == seed) & np.isclose(reuse["lr_backbone"].astype(float), lr)
                            & np.isclose(reuse["lr_head"].astype(float), lr_head)]
            if len(hit):
                rows.append({**hit.iloc[0].to_dict(), "reused": True})
            else:
                rows.append({**run_strategy("full_ft", task, n_per_class, seed, epochs, **{**kw, "lr_backbone": lr}),
                             "reused": False})
    out = pd.DataFrame(rows)
    out["lr"] = out["lr_backbone"].astype(float)
    return out


def mean_std(values: Iterable[float]) -> dict:
    """{"mean", "std", "n"} of a list (std with ddof=1; 0 for one value): the shape every measured number takes."""
    v = np.asarray(list(values), dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}
