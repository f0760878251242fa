"""The wildlife case study: camera-trap frames with boxes and counts, leak-free groups, three pipelines, their cost.

What lab 04 needs beyond the general modules:

- boxes and frames: :func:`parse_boxes`, :func:`crop_box`, :func:`show_frames`, :func:`frame_kinds`, :func:`long_tail`;
- groups that keep near-duplicates together: :func:`stations`, :func:`capture_times`, :func:`event_groups`,
  :func:`with_groups`, :func:`random_vs_grouped_cv`, :func:`station_baseline`;
- metrics the field reports: :func:`top_k_accuracy`, :func:`macro_f1`, :func:`report`, :func:`coverage_curve`
  (accuracy against the share of images handled automatically, as in Norouzzadeh et al. 2018),
  :func:`multilabel_metrics`, :func:`count_metrics`;
- detect, crop, classify: torchvision's COCO detectors (:func:`detector_status`, :func:`load_detector`,
  :func:`detect`), the labels' boxes standing in for a detector offline (:func:`standin_detections`), crops
  written once (:func:`write_crops`);
- pretrained against scratch on equal terms (the same optimiser steps, the same BatchNorm treatment):
  :func:`train_arm`, :func:`compare_on_splits` over event splits, with the :func:`majority_accuracy` floor;
- the little-compute answer: :func:`pipeline_latency`, :func:`hours_per_million`, :func:`pick_pipeline`;
- a browser of predictions and errors: :func:`browse_predictions`.

The COCO Camera Traps loader for the full data sets is in :mod:`course_lib.cct`. Used in: 04.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from . import bench, data, env, models, train
from ._registry import Registry
from .errors import CourseLibError, DataError, WeightsUnavailableError

EMPTY = "empty"


# --------------------------------------------------------------------------- boxes
def parse_boxes(text) -> np.ndarray:
    """Boxes written as ``"x y w h; x y w h"`` (normalised to [0, 1]) as a ``k x 4`` float array; blank: ``0 x 4``."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA or not str(text).strip():
        return np.zeros((0, 4))
    boxes = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        try:
            values = [float(v) for v in part.replace(",", " ").split()]
        except ValueError:
            raise DataError(f"box {part.strip()!r} is not four numbers 'x y w h'.") from None
        if len(values) != 4:
            raise DataError(f"box {part.strip()!r} has {len(values)} numbers; write 'x y w h', boxes separated by ';'.")
        x, y, w, h = values
        if w <= 0 or h <= 0 or x < -1e-6 or y < -1e-6 or x + w > 1 + 1e-3 or y + h > 1 + 1e-3:
            raise DataError(f"box {part.strip()!r} is not inside the image: normalised x y w h must satisfy "
                            "0 <= x, 0 <= y, w > 0, h > 0, x + w <= 1, y + h <= 1 (absolute pixels? divide by the "
                            "image width and height).")
        boxes.append(values)
    return np.array(boxes, dtype=float).reshape(-1, 4)


def format_boxes(boxes: np.ndarray) -> str:
    """The inverse of :func:`parse_boxes` (4 decimals, as in labels.csv)."""
    return ";".join(" ".join(f"{v:.4f}" for v in b) for b in np.asarray(boxes).reshape(-1, 4))


def table_boxes(table: data.ImageTable) -> list[np.ndarray]:
    """The ground-truth boxes of every image of `table` (``0 x 4`` where none were drawn)."""
    column = table.frame.get("bbox_xywh_norm", pd.Series([""] * len(table)))
    return [parse_boxes(v) for v in column]


def to_pixels(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised ``x y w h`` box as integer pixel corners ``(x0, y0, x1, y1)`` inside a width x height image."""
    x, y, w, h = box
    x0, y0 = max(0, int(round(x * width))), max(0, int(round(y * height)))
    x1, y1 = min(width, int(round((x + w) * width))), min(height, int(round((y + h) * height)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def crop_box(image: Image.Image, box: Sequence[float], pad: float = 0.15, square: bool = True) -> Image.Image:
    """The animal in `box` with some context: the box grown by `pad` of its size on each side and, with `square`,
    widened to a square (classifiers read square inputs; a stretched animal is a different animal), clipped to the
    image. This is how detector crops are prepared for a species classifier."""
    width, height = image.size
    x, y, w, h = (float(v) for v in box)
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    bw, bh = w * width * (1 + 2 * pad), h * height * (1 + 2 * pad)
    if square:
        bw = bh = max(bw, bh)
    x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
    x1, y1 = min(float(width), cx + bw / 2), min(float(height), cy + bh / 2)
    return image.crop((int(x0), int(y0), max(int(round(x1)), int(x0) + 1), max(int(round(y1)), int(y0) + 1)))


def draw_boxes(ax, image: Image.Image, boxes: np.ndarray, labels: Sequence[str] | None = None,
               color: str = "#ffcc00") -> None:
    """Show `image` on `ax` with its normalised boxes drawn (and a label on each)."""
    from matplotlib.patches import Rectangle

    ax.imshow(image)
    width, height = image.size
    for i, (x, y, w, h) in enumerate(np.asarray(boxes).reshape(-1, 4)):
        ax.add_patch(Rectangle((x * width, y * height), w * width, h * height, fill=False, lw=2, color=color))
        if labels is not None and i < len(labels):
            ax.text(x * width, y * height, labels[i], color="black", fontsize=7, va="bottom",
                    bbox=dict(facecolor=color, alpha=0.8, pad=1, lw=0))
    ax.axis("off")


def show_frames(table: data.ImageTable, indices: Sequence[int], ncols: int = 4, size: float = 2.8,
                suptitle: str | None = None):
    """A grid of frames with their ground-truth boxes drawn; captions give species, count and source."""
    import matplotlib.pyplot as plt

    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    nrows = max(1, -(-len(indices) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        species = table.classes[table.labels[i]]
        draw_boxes(ax, data.open_image(table.paths[i]), boxes[i], [species] * len(boxes[i]))
        n = counts.iloc[i]
        source = str(table.frame["source_dataset"].iloc[i]).split(" (")[0][:30] if "source_dataset" in table.frame else ""
        ax.set_title(f"{species} (count {'?' if pd.isna(n) else int(n)})\n{source}", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- what the frames hold
def frame_kinds(table: data.ImageTable) -> pd.Series:
    """Per image: 'empty', 'one animal', 'several animals' or 'animal, count unknown' (from count, boxes, notes)."""
    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    notes = table.frame.get("notes", pd.Series([""] * len(table))).fillna("").astype(str)
    kinds = []
    for i in range(len(table)):
        species, n = table.classes[table.labels[i]], counts.iloc[i]
        n = len(boxes[i]) if pd.isna(n) and len(boxes[i]) else n
        if species == EMPTY:
            kinds.append("empty")
        elif not pd.isna(n):
            kinds.append("several animals" if int(n) > 1 else "one animal")
        elif re.search(r"several|herd|more than one", notes.iloc[i], re.I):
            kinds.append("several animals")
        else:
            kinds.append("animal, count unknown")
    return pd.Series(kinds, name="kind")


def long_tail(table: data.ImageTable) -> dict:
    """The long tail in numbers: images, classes, the largest class and its share, the share of the 5 largest,
    classes with 1 and with at most 2 images, and the ratio of the largest to the smallest class."""
    counts = table.class_counts().sort_values(ascending=False)
    counts = counts[counts > 0]
    n = int(counts.sum())
    return {"n_images": n, "n_classes": int(len(counts)), "largest_class": str(counts.index[0]),
            "largest_count": int(counts.iloc[0]), "largest_share": float(counts.iloc[0] / n),
            "top5_share": float(counts.iloc[:5].sum() / n), "singletons": int((counts == 1).sum()),
            "at_most_2": int((counts <= 2).sum()), "imbalance_ratio": float(counts.iloc[0] / counts.iloc[-1])}


# --------------------------------------------------------------------------- groups
_CAMTRAP = re.compile(r"(?P<station>[^/\\]+?)__(?P<date>\d{4}-\d{2}-\d{2})__(?P<h>\d{2})-(?P<m>\d{2})-(?P<s>\d{2})")
_SERENGETI = re.compile(r"S\d+_(?P<site>[A-Z]\d{2})_R\d+")


def stations(table: data.ImageTable) -> np.ndarray:
    """The camera location of every image: a camtrapR station, a Snapshot Serengeti site code, a CCT
    ``location`` column, else the source data set (one LILA test frame per place, so that is the honest unit)."""
    out = []
    frame = table.frame
    for i, p in enumerate(table.paths):
        m, s = _CAMTRAP.search(Path(p).name), _SERENGETI.search(Path(p).name)
        if "location" in frame and frame["location"].iloc[i] is not None and not pd.isna(frame["location"].iloc[i]):
            out.append(str(frame["location"].iloc[i]))
        elif m:
            out.append(m["station"])
        elif s:
            out.append(f"serengeti:{s['site']}")
        elif "source_dataset" in frame:
            out.append(str(frame["source_dataset"].iloc[i]))
        else:
            out.append(Path(p).parent.name)
    return np.array(out, dtype=object)


def capture_times(table: data.ImageTable) -> pd.Series:
    """When each image was taken, where the file name or a ``datetime`` column says (camtrapR names it); else NaT."""
    times = []
    for i, p in enumerate(table.paths):
        m = _CAMTRAP.search(Path(p).name)
        if m:
            times.append(pd.Timestamp(f"{m['date']} {m['h']}:{m['m']}:{m['s']}"))
        elif "datetime" in table.frame and table.frame["datetime"].iloc[i] is not None:
            times.append(pd.to_datetime(table.frame["datetime"].iloc[i], errors="coerce"))
        else:
            times.append(pd.NaT)
    return pd.Series(times, dtype="datetime64[ns]", name="time")


def event_groups(table: data.ImageTable, gap_minutes: float = 5.0) -> np.ndarray:
    """Independent events: frames of one station less than `gap_minutes` apart form one group (a chain: a visit
    that lasts ten minutes in one-minute bursts is one event). Near-identical frames of one visit must never sit on
    both sides of a split. Images without a time keep their table group. Ecologists call such groups independent
    detections (camtrapR's ``minDeltaTime``)."""
    times, where = capture_times(table), stations(table)
    base = table.groups if table.groups is not None else np.array([str(p) for p in table.paths])
    out = np.array([f"g:{g}" for g in base], dtype=object)
    frame = pd.DataFrame({"station": where, "time": times}).reset_index()
    for station, g in frame.dropna(subset=["time"]).sort_values("time").groupby("station"):
        event, last = 0, None
        for row in g.itertuples():
            if last is not None and (row.time - last).total_seconds() > gap_minutes * 60:
                event += 1
            out[row.index] = f"event:{station}#{event}"
            last = row.time
    return out.astype(str)


def with_groups(table: data.ImageTable, groups: Sequence[str]) -> data.ImageTable:
    """The same table with other groups (e.g. :func:`event_groups`), so ``data.group_split`` and
    ``data.assert_no_leak`` use them."""
    groups = np.asarray(groups, dtype=str)
    if len(groups) != len(table):
        raise DataError(f"need one group per image: {len(groups)} groups for {len(table)} images.")
    return dataclasses.replace(table, groups=groups, frame=table.frame.assign(group=groups))


def _concat(a: data.ImageTable, b: data.ImageTable) -> data.ImageTable:
    groups = None if a.groups is None or b.groups is None else np.concatenate([a.groups, b.groups])
    return data.ImageTable(a.name, a.task, [*a.paths, *b.paths], np.concatenate([a.labels, b.labels]), list(a.classes),
                           groups, None, pd.concat([a.frame, b.frame], ignore_index=True))


def shared_events(train_table: data.ImageTable, val_table: data.ImageTable, gap_minutes: float = 5.0) -> list[str]:
    """Events (:func:`event_groups`, computed over both sides together) that have frames in train and in val:
    each one is a visit the model has already seen when it is scored. An empty list means no leak."""
    both = _concat(train_table, val_table)
    ev = event_groups(both, gap_minutes)
    return sorted(set(ev[:len(train_table)]) & set(ev[len(train_table):]))


def event_split(table: data.ImageTable, val_fraction: float = 0.25, seed: int = 0,
                gap_minutes: float = 5.0) -> tuple[data.ImageTable, data.ImageTable]:
    """Train/val with whole events on one side (``data.group_split`` on :func:`event_groups`). Classes with a
    single event cannot be on both sides: they all go to train (a species seen once cannot be scored)."""
    grouped = with_groups(table, event_groups(table, gap_minutes))
    n_events = pd.Series(grouped.groups).groupby(grouped.labels).nunique()
    splittable = np.isin(grouped.labels, n_events[n_events >= 2].index.to_numpy())
    if not splittable.any():
        raise DataError("no class has two events, so no class can be on both sides; add images.")
    sub_idx, rest_idx = np.flatnonzero(splittable), np.flatnonzero(~splittable)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tr, va = data.group_split(grouped.subset(sub_idx).drop_rare(1), val_fraction=val_fraction, seed=seed)
    pos = {str(p): i for i, p in enumerate(grouped.paths)}
    train_idx = np.sort(np.concatenate([[pos[str(p)] for p in tr.paths], rest_idx]).astype(int))
    val_idx = np.sort(np.array([pos[str(p)] for p in va.paths], dtype=int))
    return grouped.subset(train_idx), grouped.subset(val_idx)


def random_vs_grouped_cv(X, y, groups, seeds: Iterable[int] = range(5), n_splits: int = 5,
                         C: float = 1.0) -> pd.DataFrame:
    """Linear-probe accuracy under random K-fold CV and under group K-fold CV, per seed (same features, same folds
    count): ``random - grouped`` is how much the random split flatters the model when near-duplicates leak."""
    import warnings

    rows = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            r = train.cross_val_probe(X, y, None, n_splits, seed=seed, C=C)
            g = train.cross_val_probe(X, y, groups, n_splits, seed=seed, C=C)
        rows.append({"seed": seed, "random": r["mean"], "grouped": g["mean"], "gap": r["mean"] - g["mean"]})
    return pd.DataFrame(rows)


def station_baseline(train_table: data.ImageTable, val_table: data.ImageTable) -> float:
    """Accuracy of predicting, for every val image, the most common training species at its station (no image
    looked at): what the background alone is worth. An unseen station counts as an error."""
    tr_st, va_st = stations(train_table), stations(val_table)
    majority = {}
    for st in set(tr_st):
        labels = train_table.labels[tr_st == st]
        majority[st] = int(np.bincount(labels).argmax())
    hits = [majority.get(st, -1) == int(y) for st, y in zip(va_st, val_table.labels)]
    return float(np.mean(hits))


def out_of_fold_proba(X, y, groups, n_classes: int, n_splits: int = 5, seed: int = 0, C: float = 1.0) -> np.ndarray:
    """Class probabilities for every image from a probe that never saw its group (StratifiedGroupKFold). A class
    missing from a training fold gets probability 0 there: a species never seen cannot be named."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    X, y = np.asarray(X), np.asarray(y)
    proba = np.zeros((len(y), n_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for tr, va in folds.split(X, y, groups):
            if len(np.unique(y[tr])) < 2:
                proba[va, y[tr][0]] = 1.0
                continue
            pipe = train.probe_pipeline(C, 2000, seed).fit(X[tr], y[tr])
            proba[np.ix_(va, pipe.classes_)] = pipe.predict_proba(X[va])
    return proba


def probe_proba(probe, X, n_classes: int) -> np.ndarray:
    """Probabilities of a fitted probe (``train.fit_linear_probe(...).model``) over all `n_classes` classes; classes
    it never saw get 0."""
    proba = np.zeros((len(X), n_classes))
    proba[:, probe.classes_] = probe.predict_proba(np.asarray(X))
    return proba


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

    from . import strategies

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


# --------------------------------------------------------------------------- metrics
def top_k_accuracy(probs, y, k: int = 3) -> float:
    """Share of images whose true class is among the `k` most probable (ties broken by class order)."""
    probs, y = np.asarray(probs), np.asarray(y)
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == y[:, None]).any(axis=1).mean())


def macro_f1(y_true, y_pred, labels: Sequence[int] | None = None) -> float:
    """F1 averaged over classes with equal weight (the long tail counts as much as the head); by default over
    the classes present in `y_true`."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = sorted(set(y_true.tolist())) if labels is None else list(labels)
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def report(y_true, probs, classes: Sequence[str], k: int = 3) -> dict:
    """Accuracy, balanced accuracy, macro-F1, top-k, per-class recall (classes present) and the confusion matrix."""
    probs = np.asarray(probs)
    y_pred = probs.argmax(1)
    m = train.evaluate_predictions(y_true, y_pred, classes)
    present = sorted(set(np.asarray(y_true).tolist()))
    return {"n": m.n, "accuracy": m.accuracy, "balanced_accuracy": m.balanced_accuracy,
            "macro_f1": macro_f1(y_true, y_pred, present), f"top{k}": top_k_accuracy(probs, y_true, k),
            "per_class_recall": {classes[c]: m.per_class_recall[classes[c]] for c in present},
            "confusion": m.confusion}


def share_handled(probs, threshold: float) -> float:
    """Share of images the model handles on its own: top probability at or above `threshold`."""
    probs = np.asarray(probs)
    return float((probs.max(axis=1) >= threshold).mean())


def coverage_curve(probs, y, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Norouzzadeh et al. (2018)'s trade-off: at each confidence threshold, the share of images handled
    automatically (top probability >= threshold) and the accuracy on those; the rest go to people. Accuracy is
    NaN where no image is handled."""
    probs, y = np.asarray(probs), np.asarray(y)
    thresholds = np.round(np.linspace(0, 0.99, 34), 3) if thresholds is None else np.asarray(thresholds, dtype=float)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    rows = []
    for t in thresholds:
        handled = conf >= t
        rows.append({"threshold": float(t), "coverage": float(handled.mean()), "n_handled": int(handled.sum()),
                     "accuracy": float(correct[handled].mean()) if handled.any() else float("nan")})
    return pd.DataFrame(rows)


def threshold_for(curve: pd.DataFrame, target_accuracy: float) -> dict | None:
    """The lowest threshold whose handled images reach `target_accuracy` (most coverage at that accuracy), or None."""
    ok = curve[(curve["accuracy"] >= target_accuracy) & (curve["n_handled"] > 0)]
    if ok.empty:
        return None
    row = ok.sort_values(["coverage", "threshold"], ascending=[False, True]).iloc[0]
    return {k: float(row[k]) for k in ("threshold", "coverage", "accuracy")}


def multilabel_metrics(true_sets: Sequence[Iterable[str]], pred_sets: Sequence[Iterable[str]]) -> dict:
    """Frames with several species: exact-set match, micro precision/recall/F1 over (frame, species) pairs, and
    per-species recall. An empty set means an empty frame."""
    true_sets, pred_sets = [set(s) for s in true_sets], [set(s) for s in pred_sets]
    if len(true_sets) != len(pred_sets) or not true_sets:
        raise CourseLibError(f"need one predicted set per frame: {len(true_sets)} true, {len(pred_sets)} predicted.")
    tp = sum(len(t & p) for t, p in zip(true_sets, pred_sets))
    fp = sum(len(p - t) for t, p in zip(true_sets, pred_sets))
    fn = sum(len(t - p) for t, p in zip(true_sets, pred_sets))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    species = sorted(set().union(*true_sets))
    per = {s: sum(s in p for t, p in zip(true_sets, pred_sets) if s in t) / sum(s in t for t in true_sets)
           for s in species}
    return {"n_frames": len(true_sets), "exact_match": float(np.mean([t == p for t, p in zip(true_sets, pred_sets)])),
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "per_species_recall": per}


def count_metrics(true_counts, pred_counts) -> dict:
    """Counting animals: mean absolute error, exact share, share within one; frames with an unknown true count
    (NaN/None) are left out and counted in ``n_unknown``."""
    t = pd.to_numeric(pd.Series(list(true_counts), dtype=object), errors="coerce").to_numpy(dtype=float)
    p = np.asarray(pred_counts, dtype=float)
    if len(t) != len(p):
        raise CourseLibError(f"need one predicted count per frame: {len(t)} true, {len(p)} predicted.")
    known = ~np.isnan(t)
    if not known.any():
        return {"n": 0, "n_unknown": int(len(t)), "mae": float("nan"), "exact": float("nan"), "within_one": float("nan")}
    err = np.abs(t[known] - p[known])
    return {"n": int(known.sum()), "n_unknown": int((~known).sum()), "mae": float(err.mean()),
            "exact": float((err == 0).mean()), "within_one": float((err <= 1).mean())}


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for a rate seen k times in n: what a recall measured on 3 frames can mean."""
    from scipy.stats import beta

    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


# --------------------------------------------------------------------------- detectors
@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    name: str          # torchvision builder
    weights: str       # its weights enum
    description: str


DETECTORS: Registry[DetectorSpec] = Registry("detector", "course_lib.wildlife.DETECTORS")
for _d in (
    DetectorSpec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights",
                 "SSDlite, MobileNetV3-Large backbone, 320 px: the light COCO detector"),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
                 "Faster R-CNN, MobileNetV3-Large FPN, low resolution (320 px)"),
    DetectorSpec("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights",
                 "Faster R-CNN, ResNet-50 FPN, 800 px: the classic two-stage detector (MegaDetector v4 was one)"),
):
    DETECTORS.register(_d)
COCO_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
COCO_VEHICLES = ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat")


def _detector_weights(name: str):
    import torchvision.models.detection as det

    return getattr(det, DETECTORS[name].weights).DEFAULT


def _detector_file(name: str) -> Path:
    import os

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_detector_weights(name).url)


def detector_status(name: str) -> str:
    """Whether the COCO weights of detector `name` can be loaded here, in a few words (like models.weights_status)."""
    from .models import weights as W

    path = _detector_file(name)
    if path.exists():
        try:
            W.verify_file(path, W.hash_prefix_from_name(path.name) or "")
        except WeightsUnavailableError:
            return f"cached file {path.name} has a sha256 MISMATCH"
        return f"yes: cached {path.name}, sha256 prefix verified"
    return f"download needed ({path.name}; offline: no)" if env.is_offline() else f"downloads {path.name} on first use"


def load_detector(name: str = "ssdlite320_mobilenet_v3_large", pretrained: bool = True, **kwargs) -> torch.nn.Module:
    """A torchvision COCO detector in eval mode. ``pretrained=True`` uses torchvision's ``weights=...DEFAULT`` (the
    file in ``TORCH_HOME`` is checked against the sha256 prefix in its name first); offline without the file it
    raises WeightsUnavailableError saying which file to fetch. ``pretrained=False``: random weights, backbone too
    (``weights=None, weights_backbone=None``), enough to check shapes and to time the architecture."""
    import torchvision.models.detection as det

    from .models import weights as W

    w = _detector_weights(name)  # an unknown name fails here, suggesting the close ones
    builder = getattr(det, name)
    if not pretrained:
        model = builder(weights=None, weights_backbone=None, **kwargs)
        model.course_weights = "random"
        return model.eval()
    path = _detector_file(name)
    if path.exists():
        W.verify_file(path, W.hash_prefix_from_name(path.name) or "", how_to_fix=f"Delete {path} and download again.")
    elif env.is_offline():
        raise WeightsUnavailableError(
            f"no COCO weights for {name!r} here: {path.name} is not in {path.parent} and this machine is offline. "
            f"When online, torchvision downloads it on first use ({w.url}); or copy the file into that folder. "
            f"For shapes and timing, load_detector({name!r}, pretrained=False) builds it with random weights.")
    model = builder(weights=w, **kwargs)
    model.course_weights = f"coco:torchvision:{path.name}"
    return model.eval()


def coco_kind(label: str) -> str:
    """MegaDetector's three classes from a COCO label: 'animal', 'person', 'vehicle', else 'other'."""
    return "animal" if label in COCO_ANIMALS else "person" if label == "person" else \
        "vehicle" if label in COCO_VEHICLES else "other"


@torch.inference_mode()
def detect(detector: torch.nn.Module, images: Sequence[Image.Image], score_threshold: float = 0.5) -> list[dict]:
    """Run a torchvision detector on PIL images: per image, normalised ``x y w h`` boxes, scores, COCO labels and
    their MegaDetector-style kind, above `score_threshold`."""
    from torchvision.transforms.functional import to_tensor

    categories = _detector_weights("ssdlite320_mobilenet_v3_large").meta["categories"]  # COCO, the same for all
    out = detector([to_tensor(im) for im in images])
    results = []
    for im, o in zip(images, out):
        keep = o["scores"] >= score_threshold
        b, w, h = o["boxes"][keep].cpu().numpy(), im.size[0], im.size[1]
        norm = np.stack([b[:, 0] / w, b[:, 1] / h, (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], 1) if len(b) \
            else np.zeros((0, 4))
        labels = [categories[int(i)] for i in o["labels"][keep]]
        results.append({"boxes": norm, "scores": o["scores"][keep].cpu().numpy(), "labels": labels,
                        "kinds": [coco_kind(l) for l in labels], "source": "detector"})
    return results


def standin_detections(table: data.ImageTable) -> list[dict]:
    """Offline stand-in for a detector: the boxes drawn in labels.csv. A frame with count 0 has no detection; a
    frame with an animal but no drawn box is 'whole frame' (the pipeline then classifies the whole image). Being
    the ground truth, the stand-in is a perfect detector: pipeline numbers built on it are upper bounds."""
    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    out = []
    for i in range(len(table)):
        if len(boxes[i]):
            out.append({"boxes": boxes[i], "scores": np.ones(len(boxes[i])), "kinds": ["animal"] * len(boxes[i]),
                        "source": "labels.csv box"})
        elif table.classes[table.labels[i]] == EMPTY or (not pd.isna(counts.iloc[i]) and int(counts.iloc[i]) == 0):
            out.append({"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "kinds": [], "source": "empty (count 0)"})
        else:
            out.append({"boxes": np.array([[0.0, 0.0, 1.0, 1.0]]), "scores": np.ones(1), "kinds": ["animal"],
                        "source": "whole frame (no box drawn)"})
    return out


def write_crops(paths: Sequence[str | Path], detections: Sequence[dict], out_dir: str | Path | None = None,
                pad: float = 0.15) -> pd.DataFrame:
    """Crop every detection to a JPEG file (named by content, so a second run reuses them and the features cache
    keys on them); a whole-frame detection keeps the original file. One row per crop: image index, crop path."""
    out_dir = Path(out_dir) if out_dir else env.cache_dir() / "crops"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (p, d) in enumerate(zip(paths, detections)):
        for k, box in enumerate(np.asarray(d["boxes"]).reshape(-1, 4)):
            if np.allclose(box, [0, 0, 1, 1]):
                rows.append({"image": i, "crop": str(p), "box": k})
                continue
            key = hashlib.sha256(Path(p).read_bytes() + repr((np.round(box, 6).tolist(), pad)).encode()).hexdigest()[:20]
            target = out_dir / f"{Path(p).stem[:40]}-{key}.jpg"
            if not target.exists():
                crop_box(data.open_image(p), box, pad=pad).save(target, quality=95)
            rows.append({"image": i, "crop": str(target), "box": k})
    return pd.DataFrame(rows, columns=["image", "crop", "box"])


@torch.inference_mode()
def imagenet_probability(model: torch.nn.Module, images: Sequence[Image.Image], label: str, transform) -> np.ndarray:
    """The untouched ImageNet head's probability of the class whose name starts with `label` (e.g. 'hippopotamus')."""
    names = models.imagenet_labels()
    idx = [i for i, n in enumerate(names) if n.lower().startswith(label.lower())]
    if not idx:
        raise CourseLibError(f"no ImageNet class starts with {label!r}; see models.imagenet_labels().")
    x = torch.stack([transform(im) for im in images])
    return model(x).softmax(-1)[:, idx[0]].numpy()


# --------------------------------------------------------------------------- cost
# Published speeds for the GPU column of the cost table: assumptions with their source, not measured here.
GPU_ASSUMPTIONS = {
    "detector": {"images_per_second": 11.4, "device": "NVIDIA RTX 3090", "what": "MegaDetector v5 (YOLOv5, 1280 px), "
                 "whole pipeline on a ~13,000-image Snapshot Karoo + Idaho benchmark",
                 "source": "MegaDetector User Guide, 'Benchmark timings' (agentmorris/MegaDetector, megadetector.md)"},
    "classifier": {"images_per_second": 7042.0, "device": "NVIDIA RTX 3090", "what": "tf_efficientnet_lite0 at 224 px, "
                   "AMP, batch 1024, model only (no JPEG decoding)",
                   "source": "timm results/benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv "
                             "(huggingface/pytorch-image-models)"},
}


def unlabeled_paths(root: str | Path | None = None) -> list[Path]:
    """The camera_traps images whose source gives no label (LILA test frames): usable to look at, never to score."""
    root = Path(root) if root is not None else data.dataset_root("camera_traps")
    labels = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    return [root / f for f in labels.loc[labels["species"] == "unlabeled", "file"]]


def hours_per_million(ms_per_image: float) -> float:
    """Hours to process one million images at `ms_per_image` (one stream, no overlap)."""
    return float(ms_per_image) * 1e6 / 1e3 / 3600


def pipeline_latency(classifier: torch.nn.Module, detector: torch.nn.Module | None = None, *, input_size: int = 224,
                     frame_size: tuple[int, int] = (256, 341), crops_per_frame: float = 1.0, warmup: int = 2,
                     steps: int = 5) -> dict:
    """Milliseconds per frame of a pipeline, measured here (``bench.measure_latency``, batch 1, CPU threads as set):
    the classifier on one whole frame, or a detector on the frame plus the classifier on ``crops_per_frame`` crops
    (timed as one batch of that many, rounded up). Random weights time the same as trained ones for a classifier;
    a detector's post-processing depends a little on how many boxes survive."""
    cls_bs = max(1, math.ceil(crops_per_frame)) if detector is not None else 1
    cls = bench.measure_latency(classifier, cls_bs, input_size, warmup=warmup, steps=steps, device="cpu")
    row = {"ms_classifier": cls.ms_per_batch * (crops_per_frame / cls_bs if detector is not None else 1.0),
           "ms_detector": 0.0}
    if detector is not None:
        det = bench.measure_latency(detector, 1, (3, *frame_size), warmup=max(1, warmup // 2), steps=max(2, steps // 2),
                                    device="cpu")
        row["ms_detector"] = det.ms_per_batch
    row["ms_per_frame"] = row["ms_classifier"] + row["ms_detector"]
    row["hours_per_million"] = hours_per_million(row["ms_per_frame"])
    return row


def fastest_threads(model: torch.nn.Module, input_size: int = 128, candidates: Sequence[int] | None = None,
                    batch_size: int = 2, steps: int = 2, blas_threads: int | None = 1) -> int:
    """The faster torch thread count for `model` here (:func:`course_lib.bench.fastest_threads`), and
    `blas_threads` for the BLAS libraries of NumPy and SciPy (None: the same count), through threadpoolctl.

    The probes' problems are tiny (under 100 x 1280), and SciPy's L-BFGS-B makes many small BLAS calls: with 2 BLAS
    threads on a busy machine one probe fit took 0.5 s of CPU here, with 1 thread 0.02 s. Both settings stay in
    force for the process. Returns the torch thread count.
    """
    import scipy.optimize  # noqa: F401 - load SciPy's own BLAS now: threadpoolctl limits only loaded libraries
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    best = bench.fastest_threads(model, input_size, batch_size, steps=steps, candidates=candidates)["threads"]
    threadpool_limits(limits=blas_threads or best, user_api="blas")
    return best


def pick_pipeline(table: pd.DataFrame, budget_hours: float, tie: float = 0.0) -> str:
    """From a table with columns pipeline, accuracy, hours_per_million: the most accurate pipeline that fits the
    budget; pipelines within `tie` of the best accuracy count as equal and the cheapest of them wins. Raises if
    none fits."""
    fits = table[table["hours_per_million"] <= budget_hours]
    if fits.empty:
        cheapest = table.sort_values("hours_per_million").iloc[0]
        raise CourseLibError(f"no pipeline fits {budget_hours:g} h per million images; the cheapest, "
                             f"{cheapest['pipeline']!r}, needs {cheapest['hours_per_million']:.1f} h.")
    best = fits["accuracy"].max()
    near = fits[fits["accuracy"] >= best - tie - 1e-12]
    return str(near.sort_values("hours_per_million").iloc[0]["pipeline"])


# --------------------------------------------------------------------------- browsing
def browse_predictions(paths: Sequence[str | Path], y_true, probs, classes: Sequence[str],
                       boxes: Sequence[np.ndarray] | None = None, k: int = 3, errors_first: bool = True,
                       title: str = "prediction"):
    """An ipywidgets panel: pick a frame (errors first, then least confident) and see it with its boxes and the
    top-k classes. Without a widget front end (CI, papermill) the default frame is drawn once as a plain figure.
    Returns the widget (built either way)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    probs, y_true = np.asarray(probs), np.asarray(y_true)
    pred, conf = probs.argmax(1), probs.max(1)
    order = np.lexsort((conf, pred == y_true)) if errors_first else np.argsort(conf)
    options = [(f"{'ERROR ' if pred[i] != y_true[i] else ''}{classes[y_true[i]]} -> {classes[pred[i]]} "
                f"({conf[i]:.2f}) {Path(paths[i]).name[:30]}", int(i)) for i in order]

    def show(i: int = int(order[0])):
        fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3))
        draw_boxes(a, data.open_image(paths[i]), boxes[i] if boxes is not None else np.zeros((0, 4)))
        a.set_title(f"true: {classes[y_true[i]]}", fontsize=9)
        top = np.argsort(-probs[i])[:k]
        b.barh([classes[c] for c in top][::-1], probs[i][top][::-1],
               color=["#55A868" if c == y_true[i] else "#C44E52" for c in top][::-1])
        b.set_xlim(0, 1)
        b.set_xlabel("probability")
        b.set_title(f"{title}: top-{k}", fontsize=9)
        fig.tight_layout()
        plt.show()
        return fig

    dropdown = widgets.Dropdown(options=options, value=int(order[0]), description="frame",
                                layout=widgets.Layout(width="95%"))
    out = widgets.Output()

    def redraw(change=None):
        out.clear_output(wait=True)
        with out:
            show(dropdown.value)

    dropdown.observe(redraw, names="value")
    widget = widgets.VBox([dropdown, out])
    if env.has_widget_frontend():
        from IPython.display import display

        redraw()
        display(widget)
    else:  # no front end to draw into: the default frame, once, as a plain figure
        show()
    return widget
