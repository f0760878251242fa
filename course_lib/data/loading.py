"""Loading a registered data set as an ImageTable: its rows (labels.csv or the folder tree, or the spec's own
``rows`` logic), the data set's own train/val split, and the kit's seeded split when a copy has none.

Between the registry (what and where) and the splits (which the kit's split reuses); no data-set names here.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, unknown_name
from .registry import dataset_root, get_dataset_spec
from .splits import group_split, stratified_split
from .tables import ImageTable

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "val"}


def read_labels(root: Path) -> pd.DataFrame | None:
    """The rows of ``root/labels.csv`` as text (counts and sizes as numbers); None if there is no such file."""
    if not (root / "labels.csv").is_file():
        return None
    df = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    for col in {"count", "orig_width", "orig_height", "width", "height"} & set(df.columns):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


def _scan_tree(root: Path) -> pd.DataFrame:
    """A folder-per-class layout (``<class>/x.jpg`` or ``<train|val|test>/<class>/x.jpg``), as official archives."""
    rows = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(s.startswith(".") or s == "__MACOSX" for s in rel.parts):
            split = _SPLIT_ALIASES.get(rel.parts[0].lower(), "") if len(rel.parts) > 2 else ""
            rows.append({"file": rel.as_posix(), "label": p.parent.name, "split": split})
    if not rows:
        raise DataError(f"no image files under {root}; expected <class>/ folders (or train/ and val/ holding them).")
    return pd.DataFrame(rows)


def read_rows(root: Path) -> pd.DataFrame:
    """The rows a data set's table starts from (``file``, ``label``, ``split``, ...): its labels.csv if it has one,
    else its folder-per-class tree (e.g. an official archive, fetched). A spec's ``rows`` logic starts here."""
    df = read_labels(root)
    if df is None:  # e.g. the official archive, fetched: no labels.csv
        df = _scan_tree(root)
    return df


def _label_rows(root: Path, task: str) -> pd.DataFrame:
    """The rows of a data set without logic of its own: ``label`` is the class, whatever the task."""
    df = read_rows(root)
    return df.assign(class_name=df["label"])


def load_dataset(name: str, task: str | None = None, split: str | None = None,
                 root: str | os.PathLike | None = None) -> ImageTable:
    """The images of `task` (default: the first), optionally only the data set's own 'train' or 'val' part.

    Classes are sorted by name and come from the whole task, so train and val tables share label ids.
    `root` overrides the folder (default ``dataset_root(name)``).
    """
    spec = get_dataset_spec(name)
    task = task or spec.tasks[0]
    if task not in spec.tasks:
        raise unknown_name(f"task of {name!r}", task, spec.tasks, f"get_dataset_spec({name!r}).tasks")
    if split not in (None, "train", "val"):
        raise DataError(f"split={split!r}: use None (all images), 'train' or 'val'.")
    root = Path(root).expanduser().resolve() if root is not None else dataset_root(name)
    df = (spec.rows or _label_rows)(root, task).reset_index(drop=True)
    df["split"] = [s if s in ("train", "val") else None for s in df.get("split", [""] * len(df))]
    df.insert(0, "path", [str(root / f) for f in df["file"]])
    missing = [p for p in df["path"] if not os.path.isfile(p)]
    if missing:
        raise DataError(f"{len(missing)} file(s) listed for {name!r} are missing, e.g. {missing[:3]}: the copy in "
                        f"{root} is incomplete; fetch or copy it again.")
    classes, has_split = sorted(df["class_name"].unique()), df["split"].notna().any()
    if split is not None and has_split:
        df = df[df["split"] == split].reset_index(drop=True)
    if df.empty:
        raise DataError(f"no images for {name!r}, task {task!r}, split {split!r} in {root}.")
    table = ImageTable(name, task, [Path(p) for p in df["path"]],
                       np.array([classes.index(c) for c in df["class_name"]], dtype=np.int64), classes,
                       df["group"].to_numpy(dtype=str) if "group" in df else None,
                       df["split"].to_numpy(dtype=object) if has_split else None, df)
    # no split of its own (e.g. the official archive): the kit's seeded one, from the table already built
    return _kit_split(table, split) if split is not None and not has_split else table


KIT_SPLIT = {"val_fraction": 0.3, "seed": 0}   # the course's own EuroSAT split is 35 / 15 per class: 30% val


def _kit_split(table: ImageTable, split: str) -> ImageTable:
    """The 'train' or 'val' part of a seeded split the kit makes when a copy has no split of its own (e.g. the
    official EuroSAT archive, which has no labels.csv): stratified, grouped where the table has groups, always the
    same for the same files. A warning says so: its numbers will differ from the course's own split."""
    warnings.warn(f"{table.name!r} here has no train/val split of its own (no labels.csv with a split column, as "
                  f"in the official archive): the kit made a seeded one ({1 - KIT_SPLIT['val_fraction']:.0%} / "
                  f"{KIT_SPLIT['val_fraction']:.0%}, seed {KIT_SPLIT['seed']}"
                  f"{', grouped' if table.groups is not None else ''}). Numbers will differ from the course's.",
                  stacklevel=3)
    make = group_split if table.groups is not None else stratified_split
    train_part, val_part = make(table, KIT_SPLIT["val_fraction"], seed=KIT_SPLIT["seed"])
    part = train_part if split == "train" else val_part
    part.split = np.array([split] * len(part), dtype=object)
    return part
