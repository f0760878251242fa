"""COCO Camera Traps (CCT): the JSON format of LILA's camera-trap data sets, read into the course's ImageTable.

A CCT file holds ``images`` (id, file_name, width, height, location, seq_id, ...), ``annotations`` (image_id,
category_id and, where someone drew one, an absolute ``bbox`` ``[x, y, w, h]`` in pixels) and ``categories``
(id, name). :func:`load_cct` turns it into the same :class:`~course_lib.data.ImageTable` that
``data.load_dataset("camera_traps")`` gives (species label, count, normalised boxes, groups from location or
sequence), so every later cell of lab 04 runs unchanged on Snapshot Serengeti, Caltech or Missouri Camera Traps.
:func:`write_cct` writes a table back out in the format (the round trip is tested), and :func:`fetch_cct`
downloads a metadata file with the same checksum rule as ``data.fetch_dataset``. Used in: 04.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from . import data, env
from .errors import DataError

EMPTY_NAMES = ("empty", "blank", "nothinghere")        # how LILA data sets spell "no animal"
NOT_ANIMAL = ("human", "person", "vehicle", "car")     # left out of the empty_vs_animal task, as data/course.py does
GROUP_BY = ("location", "seq_id", "image")
TASKS = ("species", "empty_vs_animal")

# Where to find the files for a real run: each LILA page lists the metadata file (often .json.zip) and the image
# base address; LILA's master list of camera-trap data sets (a CSV linked from lila.science) names them all.
LILA_HOMEPAGES = {
    "snapshot_serengeti": "https://lila.science/datasets/snapshot-serengeti",
    "caltech_camera_traps": "https://lila.science/datasets/caltech-camera-traps",
    "missouri_camera_traps": "https://lila.science/datasets/missouricameratraps",
    "nacti": "https://lila.science/datasets/nacti",
    "wellington_camera_traps": "https://lila.science/datasets/wellingtoncameratraps",
    "wcs_camera_traps": "https://lila.science/datasets/wcscameratraps",
}


# --------------------------------------------------------------------------- reading
def read_cct(path: str | os.PathLike) -> dict:
    """The CCT dictionary in a ``.json`` file or a ``.zip`` holding one (LILA ships ``*.json.zip``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no CCT metadata file at {path}; download it with cct.fetch_cct(url, dest, checksum=...) "
                        "or check the path.")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith(".json") and not n.startswith("__MACOSX")]
                if len(names) != 1:
                    raise DataError(f"{path} should hold exactly one .json file, it holds {names or zf.namelist()[:5]}.")
                meta = json.loads(zf.read(names[0]).decode("utf-8"))
        else:
            meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); the download may be truncated: fetch it again.") from e
    missing = [k for k in ("images", "annotations", "categories") if k not in meta]
    if missing:
        raise DataError(f"{path} is not a COCO Camera Traps file: it has no {missing} (keys: {sorted(meta)[:8]}).")
    return meta


def _count_value(value) -> float:
    """An annotation's count: Snapshot Serengeti writes strings such as "3" or "11-50"; a range is not a count."""
    if value is None:
        return np.nan
    text = str(value).strip()
    return float(text) if re.fullmatch(r"\d+", text) else np.nan


def cct_frame(meta: dict) -> pd.DataFrame:
    """One row per image: file, species (the most frequent animal category; 'empty' if only empty ones), every
    category in ``species_all``, ``count`` (boxes if any, else the annotations' count fields, 0 for empty, NA if
    unknown), ``bbox_xywh_norm`` (normalised ``x y w h``, ';'-separated, as in camera_traps/labels.csv), location,
    seq_id, width, height, split (a non-standard field that write_cct adds; None elsewhere)."""
    cats = {c["id"]: str(c["name"]) for c in meta["categories"]}
    by_image: dict = {}
    for a in meta["annotations"]:
        if a.get("category_id") not in cats:
            raise DataError(f"annotation {a.get('id')!r} names category {a.get('category_id')!r}, which is not in "
                            f"'categories' ({sorted(cats)[:10]} ...): the file is inconsistent.")
        by_image.setdefault(a["image_id"], []).append(a)
    rows = []
    for im in meta["images"]:
        anns = by_image.get(im["id"], [])
        names = [cats[a["category_id"]] for a in anns]
        animals = [n for n in names if n.lower() not in EMPTY_NAMES]
        if animals:
            species = Counter(animals).most_common(1)[0][0]   # ties: the first named, in annotation order
        elif names:
            species = "empty"
        else:
            species = "unlabeled"
        w, h = im.get("width"), im.get("height")
        boxes = [a["bbox"] for a in anns if a.get("bbox") is not None]
        if boxes and not (w and h):
            raise DataError(f"image {im['id']!r} has boxes but no width/height, so they cannot be normalised; "
                            "add the sizes to 'images' (read them from the files).")
        norm = ";".join(" ".join(f"{v:.6f}" for v in (x / w, y / h, bw / w, bh / h)) for x, y, bw, bh in boxes)
        if species == "empty":
            count = 0.0
        elif boxes:
            count = float(len(boxes))
        else:
            counts = [_count_value(a.get("count")) for a in anns if cats[a["category_id"]].lower() not in EMPTY_NAMES]
            count = float(np.sum(counts)) if counts and not np.isnan(counts).any() else np.nan
        rows.append({"image_id": str(im["id"]), "file": str(im["file_name"]), "species": species,
                     "species_all": ";".join(sorted(set(animals))), "count": count, "bbox_xywh_norm": norm,
                     "location": None if im.get("location") is None else str(im["location"]),
                     "seq_id": None if im.get("seq_id") is None else str(im["seq_id"]),
                     "frame_num": im.get("frame_num"), "datetime": im.get("datetime", im.get("date_captured")),
                     "width": w, "height": h, "split": im.get("split")})
    df = pd.DataFrame(rows)
    if df.empty:
        raise DataError("the CCT file lists no images.")
    df["count"] = df["count"].astype("Float64").round().astype("Int64")
    return df


def _resolve_paths(files: Sequence[str], image_root: Path | None, match: str) -> list[Path]:
    if image_root is None:
        return [Path(f) for f in files]
    if match == "path":
        return [image_root / f for f in files]
    if match != "basename":
        raise DataError(f"match={match!r}: use 'path' (file_name relative to image_root) or 'basename'.")
    index: dict[str, list[Path]] = {}
    for p in image_root.rglob("*"):
        if p.suffix.lower() in data.IMAGE_SUFFIXES:
            index.setdefault(p.name, []).append(p)
    out = []
    for f in files:
        hits = index.get(Path(f).name, [])
        if len(hits) > 1:
            raise DataError(f"{Path(f).name!r} matches {len(hits)} files under {image_root} ({hits[:2]}); use "
                            "match='path' with the right image_root.")
        out.append(hits[0] if hits else image_root / f)
    return out


def load_cct(json_path: str | os.PathLike, image_root: str | os.PathLike | None = None, *, name: str = "cct",
             task: str = "species", group_by: str = "location", match: str = "path", require_images: bool = True,
             min_count: int = 1) -> data.ImageTable:
    """A CCT file as an ImageTable, like ``data.load_dataset('camera_traps')``: classes sorted by name, the frame
    with species, count and boxes, and ``groups`` that must not be split (default: the camera ``location``, the
    unit LILA's own splits and Beery et al. 2018 keep apart; ``'seq_id'``: one burst; missing values fall back to
    the sequence, then the image).

    - ``image_root``: where the images are (``file_name`` is relative to it); ``match='basename'`` finds each file
      by name anywhere below it (the shipped Serengeti json names paths of its source repository).
    - ``require_images=False`` loads the metadata alone (paths may not exist yet), e.g. to plan a download.
    - Images with no annotation are 'unlabeled' and left out; so are classes with fewer than ``min_count`` images.
    """
    if task not in TASKS:
        raise DataError(f"task={task!r}: use one of {TASKS}.")
    if group_by not in GROUP_BY:
        raise DataError(f"group_by={group_by!r}: use one of {GROUP_BY}.")
    df = cct_frame(read_cct(json_path))
    df = df[df["species"] != "unlabeled"]
    if task == "empty_vs_animal":
        df = df[~df["species"].str.lower().isin(NOT_ANIMAL)]
        df = df.assign(class_name=np.where(df["species"] == "empty", "empty", "animal"))
    else:
        df = df.assign(class_name=df["species"])
    if min_count > 1:
        counts = df["class_name"].value_counts()
        df = df[df["class_name"].map(counts) >= min_count]
    if df.empty:
        raise DataError(f"no labelled images left in {json_path} for task {task!r} (min_count={min_count}).")
    df = df.reset_index(drop=True)
    order = {"location": ("location", "seq_id"), "seq_id": ("seq_id",), "image": ()}[group_by]
    groups = []
    for r in df.to_dict("records"):  # the asked-for column as it is; a fallback says which one it is
        if order and not pd.isna(r[order[0]]):
            groups.append(r[order[0]])
        else:
            groups.append(next((f"{c}:{r[c]}" for c in order[1:] if not pd.isna(r[c])), f"image:{r['image_id']}"))
    df["group"] = groups
    root = Path(image_root).expanduser().resolve() if image_root is not None else None
    paths = _resolve_paths(list(df["file"]), root, match)
    if require_images:
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{len(missing)} of {len(paths)} images listed in {json_path} are not under {root}, "
                            f"e.g. {missing[:2]}. Download them (cct.fetch_cct_images), point image_root at their "
                            "folder, try match='basename', or pass require_images=False for the metadata alone.")
    df.insert(0, "path", [str(p) for p in paths])
    classes = sorted(df["class_name"].unique())
    split = df["split"].where(df["split"].isin(["train", "val"]), None)
    has_split = split.notna().any()
    return data.ImageTable(name, task, paths, np.array([classes.index(c) for c in df["class_name"]], dtype=np.int64),
                           classes, df["group"].to_numpy(dtype=str), split.to_numpy(dtype=object) if has_split else None,
                           df.assign(split=split))


# --------------------------------------------------------------------------- writing
def _sizes(frame: pd.DataFrame, paths: Sequence[Path]) -> list[tuple[int, int]]:
    out = []
    for i, p in enumerate(paths):
        w = frame["width"].iloc[i] if "width" in frame else None
        h = frame["height"].iloc[i] if "height" in frame else None
        if pd.isna(w) or pd.isna(h) or w is None:
            with Image.open(p) as im:
                w, h = im.size
        out.append((int(w), int(h)))
    return out


def write_cct(table: data.ImageTable, path: str | os.PathLike, root: str | os.PathLike | None = None, *,
              locations: Sequence[str] | None = None, seq_ids: Sequence[str] | None = None,
              info: dict | None = None) -> dict:
    """Write `table` (with ``species``/``class_name``, ``count``, ``bbox_xywh_norm`` in its frame) as CCT JSON.

    ``file_name`` is relative to `root` (default: the frame's ``file`` column); boxes go back to absolute pixels of
    the image size (``width``/``height`` columns, else read from the file); one annotation per box, or one without
    a box carrying ``count`` when only a count is known; empty frames get the category 'empty' (id 0, as on
    LILA). ``seq_id`` defaults to ``table.groups`` and ``location`` to a ``location`` column; the table's own
    split goes into a non-standard ``split`` field of each image. Returns the dictionary it wrote.
    """
    from .wildlife import parse_boxes

    frame = table.frame.reset_index(drop=True)
    if root is not None:
        files = [Path(p).resolve().relative_to(Path(root).resolve()).as_posix() for p in table.paths]
    elif "file" in frame:
        files = list(frame["file"])
    else:
        files = [Path(p).name for p in table.paths]
    species = list(frame["species"] if "species" in frame else [table.classes[i] for i in table.labels])
    seq_ids = list(seq_ids) if seq_ids is not None else (list(table.groups) if table.groups is not None else files)
    locations = list(locations) if locations is not None else list(frame.get("location", [None] * len(frame)))
    names = sorted(set(species) - {"empty"})
    cat_id = {"empty": 0, **{n: i + 1 for i, n in enumerate(names)}}
    sizes = _sizes(frame, table.paths)
    images, annotations = [], []
    for i, f in enumerate(files):
        w, h = sizes[i]
        image_id = f.rsplit(".", 1)[0]
        im = {"id": image_id, "file_name": f, "width": w, "height": h, "seq_id": str(seq_ids[i])}
        if locations[i] is not None and not pd.isna(locations[i]):
            im["location"] = str(locations[i])
        if table.split is not None and table.split[i] is not None:
            im["split"] = str(table.split[i])
        images.append(im)
        sp = species[i]
        boxes = parse_boxes(frame["bbox_xywh_norm"].iloc[i] if "bbox_xywh_norm" in frame else "")
        base = {"image_id": image_id, "category_id": cat_id[sp]}
        if sp == "empty" or not len(boxes):
            ann = {**base, "id": f"{image_id}#0"}
            count = frame["count"].iloc[i] if "count" in frame else None
            if sp != "empty" and count is not None and not pd.isna(count):
                ann["count"] = int(count)
            annotations.append(ann)
        for k, (x, y, bw, bh) in enumerate(boxes):
            annotations.append({**base, "id": f"{image_id}#{k}", "bbox": [x * w, y * h, bw * w, bh * h]})
    meta = {"info": {"description": f"{table.name} written by course_lib.cct.write_cct", "version": "1.0",
                     **(info or {})},
            "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in sorted(cat_id.items(), key=lambda kv: kv[1])
                           if n != "empty" or "empty" in species]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=1))
    return meta


# --------------------------------------------------------------------------- downloading
def fetch_cct(url: str, dest: str | os.PathLike | None = None, checksum: str | None = None,
              trust_unverified: bool = False) -> Path:
    """Download a CCT metadata file (``.json`` or ``.json.zip``) into `dest` and return the path of the JSON.

    The same rule as ``data.fetch_dataset``: give the published ``checksum`` ("sha256:<hex>" or "md5:<hex>") or
    say ``trust_unverified=True``; the file is downloaded into a temporary name, checked, and only then renamed
    into place, so a mismatch leaves nothing behind. Already there: a no-op. ``file://`` addresses work offline.
    """
    name = Path(urllib.request.url2pathname(url.split("?", 1)[0].rsplit("/", 1)[-1])).name
    if not name:
        raise DataError(f"cannot tell the file name from {url!r}.")
    dest = Path(dest).expanduser().resolve() if dest is not None else env.data_dir() / "cct"
    target = dest / (name[:-4] if name.lower().endswith(".json.zip") else name)
    if target.is_file():
        return target
    if checksum is None and not trust_unverified:
        raise DataError(f"no checksum given for {url}, so the download cannot be verified. Pass the one published "
                        "on the data set's page (checksum='md5:<hex>' or 'sha256:<hex>'), or trust_unverified=True.")
    expected = data.parse_checksum(checksum) if checksum else None
    if url.startswith(("http://", "https://")) and env.is_offline():
        raise DataError(f"cannot download {url}: offline (COURSE_OFFLINE=1 or no network). Copy the file to "
                        f"{target} instead.")
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-cct-", dir=dest))
    try:
        got = data.download_file(url, work / "download", expected[0] if expected else "sha256")
        if expected and got != expected[1]:
            raise DataError(f"checksum mismatch for {url}: expected {expected[0]}:{expected[1]}, got {got}. The "
                            "download was deleted; retry, or check the address and the checksum.")
        meta = read_cct(work / "download")  # a zip is unpacked to its one json; anything else must parse
        (work / "meta.json").write_text(json.dumps(meta))
        os.replace(work / "meta.json", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def fetch_cct_images(table: data.ImageTable, base_url: str, image_root: str | os.PathLike,
                     limit: int | None = None) -> list[Path]:
    """Download the images of `table` (``base_url`` + ``file``) into `image_root`, skipping those already there.

    CCT carries no per-image checksum, so every file is verified by decoding it (``data.open_image``) before it
    is renamed into place; a bad one raises and leaves nothing. ``limit`` takes the first N (a quick start).
    """
    root = Path(image_root).expanduser().resolve()
    files = list(table.frame["file"])[:limit]
    done = []
    for f in files:
        target = root / f
        if not target.is_file():
            url = base_url.rstrip("/") + "/" + urllib.request.pathname2url(f).lstrip("/")
            if url.startswith(("http://", "https://")) and env.is_offline():
                raise DataError(f"cannot download {url}: offline (COURSE_OFFLINE=1 or no network).")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
            os.close(fd)
            try:
                data.download_file(url, Path(tmp), "sha256")
                data.open_image(tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        done.append(target)
    return done

