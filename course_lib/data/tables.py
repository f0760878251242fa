"""ImageTable, the one table every data source gives (registered data sets, CCT files, your own folders), and
``preview``, the short list of examples every message of the package shows.

On its own so splits, images and folders can use the table type without importing how data sets are loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass
class ImageTable:
    """Images of one task: absolute paths, int64 labels into `classes`, and per image its ``groups`` entry (the
    unit that must not be split, e.g. patient or burst; None: every image stands alone), the data set's own
    ``split`` ('train'/'val'; None if it has none) and every metadata column in ``frame``."""

    name: str
    task: str
    paths: list[Path]
    labels: np.ndarray
    classes: list[str]
    groups: np.ndarray | None
    split: np.ndarray | None
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"ImageTable({self.name!r}, task={self.task!r}, {len(self)} images, {len(self.classes)} classes)"

    def subset(self, indices) -> ImageTable:
        """The rows at `indices` (ints or a boolean mask); the class list is kept, so label ids stay valid."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64).reshape(-1)
        pick = (lambda a: None if a is None else a[idx])
        return ImageTable(self.name, self.task, [self.paths[i] for i in idx], self.labels[idx], list(self.classes),
                          pick(self.groups), pick(self.split), self.frame.iloc[idx].reset_index(drop=True))

    def class_counts(self) -> pd.Series:
        """Images per class name, classes without images included (as 0)."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return pd.Series(counts, index=pd.Index(self.classes, name="class"), name="images")

    def drop_rare(self, min_count: int) -> ImageTable:
        """Only classes with at least `min_count` images, relabelled 0..k-1 (long-tail sets before a split)."""
        counts = self.class_counts()
        keep = [c for c in self.classes if counts[c] >= min_count]
        new_id = {self.classes.index(c): i for i, c in enumerate(keep)}
        sub = self.subset(np.isin(self.labels, list(new_id)))
        sub.labels = np.array([new_id[int(v)] for v in sub.labels], dtype=np.int64)
        sub.classes = keep
        return sub


def preview(items: Sequence[str], n: int = 5) -> str:
    """The first `n` items, comma-separated, and how many there are in all when more: for messages."""
    return ", ".join(map(str, items[:n])) + (f", ... ({len(items)} in all)" if len(items) > n else "")
