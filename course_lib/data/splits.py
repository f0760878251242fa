"""Seeded train/val splits of an ImageTable (stratified, or grouped so no patient or burst is on both sides),
few-shot subsamples, and the leak check, with the per-class count checks that explain what is missing.

Depends only on the table type, so loading (the kit's own split) and the labs use the same functions.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import DataError
from .tables import ImageTable, preview


def _check_counts(table: ImageTable, need: int, what: str, fix: str) -> None:
    counts = table.class_counts()
    empty = [c for c in table.classes if counts[c] == 0]
    if empty:
        raise DataError(f"class(es) {empty} of {table.name!r} have no images, so {what} cannot be made. Drop "
                        "empty classes with table.drop_rare(1), or add the images they need.")
    few = [(c, int(counts[c])) for c in table.classes if counts[c] < need]
    if few:
        more = f" (and {len(few) - 1} more class(es))" if len(few) > 1 else ""
        raise DataError(f"class {few[0][0]!r} has only {few[0][1]} image(s){more}; {what} needs at least {need} "
                        f"per class. {fix}")


def _check_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction={val_fraction}: use a number between 0 and 1, e.g. 0.25.")


_RARE_FIX = "Drop rare classes with table.drop_rare(2), merge them, or collect more images."


def stratified_split(table: ImageTable, val_fraction: float = 0.25, seed: int = 0) -> tuple[ImageTable, ImageTable]:
    """Random train/val keeping class proportions (StratifiedShuffleSplit). Ignores groups: see group_split."""
    from sklearn.model_selection import StratifiedShuffleSplit

    _check_fraction(val_fraction)
    _check_counts(table, 2, "a stratified split", _RARE_FIX)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    try:
        tr, va = next(splitter.split(np.zeros(len(table)), table.labels))
    except ValueError as e:
        raise DataError(f"cannot put all {len(table.classes)} classes on both sides with val_fraction="
                        f"{val_fraction} of {len(table)} images ({e}); raise val_fraction or drop rare classes "
                        "with table.drop_rare(...).") from e
    return table.subset(np.sort(tr)), table.subset(np.sort(va))


def group_split(table: ImageTable, val_fraction: float = 0.25, seed: int = 0) -> tuple[ImageTable, ImageTable]:
    """Train/val with no group (patient, burst) on both sides, classes balanced as far as groups allow.

    One fold of StratifiedGroupKFold with ``round(1/val_fraction)`` folds, so val holds about that share.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    _check_fraction(val_fraction)
    _check_counts(table, 2, "a group split", _RARE_FIX)
    groups = table.groups if table.groups is not None else np.array([str(p) for p in table.paths])
    k, n_groups = max(2, round(1 / val_fraction)), len(np.unique(groups))
    if n_groups < k:
        raise DataError(f"only {n_groups} groups in {table.name!r}; val_fraction={val_fraction} needs at least {k}. "
                        "Raise val_fraction or add images from more groups.")
    with warnings.catch_warnings():  # "least populated class has fewer members than n_splits": expected here
        warnings.simplefilter("ignore", UserWarning)
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        tr, va = next(folds.split(np.zeros(len(table)), table.labels, groups))
    train, val = table.subset(np.sort(tr)), table.subset(np.sort(va))
    one_sided = [c for c, a, b in zip(table.classes, train.class_counts(), val.class_counts()) if (a == 0) != (b == 0)]
    if one_sided:
        warnings.warn(f"class(es) {one_sided} ended up on one side only (too few groups); their val accuracy "
                      "cannot be measured with this split.", stacklevel=2)
    return train, val


def subsample_per_class(table: ImageTable, n_per_class: int, seed: int = 0) -> ImageTable:
    """`n_per_class` random images of every class (few-shot runs); the same seed picks the same images."""
    if n_per_class < 1:
        raise DataError(f"n_per_class={n_per_class}: ask for at least 1 image per class.")
    _check_counts(table, n_per_class, f"subsample_per_class(n_per_class={n_per_class})",
                  "Lower n_per_class, or drop small classes with table.drop_rare(n_per_class).")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(table.labels == c), n_per_class, replace=False)
             for c in range(len(table.classes))]
    return table.subset(np.sort(np.concatenate(picks)))


def assert_no_leak(train: ImageTable, val: ImageTable) -> None:
    """Raise DataError if a file, or a group (patient, burst), is in both train and val."""
    problems = []
    shared = sorted({str(p) for p in train.paths} & {str(p) for p in val.paths})
    if shared:
        problems.append(f"{len(shared)} file(s) in both: {preview(shared)}")
    if train.groups is not None and val.groups is not None:
        both = sorted(set(train.groups.tolist()) & set(val.groups.tolist()))
        if both:
            problems.append(f"{len(both)} group(s) in both: {preview(both)}")
    if problems:
        raise DataError("train/val leak: " + "; ".join(problems) + ". Near-identical images inflate val accuracy; "
                        "build the split with group_split(...).")
