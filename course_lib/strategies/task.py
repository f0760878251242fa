"""One data set at one input size, prepared once for many runs: :class:`Task`, :func:`prepare_task`,
:func:`inner_task` (a split of the training images only). The in-memory data sets and the fast transform behind
them live in :mod:`course_lib.data.tensors`."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data, features, models
from ..errors import CourseLibError
from .names import ALL


# ----------------------------------------------------------------------------- fast, exact input pipeline
def _shrink(image, short_side: int):
    """A copy whose shorter side is at most `short_side` (never enlarged): augmentation then works on small images."""
    from PIL import Image

    w, h = image.size
    if min(w, h) <= short_side:
        return image
    scale = short_side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


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
    train_transform: data.FastTransform
    eval_transform: data.FastTransform
    images: list
    val_set: data.TensorSet
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

    def train_set(self, indices: np.ndarray, transform=None) -> data.ImagesInMemory:
        """The training images at `indices`, augmented by the train transform (or `transform`)."""
        return data.ImagesInMemory(self.train.subset(indices), [self.images[i] for i in indices],
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
    eval_tf = data.FastTransform(data.eval_transform(model, input_size=input_size))
    train_tf = data.FastTransform(data.train_transform(model, input_size=input_size))
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
                images=images, val_set=data.TensorSet(val_X, val_table.labels, val_table.classes), train_X=ftr.X,
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
                val_set=data.TensorSet(val_X, inner_val.labels, inner_val.classes), train_X=task.train_X[tr],
                val_X=task.train_X[va], seconds={"decode": time.perf_counter() - t0})
