"""Your own images as an ImageTable (``image_folder``): a class-folder tree or a CSV, every file read and checked
once, with one warning (ImageFolderWarning) per problem that changes results: bad, empty, tiny or duplicate files.

The learner-facing entry point with the most checks, kept apart from the course's registered data sets.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from ..errors import DataError
from .images import to_rgb8
from .tables import ImageTable, preview


class ImageFolderWarning(UserWarning):
    """Something in a learner's own folder or CSV that changes results: bad, empty, tiny or duplicate files."""


_FOLDER_SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_NOT_STILL_IMAGES = {".mpeg", ".mpg"}  # Pillow identifies MPEG video but cannot decode it
_OTHER_IMAGE_SUFFIXES = {".heic", ".heif", ".avif", ".jxl", ".svg", ".dng", ".cr2", ".nef", ".arw"}


def image_suffixes() -> set[str]:
    """Lower-case suffixes this Pillow can decode, from ``Image.registered_extensions()``.

    Stub formats (GRIB, HDF5, ...: they need a handler the kit does not install) and MPEG video are left out,
    since they would only ever show up as bad files."""
    from PIL import ImageFile

    Image.init()
    out = set()
    for ext, fmt in Image.registered_extensions().items():
        factory = Image.OPEN.get(fmt, (None,))[0]
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        if fmt == "MPO" or (factory is not None and not stub):  # MPO files are opened by the JPEG plugin
            out.add(ext.lower())
    return out - _NOT_STILL_IMAGES


@dataclass
class _Source:
    """The rows found before any file is opened (path, file, class_name, split, CSV columns) and what to warn."""

    where: Path
    name: str
    rows: pd.DataFrame
    folders: list[str] | None  # class folders relative to `where` (None for a CSV)
    notes: list[str]


def _split_of(parts: Sequence[str]) -> str | None:
    return next((_FOLDER_SPLITS[p.lower()] for p in reversed(parts) if p.lower() in _FOLDER_SPLITS), None)


def _scan_folder(root: Path) -> _Source:
    """Rows of a ``[.../train|val|test/]<class>/<image>`` tree: the class is the image's folder, the split the
    nearest train/val/test folder above it. Hidden files and folders, __MACOSX and non-images are skipped."""
    suffixes, rows, folders, loose, other = image_suffixes(), [], [], [], Counter()
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        rel = Path(here).relative_to(root)
        visible = sorted(f for f in files if not f.startswith("."))
        images = [f for f in visible if Path(f).suffix.lower() in suffixes]
        other.update(s for f in visible if (s := Path(f).suffix.lower()) in _OTHER_IMAGE_SUFFIXES - suffixes)
        if not rel.parts or rel.name.lower() in _FOLDER_SPLITS:  # no class folder around these images
            loose += [(rel / f).as_posix() for f in images]
            continue
        if images or not (dirs or visible):  # an empty leaf is an empty class; a folder of notes (json, txt) is none
            folders.append(rel.as_posix())
        split = _split_of(rel.parts[:-1])
        rows += [{"path": str(root / rel / f), "file": (rel / f).as_posix(), "class_name": rel.name, "split": split}
                 for f in images]
    rows = pd.DataFrame(rows, columns=["path", "file", "class_name", "split"])
    return _Source(root, root.name, rows, folders, _layout_notes(root, folders, loose, other))


def _layout_notes(root: Path, folders: list[str], loose: list[str], other: Counter) -> list[str]:
    """Warnings about the tree itself: images outside class folders, classes at mixed depths, unreadable formats."""
    notes = []
    if loose:
        notes.append(f"{len(loose)} image(s) sit directly in {root} or in a train/val/test folder, not in a class "
                     f"folder, and were left out: {preview(loose)}. Move them into a <class>/ folder.")
    depths = {sum(p.lower() not in _FOLDER_SPLITS for p in Path(f).parts) for f in folders}
    if len(depths) > 1:
        notes.append(f"class folders sit at different depths under {root} ({preview(folders)}); each image's class "
                     "is the folder it is in. If some of these folders are not classes, rearrange the tree or "
                     "describe the images in a CSV (labels='file_label.csv' with columns file,label).")
    if other:
        notes.append(f"{sum(other.values())} file(s) in formats this Pillow cannot read were ignored "
                     f"({dict(sorted(other.items()))}): convert them to PNG or JPEG (or install a Pillow plugin "
                     "such as pillow-heif) if they belong to the data set.")
    return notes


def _read_csv(csv: Path, folder: Path | None, label_column: str) -> _Source:
    """Rows of a ``file,label[,group][,split]`` CSV; a relative file is looked up next to the CSV, then in
    `folder` (the `path` given together with ``labels=``)."""
    if not csv.is_file():
        raise DataError(f"label file {csv} does not exist; pass the path of a CSV with columns file,label[,group].")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("file", label_column) if c not in df.columns]
    if missing:
        raise DataError(f"{csv} has no column(s) {missing}; its columns are {list(df.columns)}. Write a header "
                        f"file,label[,group], or name the label column with label_column=....")

    def locate(f: str) -> Path:
        p = Path(f.strip()).expanduser()
        if p.is_absolute() or folder is None or (csv.parent / p).exists() or not (folder / p).exists():
            return csv.parent / p
        return folder / p

    df = df.assign(path=[str(locate(f)) for f in df["file"]], class_name=df[label_column].str.strip())
    raw = df["split"].str.strip() if "split" in df else pd.Series([""] * len(df), index=df.index)
    df["split"] = [None if s.lower() in ("", "none", "nan", "null") else _FOLDER_SPLITS.get(s.lower(), s) for s in raw]
    notes = []
    if (unlabelled := df[df["class_name"] == ""]).shape[0]:
        notes.append(f"{len(unlabelled)} row(s) of {csv} have an empty {label_column!r} and were left out: "
                     f"{preview(list(unlabelled['file']))}. Fill in their label or delete the rows.")
        df = df[df["class_name"] != ""]
    name = csv.parent.name if csv.stem.lower() in ("labels", "label", "train", "data") else csv.stem
    return _Source(csv, name, df.reset_index(drop=True), None, notes)


def _image_rows(path: str | os.PathLike, labels, label_column: str) -> _Source:
    """Dispatch: a CSV (``path`` itself, or ``labels=``) or a folder tree."""
    path = Path(path).expanduser().resolve()
    if labels is not None:
        if path.is_file():
            raise DataError(f"labels={labels!r} was given, but path {path} is a file: pass the CSV once, as path "
                            "or as labels= (with path the image folder).")
        return _read_csv(Path(labels).expanduser().resolve(), path if path.is_dir() else None, label_column)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, None, label_column)
    if not path.is_dir():
        raise DataError(f"{path} is neither a folder nor a CSV file; pass a folder laid out as <class>/<image> "
                        "(optionally under train/ val/ test/), or a CSV with columns file,label[,group].")
    return _scan_folder(path)


def _inspect_image(path: Path) -> tuple[int, int, str, str | None]:
    """(width, height as displayed, blake2b of the bytes, problem or None) from one read of the file.

    Pillow's verify() (structure, PNG CRCs), then a real decode: JPEG at 1/8 scale via ``draft`` (the decoder
    still reads every byte, so truncation is caught), then the same conversion to RGB as open_image, so a file
    that passes here loads later. Other formats decode at full size."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return 0, 0, "", "missing"
    except OSError as e:
        return 0, 0, "", f"unreadable: {e.strerror or e}"
    if not blob:
        return 0, 0, "", "zero bytes"
    digest = hashlib.blake2b(blob, digest_size=20).hexdigest()
    try:
        with warnings.catch_warnings():  # Pillow's own notes (odd EXIF, palettes) would repeat for every file
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(blob)) as im:
                im.verify()
            with Image.open(io.BytesIO(blob)) as im:
                (w, h), turned = im.size, im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
                im.draft(None, (1, 1))
                im.load()
                to_rgb8(ImageOps.exif_transpose(im))
    except Image.UnidentifiedImageError:
        return 0, 0, digest, "not an image Pillow recognises"
    except Exception as e:  # noqa: BLE001 - whatever a Pillow plugin throws, the file cannot be trained on
        return 0, 0, digest, f"{type(e).__name__}: {e}"
    return (h, w, digest, None) if turned else (w, h, digest, None)


def _check_files(src: _Source, on_bad: str) -> pd.DataFrame:
    """The readable rows with ``width``/``height``/``_digest``; bad files raise or become a note, per `on_bad`."""
    checked = pd.DataFrame([_inspect_image(Path(p)) for p in src.rows["path"]],
                           columns=["width", "height", "_digest", "_problem"], index=src.rows.index)
    rows = src.rows.drop(columns=[c for c in checked.columns if c in src.rows])  # a CSV's own width/height
    df = pd.concat([rows, checked], axis=1)
    bad = df[df["_problem"].notna()]
    if len(bad):
        items = [f"{p} ({why})" for p, why in zip(bad["path"], bad["_problem"])]
        msg = f"{len(bad)} of {len(df)} image file(s) under {src.where} cannot be read: {preview(items)}."
        if on_bad == "raise":
            raise DataError(msg + " Delete or replace them (re-download or re-export), or pass on_bad='skip' to "
                            "leave them out with a warning.")
        src.notes.insert(0, msg + " They were left out (all listed in table.frame.attrs['skipped']); delete or "
                         "replace them, or pass on_bad='raise' to stop instead.")
    df = df[df["_problem"].isna()].drop(columns="_problem").reset_index(drop=True)
    df.attrs["skipped"] = list(zip(bad["path"], bad["_problem"]))
    return df


def _classes(src: _Source, df: pd.DataFrame, n_bad: int) -> list[str]:
    """Sorted class names with at least one readable image; empty class folders (or labels) become a note,
    and fewer than two classes left is a DataError saying what was found."""
    classes = sorted(df["class_name"].unique())
    if src.folders is not None:
        full = {Path(f).parent.as_posix() for f in df["file"]}
        empty = [f"{f}/" for f in src.folders if f not in full]
        gone = sorted({Path(f).name for f in empty} - set(classes))
    else:
        gone = sorted(set(src.rows["class_name"]) - set(classes))
        empty = [repr(c) for c in gone]
    if empty:
        what = "class folder(s) under" if src.folders is not None else "label(s) in"
        src.notes.append(f"{len(empty)} {what} {src.where} hold no readable image: {preview(empty)}"
                         + (f"; class(es) {gone} are therefore left out of `classes`" if gone else "")
                         + ". Add images there or delete the folder/rows.")
    if len(classes) < 2:
        raise DataError(f"{src.where} gives {len(classes)} class(es) with readable images {classes}, from {len(df)} "
                        f"readable and {n_bad} bad image file(s)" + (f"; empty: {preview(empty)}" if empty else "")
                        + ". A classifier needs at least 2: lay the images out as <class>/<image> folders "
                        "(optionally under train/ val/ test/), or list them in a CSV with columns file,label.")
    return classes


def _odd_size_note(df: pd.DataFrame, min_side: int, max_aspect: float) -> str | None:
    """Tiny or elongated images: kept, but resizing to the model's input blows them up or squashes them."""
    short, long = np.minimum(df["width"], df["height"]), np.maximum(df["width"], df["height"])
    small, wide = df[short < min_side], df[long > max_aspect * short]
    if small.empty and wide.empty:
        return None
    show = lambda d: preview([f"{p} ({w}x{h})" for p, w, h in zip(d["path"], d["width"], d["height"])])  # noqa: E731
    parts = ([f"{len(small)} smaller than {min_side} px on the shorter side: {show(small)}"] if len(small) else []) \
        + ([f"{len(wide)} with an aspect ratio beyond {max_aspect:g}:1: {show(wide)}"] if len(wide) else [])
    return (f"odd image sizes ({'; '.join(parts)}). They are kept, but resizing them to the model's input "
            "blows them up or squashes them: look at them (table.frame[['path', 'width', 'height']]) and drop or "
            "crop the ones that are not real examples.")


def _duplicates(df: pd.DataFrame) -> tuple[list[str | None], list[str]]:
    """``duplicate_of`` per row (the first copy's path, or None) and the notes on copies and label conflicts."""
    first: dict[str, str] = {}
    dup_of: list[str | None] = []
    for p, d in zip(df["path"], df["_digest"]):
        dup_of.append(first.get(d))
        first.setdefault(d, p)
    sets = [g for _, g in df[df["_digest"].duplicated(keep=False)].groupby("_digest", sort=False)]
    if not sets:
        return dup_of, []
    show = ["[" + " = ".join(g["path"]) + "]" for g in sets]
    notes = [f"{len(sets)} set(s) of byte-identical files ({sum(len(g) - 1 for g in sets)} extra copies): "
             f"{preview(show, 3)}. Copies inflate validation scores when they land on both sides of a split, and "
             "make LogME and other transferability scores over-confident. They are kept; frame['duplicate_of'] "
             "names the first copy. Delete the extra files, or keep one of each: "
             "table.subset(table.frame['duplicate_of'].isna())."]
    conflicts = ["[" + " = ".join(f"{p} ({c!r})" for p, c in zip(g["path"], g["class_name"])) + "]"
                 for g in sets if g["class_name"].nunique() > 1]
    if conflicts:
        notes.append(f"label conflict: {len(conflicts)} set(s) of identical files carry different labels: "
                     f"{preview(conflicts, 3)}. The same image cannot be both; fix the label or delete the copy "
                     "that is wrong.")
    return dup_of, notes


def _group_ids(df: pd.DataFrame, groups, is_csv: bool) -> np.ndarray | None:
    """Per-row group ids as str: a CSV column (default: its ``group`` column if any) or ``groups(path)``.
    An empty cell makes the image a group of its own."""
    if groups is None:
        if not (is_csv and "group" in df):
            return None
        groups = "group"
    if callable(groups):
        ids = [groups(Path(p)) for p in df["path"]]
    elif isinstance(groups, str):
        if not is_csv or groups not in df:
            where = "the CSV's columns are " + str([c for c in df.columns if not c.startswith("_")]) if is_csv \
                else "the images come from folders, not a CSV"
            raise DataError(f"groups={groups!r} is not a CSV column ({where}). Pass a column name of the CSV, or "
                            "a function path -> group id, e.g. groups=lambda p: p.stem.split('_')[0].")
        ids = list(df[groups])
    else:
        raise DataError(f"groups must be a CSV column name or a function path -> group id, not "
                        f"{type(groups).__name__}.")
    return np.array([str(g) if g is not None and str(g).strip() else p for g, p in zip(ids, df["path"])], dtype=str)


def image_folder(path: str | os.PathLike, labels: str | os.PathLike | None = None,
                 groups: str | Callable[[Path], object] | None = None,
                 on_bad: str = "skip", *, label_column: str = "label", name: str | None = None,
                 min_side: int = 32, max_aspect: float = 4.0) -> ImageTable:
    """Your own images as an ImageTable, checked: a ``[train|val|test/]<class>/<image>`` folder (train/val/test
    folders at any depth above the class folders fill ``split``: 'train', 'val' (also valid/validation) or 'test';
    None without them), or a CSV ``file,label[,group][,split]`` given as `path` or as ``labels=`` (files relative to
    the CSV's folder, then to `path`, or absolute).

    Every file is read and decoded once now (verify, then a decode: JPEG at 1/8 scale) on one core: about 1 ms
    per 256-px JPEG (hymenoptera's 397 in 0.4 s), 0.15 s per 12-MP photo, so bad files are named here rather than
    failing mid-epoch: ``on_bad="skip"`` leaves them out with one warning (``frame.attrs['skipped']`` keeps them),
    ``on_bad="raise"`` raises DataError. ImageFolderWarning also names empty class
    folders (left out of ``classes``), images under `min_side` px or beyond `max_aspect`:1 (kept; ``frame`` has
    ``width``/``height``), and byte-identical copies (kept; ``frame['duplicate_of']``), which inflate val scores.
    `groups` (a CSV column, default its ``group`` column, or a function path -> id) fills ``groups`` for
    group_split and assert_no_leak. Classes are sorted by name; labels index them.
    """
    if on_bad not in ("skip", "raise"):
        raise DataError(f"on_bad={on_bad!r}: use 'skip' (leave bad files out, with a warning) or 'raise'.")
    src = _image_rows(path, labels, label_column)
    if src.rows.empty:
        raise DataError(f"no image files in {src.where}" + (f" ({' '.join(src.notes)})" if src.notes else "")
                        + ". Expected <class>/<image> folders (optionally under train/ val/ test/), or a CSV with "
                        "columns file,label.")
    df = _check_files(src, on_bad)
    classes = _classes(src, df, len(df.attrs["skipped"]))
    dup_of, dup_notes = _duplicates(df)
    df["duplicate_of"] = pd.Series(dup_of, index=df.index, dtype=object)  # object: None stays None in pandas 3
    df["split"] = pd.Series([s if isinstance(s, str) else None for s in df["split"]], index=df.index, dtype=object)
    group_ids = _group_ids(df, groups, src.folders is None)
    if group_ids is not None:
        df["group"] = group_ids
    for note in [*src.notes, _odd_size_note(df, min_side, max_aspect), *dup_notes]:
        if note:
            warnings.warn(note, ImageFolderWarning, stacklevel=2)
    df = df[["path", *(c for c in df.columns if c not in ("path", "_digest"))]]
    index = {c: i for i, c in enumerate(classes)}
    has_split = any(s is not None for s in df["split"])
    return ImageTable(name or src.name, "image_folder", [Path(p) for p in df["path"]],
                      np.array([index[c] for c in df["class_name"]], dtype=np.int64), classes, group_ids,
                      df["split"].to_numpy(dtype=object) if has_split else None, df)
