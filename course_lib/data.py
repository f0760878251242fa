"""Data sets, splits and images: one table per data set, leak-free splits, images that always load.

``load_dataset`` gives an ``ImageTable`` (paths, labels, classes, and the unit that must never straddle train
and val: a patient, a camera burst); splits are seeded scikit-learn; transforms are the model's own config.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps

from . import env
from ._registry import Registry
from .errors import CourseLibError, DataError, ImageLoadError, unknown_name

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "val"}
_HASHES = ("sha256", "sha512", "sha1", "md5")


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its folder here, the official archive (``url``: None if there is no single one, see
    ``homepage``), its published ``checksum`` ("sha256:<hex>"/"md5:<hex>", None if none), license, citation.
    ``tasks[0]`` is the default task."""

    name: str
    folder: str
    description: str
    url: str | None
    checksum: str | None
    archive_root: str | None
    license: str
    citation: str
    tasks: tuple[str, ...]
    homepage: str = ""


DATASETS: Registry[DatasetSpec] = Registry("data set", "course_lib.data.list_datasets()", error=DataError)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a data set; a second one with the same name is refused, never silently replaced."""
    if not spec.tasks:
        raise DataError(f"data set {spec.name!r} needs at least one task (the first is the default).")
    if spec.checksum is not None:
        parse_checksum(spec.checksum)
    return DATASETS.register(spec)


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style `pattern`, in natural order."""
    return DATASETS.names(pattern, sort=True)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of `name`; an unknown name suggests the closest registered ones."""
    return DATASETS[name]


# No published checksum of these official archives is known to the kit, and none is invented:
# fetch_dataset then asks for checksum=... or trust_unverified=True.
for _spec in (
    DatasetSpec("hymenoptera", "hymenoptera", "Ants vs bees (PyTorch transfer-learning tutorial, an ImageNet "
                "subset): natural photos, close to the pretraining domain.",
                "https://download.pytorch.org/tutorial/hymenoptera_data.zip", None, "hymenoptera_data",
                "no explicit license; ImageNet subset - non-commercial research/education use",
                "S. Chilamkurthy, Transfer Learning for Computer Vision Tutorial, PyTorch Tutorials; Deng et al., "
                "ImageNet: A Large-Scale Hierarchical Image Database, CVPR 2009.", ("ants_vs_bees",),
                "https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html"),
    DatasetSpec("chest_xray", "chest_xray", "Pediatric chest X-rays (Kermany et al. 2018), NORMAL vs PNEUMONIA "
                "(bacterial/viral), one image per patient: a far domain.", None, None, "chest_xray", "CC BY 4.0",
                "Kermany DS et al. (2018) Cell 172(5):1122-1131, doi:10.1016/j.cell.2018.02.010; Kermany D, Zhang K, "
                "Goldbaum M (2018) Mendeley Data v2, doi:10.17632/rscbjbr9sj.2",
                ("normal_vs_pneumonia", "bacteria_vs_virus"), "https://data.mendeley.com/datasets/rscbjbr9sj/2"),
    DatasetSpec("camera_traps", "camera_traps", "Small composite of real camera-trap images (camtrapR Sabah "
                "samples + LILA frames) with species, counts and a few boxes; bursts must not be split.",
                None, None, None, "CDLA-Permissive-1.0 (LILA images); GPL (>= 2) (camtrapR images)",
                "Swanson et al. (2015) Sci Data 2:150026; Beery et al. (2018) ECCV; Tabak et al. (2019) MEE 10(4); "
                "Niedballa et al. (2016) MEE 7(12); full list in camera_traps/DATASET.md",
                ("species", "empty_vs_animal"), "https://lila.science/datasets"),
    DatasetSpec("eurosat", "eurosat", "EuroSAT RGB (Helber et al. 2019): 64x64 Sentinel-2 patches, 10 land "
                "cover classes: a far domain (top-down, texture).",
                "https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip", None, "EuroSAT_RGB",
                "MIT (contains modified Copernicus Sentinel-2 data)", "Helber P, Bischke B, Dengel A, Borth D (2019) "
                "IEEE JSTARS 12(7):2217-2226, doi:10.1109/JSTARS.2019.2918242", ("landcover",),
                "https://github.com/phelber/EuroSAT"),
    # Confirmation sets (disjoint from the small ones): choose settings on the small set, confirm once here.
    DatasetSpec("eurosat_more", "eurosat_more", "1,500 more EuroSAT RGB tiles (150 per class), disjoint from "
                "`eurosat` by name and bytes, no split of their own: the confirmation set for the far domain.",
                "https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip", None, "EuroSAT_RGB",
                "MIT (contains modified Copernicus Sentinel-2 data)", "Helber P, Bischke B, Dengel A, Borth D (2019) "
                "IEEE JSTARS 12(7):2217-2226, doi:10.1109/JSTARS.2019.2918242", ("landcover",),
                "https://github.com/phelber/EuroSAT"),
    DatasetSpec("chest_xray_more", "chest_xray_more", "1,023 more pediatric chest X-rays (341 normal / bacterial / "
                "viral), disjoint from `chest_xray` by file and by patient, no split: group splits by patient.",
                None, None, "chest_xray", "CC BY 4.0",
                "Kermany DS et al. (2018) Cell 172(5):1122-1131, doi:10.1016/j.cell.2018.02.010; Kermany D, Zhang K, "
                "Goldbaum M (2018) Mendeley Data v2, doi:10.17632/rscbjbr9sj.2",
                ("normal_vs_pneumonia", "bacteria_vs_virus"), "https://data.mendeley.com/datasets/rscbjbr9sj/2"),
):
    register_dataset(_spec)
del _spec


def dataset_root(name: str) -> Path:
    """The folder of `name` under ``env.data_dir()``; if missing, say where we looked and how to get it."""
    spec = get_dataset_spec(name)
    root = env.data_dir() / spec.folder
    if not root.is_dir():
        raise DataError(f"data set {name!r} not found: looked for the folder {root}. Set COURSE_DATA_DIR to the "
                        f"folder that holds {spec.folder}/ (CI uses ../shared/datasets), or download it with "
                        f"`python -m course_lib fetch-data {name}`.")
    return root


# --------------------------------------------------------------------------- download
def parse_checksum(text: str) -> tuple[str, str]:
    """``"sha256:<hex>"`` or ``"md5:<hex>"`` -> (algorithm, digest); anything else raises DataError saying the form."""
    algo, sep, digest = (s.strip().lower() for s in text.partition(":"))
    if not sep or algo not in _HASHES or not re.fullmatch(r"[0-9a-f]+", digest) \
            or len(digest) != 2 * hashlib.new(algo).digest_size:
        raise DataError(f"checksum {text!r} is not of the form 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'.")
    return algo, digest


def download_file(url: str, out: Path, algo: str) -> str:
    """Stream `url` into `out` and return its hex digest under `algo` (the caller compares it with the expected one)."""
    digest = hashlib.new(algo)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(out, "wb") as f:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
    except (OSError, ValueError) as e:
        raise DataError(f"download of {url} failed ({e}); check the address and the connection.") from e
    return digest.hexdigest()


def _extract(archive: Path, out: Path, archive_root: str | None) -> Path:
    """Unpack a zip/tar into `out`, refusing members that would land outside it; return the data folder."""
    out.mkdir()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (out / member).resolve().is_relative_to(out.resolve()):
                    raise DataError(f"archive member {member!r} would be written outside the target; refused.")
            zf.extractall(out)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(out, filter="data")  # refuses absolute paths, '..' and links leaving `out`
    else:
        raise DataError("the download is neither a zip nor a tar archive; check the URL.")
    if archive_root and (out / archive_root).is_dir():
        return out / archive_root
    tops = [p for p in out.iterdir() if p.name != "__MACOSX" and not p.name.startswith(".")]
    if len(tops) == 1 and tops[0].is_dir():  # e.g. a mirror that names the top folder differently
        return tops[0]
    if archive_root:
        raise DataError(f"the archive has no folder {archive_root!r}; it holds {sorted(p.name for p in tops)[:10]}.")
    return out


def _local_address(url: str) -> bool:
    """A server on this machine (a classroom mirror, a test): reachable even when the kit is offline."""
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1")


def fetch_dataset(name: str, dest: str | os.PathLike | None = None, url: str | None = None,
                  checksum: str | None = None, trust_unverified: bool = False) -> Path:
    """Download, verify and unpack `name` into ``dest/<folder>`` (default ``env.data_dir()``); return the folder.

    Already there: a no-op. Download and unpacking happen in a temporary folder under `dest`; one rename puts
    the data in place only after the checksum matched, so a failure never leaves a half data set behind.
    """
    spec = get_dataset_spec(name)
    dest = Path(dest).expanduser().resolve() if dest is not None else env.data_dir()
    target = dest / spec.folder
    if target.is_dir() and any(target.iterdir()):
        return target
    url = url or spec.url
    if not url:
        raise DataError(f"{name!r} has no single archive to download: get it from {spec.homepage} and unpack it "
                        f"into {target}.")
    checksum = checksum or spec.checksum
    if checksum is None and not trust_unverified:
        raise DataError(f"no published checksum is known for {url}, so the download cannot be verified. Pass "
                        "checksum='sha256:<hex>' (or 'md5:<hex>') if you have one, or trust_unverified=True.")
    expected = parse_checksum(checksum) if checksum else None
    if url.startswith(("http://", "https://")) and env.is_offline() and not _local_address(url):
        raise DataError(f"cannot download {url}: offline (COURSE_OFFLINE=1 or no network); copy the data into "
                        f"{target} instead.")
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{spec.folder}-", dir=dest))
    try:
        got = download_file(url, work / "archive", expected[0] if expected else "sha256")
        if expected and got != expected[1]:
            raise DataError(f"checksum mismatch for {url}: expected {expected[0]}:{expected[1]}, got {got}. "
                            "The download was deleted and nothing was unpacked; retry, or check the URL and checksum.")
        root = _extract(work / "archive", work / "unpacked", spec.archive_root)
        try:
            os.replace(root, target)
        except OSError:
            if not (target.is_dir() and any(target.iterdir())):  # else another process finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- tables
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


def _read_labels(root: Path) -> pd.DataFrame | None:
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


def _chest_meta(stem: str, label: str) -> tuple[str, str]:
    """(subtype, patient id) from an official file name: IM-0117-0001, NORMAL2-IM-0389-0001, person12_virus_3."""
    normal, person = re.match(r"(NORMAL2-)?IM-(\d+)", stem), re.match(r"(person\d+)", stem)
    patient = f"{normal[1] or ''}{normal[2]}" if normal else person[1] if person else stem
    low = stem.lower()
    subtype = "normal" if label == "NORMAL" else "bacteria" if "bacteria" in low else "virus" if "virus" in low else ""
    return subtype, patient


def _camera_group(row) -> str:
    """What must stay together: a camtrapR burst (station + minute), a Serengeti sequence, else the file alone."""
    parts = row["file"].split("/")
    if len(parts) > 3 and parts[1] == "camtrapR_sabah":
        m = re.search(r"__(\d{4}-\d{2}-\d{2})__(\d{2})-(\d{2})", parts[-1])
        return f"{parts[2]}@{m[1]}T{m[2]}:{m[3]}" if m else parts[2]
    m = re.search(r"seq_id=(\w+)", row.get("notes", "")) or re.search(r"sequence (\w+)", row["source_dataset"])
    return f"seq:{m[1]}" if m else f"{row['source_dataset']}|{row['file']}"


def _frame(name: str, root: Path, task: str) -> pd.DataFrame:
    """Rows of `task` with at least file, class_name and split (and group where the data set has one)."""
    df = _read_labels(root)
    if name == "camera_traps":
        if df is None:
            raise DataError(f"{root / 'labels.csv'} is missing, and the camera-trap labels live only there: "
                            "copy the folder again from the course data.")
        df = df[df["species"] != "unlabeled"]
        if task == "empty_vs_animal":  # a vehicle is neither: left out
            df = df[df["species"] != "vehicle"]
            df = df.assign(class_name=np.where(df["species"] == "empty", "empty", "animal"))
        else:
            df = df.assign(class_name=df["species"])
        return df.assign(group=[_camera_group(r) for r in df.to_dict("records")])
    if df is None:  # e.g. the official archive, fetched: no labels.csv
        df = _scan_tree(root)
    if name in ("chest_xray", "chest_xray_more"):
        if "patient_id" not in df:
            meta = [_chest_meta(Path(f).stem, lab) for f, lab in zip(df["file"], df["label"])]
            df = df.assign(subtype=[m[0] for m in meta], patient_id=[m[1] for m in meta])
        df = df.assign(group=df["patient_id"])
        if task == "bacteria_vs_virus":
            df = df[df["label"] == "PNEUMONIA"]
            return df.assign(class_name=df["subtype"])
    elif name == "hymenoptera":
        df = df.assign(group=[Path(f).stem for f in df["file"]])
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
    df = _frame(name, root, task).reset_index(drop=True)
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


# --------------------------------------------------------------------------- splits
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


def _preview(items: Sequence[str], n: int = 5) -> str:
    return ", ".join(map(str, items[:n])) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def assert_no_leak(train: ImageTable, val: ImageTable) -> None:
    """Raise DataError if a file, or a group (patient, burst), is in both train and val."""
    problems = []
    shared = sorted({str(p) for p in train.paths} & {str(p) for p in val.paths})
    if shared:
        problems.append(f"{len(shared)} file(s) in both: {_preview(shared)}")
    if train.groups is not None and val.groups is not None:
        both = sorted(set(train.groups.tolist()) & set(val.groups.tolist()))
        if both:
            problems.append(f"{len(both)} group(s) in both: {_preview(both)}")
    if problems:
        raise DataError("train/val leak: " + "; ".join(problems) + ". Near-identical images inflate val accuracy; "
                        "build the split with group_split(...).")


# --------------------------------------------------------------------------- images
def _to_rgb8(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha onto white; 16-bit/float scaled by their value range, never clipped."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.clip(a, 0, 255)
        return Image.fromarray(np.round(a).astype(np.uint8)).convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, ...


def open_image(path: str | os.PathLike) -> Image.Image:
    """The image at `path` as upright (EXIF orientation applied) 8-bit RGB, fully decoded.

    A missing, truncated or corrupt file raises ImageLoadError naming it, here and not deep inside a DataLoader.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"image file {path} does not exist; check the path, or fetch the data set again.")
    try:
        with Image.open(path) as im:
            im.load()  # decode now: truncated files fail here (LOAD_TRUNCATED_IMAGES is left alone)
            return _to_rgb8(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageLoadError(f"cannot decode image {path} ({type(e).__name__}: {e}): the file is truncated or corrupt. "
                             "Delete it or re-download the data set.") from e


def scan_images(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, str]]:
    """(path, message) for every file open_image cannot load; an empty list means all are fine."""
    bad = []
    for p in paths:
        try:
            open_image(p)
        except ImageLoadError as e:
            bad.append((Path(p), str(e)))
    return bad


class ImageDataset(torch.utils.data.Dataset):
    """(tensor, label) pairs of an ImageTable for a DataLoader; `transform` defaults to a plain to-tensor.

    A bad file raises ImageLoadError when reached; ``skip_bad=True`` decodes all files once now and drops the
    bad ones with a warning naming them (``.skipped``).
    """

    def __init__(self, table: ImageTable, transform=None, skip_bad: bool = False):
        self.skipped: list[Path] = []
        if skip_bad and (bad := scan_images(table.paths)):
            self.skipped = [p for p, _ in bad]
            drop = {str(p) for p in self.skipped}
            table = table.subset([i for i, p in enumerate(table.paths) if str(p) not in drop])
            warnings.warn(f"skipped {len(bad)} unreadable image(s): {_preview([str(p) for p in self.skipped], 20)}",
                          stacklevel=2)
        self.table, self.transform, self.classes = table, transform, table.classes

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        image = open_image(self.table.paths[i])
        if self.transform is None:
            from torchvision.transforms.functional import to_tensor

            return to_tensor(image), int(self.table.labels[i])
        return self.transform(image), int(self.table.labels[i])


# --------------------------------------------------------------------------- transforms
def data_config(model_or_cfg, input_size: int | tuple[int, int] | None = None) -> dict:
    """The preprocessing the weights were trained with (size, interpolation, mean/std, crop), as timm resolves it.

    Takes a model (its ``pretrained_cfg``) or a cfg dict; `input_size` (e.g. 160 in the fast profile) changes
    only the resolution.
    """
    import timm.data

    if isinstance(model_or_cfg, torch.nn.Module):
        cfg = timm.data.resolve_model_data_config(model_or_cfg)
    elif isinstance(model_or_cfg, Mapping) or hasattr(model_or_cfg, "to_dict"):
        raw = model_or_cfg.to_dict() if hasattr(model_or_cfg, "to_dict") else dict(model_or_cfg)
        cfg = timm.data.resolve_data_config(pretrained_cfg=raw)
    else:
        raise CourseLibError(f"data_config needs a model or a cfg dict, not {type(model_or_cfg).__name__}.")
    if input_size is not None:
        hw = (int(input_size),) * 2 if np.ndim(input_size) == 0 else tuple(int(s) for s in input_size)[-2:]
        cfg["input_size"] = (cfg["input_size"][0], *hw)
    return cfg


def eval_transform(model_or_cfg, input_size: int | tuple[int, int] | None = None):
    """Resize, centre crop and normalise exactly as the model's config says (timm create_transform)."""
    import timm.data

    return timm.data.create_transform(**data_config(model_or_cfg, input_size), is_training=False)


def train_transform(model_or_cfg, input_size: int | tuple[int, int] | None = None):
    """Light augmentation for small data (random resized crop scale 0.5-1, horizontal flip, mild colour jitter),
    with the model's mean/std and interpolation so train and eval inputs match."""
    import timm.data

    cfg = data_config(model_or_cfg, input_size)
    return timm.data.create_transform(
        input_size=cfg["input_size"], is_training=True, scale=(0.5, 1.0), hflip=0.5, vflip=0.0, color_jitter=0.1,
        auto_augment=None, re_prob=0.0, interpolation=cfg["interpolation"], mean=cfg["mean"], std=cfg["std"])


# --------------------------------------------------------------------------- your own images
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
                     f"folder, and were left out: {_preview(loose)}. Move them into a <class>/ folder.")
    depths = {sum(p.lower() not in _FOLDER_SPLITS for p in Path(f).parts) for f in folders}
    if len(depths) > 1:
        notes.append(f"class folders sit at different depths under {root} ({_preview(folders)}); each image's class "
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
                     f"{_preview(list(unlabelled['file']))}. Fill in their label or delete the rows.")
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
                _to_rgb8(ImageOps.exif_transpose(im))
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
        msg = f"{len(bad)} of {len(df)} image file(s) under {src.where} cannot be read: {_preview(items)}."
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
        src.notes.append(f"{len(empty)} {what} {src.where} hold no readable image: {_preview(empty)}"
                         + (f"; class(es) {gone} are therefore left out of `classes`" if gone else "")
                         + ". Add images there or delete the folder/rows.")
    if len(classes) < 2:
        raise DataError(f"{src.where} gives {len(classes)} class(es) with readable images {classes}, from {len(df)} "
                        f"readable and {n_bad} bad image file(s)" + (f"; empty: {_preview(empty)}" if empty else "")
                        + ". A classifier needs at least 2: lay the images out as <class>/<image> folders "
                        "(optionally under train/ val/ test/), or list them in a CSV with columns file,label.")
    return classes


def _odd_size_note(df: pd.DataFrame, min_side: int, max_aspect: float) -> str | None:
    """Tiny or elongated images: kept, but resizing to the model's input blows them up or squashes them."""
    short, long = np.minimum(df["width"], df["height"]), np.maximum(df["width"], df["height"])
    small, wide = df[short < min_side], df[long > max_aspect * short]
    if small.empty and wide.empty:
        return None
    show = lambda d: _preview([f"{p} ({w}x{h})" for p, w, h in zip(d["path"], d["width"], d["height"])])  # noqa: E731
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
             f"{_preview(show, 3)}. Copies inflate validation scores when they land on both sides of a split, and "
             "make LogME and other transferability scores over-confident. They are kept; frame['duplicate_of'] "
             "names the first copy. Delete the extra files, or keep one of each: "
             "table.subset(table.frame['duplicate_of'].isna())."]
    conflicts = ["[" + " = ".join(f"{p} ({c!r})" for p, c in zip(g["path"], g["class_name"])) + "]"
                 for g in sets if g["class_name"].nunique() > 1]
    if conflicts:
        notes.append(f"label conflict: {len(conflicts)} set(s) of identical files carry different labels: "
                     f"{_preview(conflicts, 3)}. The same image cannot be both; fix the label or delete the copy "
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
