"""Lab 04's bookkeeping between measurements, one call each, so the lab's cells show what is measured.

- :func:`frames_from_crops`: a detect-and-crop pipeline's per-frame probabilities from its per-crop ones;
- :func:`whole_image_sets`: a single-label classifier's species set and count for each frame with a known count;
- :func:`set_and_count_table`: exact match, precision, recall, F1, count error per way of answering;
- :func:`standin_pipeline_oof`: out-of-fold probabilities of the stand-in detect-crop-classify pipeline;
- :func:`cost_table`: each pipeline's measured milliseconds per frame next to its accuracy;
- :func:`round_trip`: does a table survive labels.csv -> COCO Camera Traps JSON -> loader?
Used in: 04.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import bench, data, features
from .detectors import load_detector, standin_detections, write_crops
from .frames import table_boxes
from .metrics import count_metrics, multilabel_metrics
from .pipeline import GPU_ASSUMPTIONS, hours_per_million, pipeline_latency
from .splits import out_of_fold_proba

SET_COLUMNS = ["exact_match", "precision", "recall", "f1", "mae", "within_one"]


def frames_from_crops(crop_proba, crop_image, n_frames: int, empty: int) -> np.ndarray:
    """Per-frame probabilities: a frame's species is its most confident crop's; a frame without a crop is empty."""
    crop_proba, crop_image = np.asarray(crop_proba), np.asarray(crop_image)
    out = np.zeros((n_frames, crop_proba.shape[1]))
    for i in range(n_frames):
        rows = np.flatnonzero(crop_image == i)
        if len(rows):
            out[i] = crop_proba[rows[crop_proba[rows].max(1).argmax()]]
        else:
            out[i, empty] = 1.0
    return out


def whole_image_sets(table: data.ImageTable, proba) -> tuple[list[int], list[set], list[set], list[int]]:
    """(frames with a count, their true species sets, the classifier's sets, its counts): a whole-image classifier
    names one species per frame (an empty set for "empty") and so counts 0 or 1 animal."""
    empty = table.classes.index("empty")
    known = [i for i in range(len(table)) if not pd.isna(table.frame["count"].iloc[i])]
    pred = np.asarray(proba).argmax(1)
    true_sets = [set() if table.labels[i] == empty else {table.classes[table.labels[i]]} for i in known]
    clf_sets = [set() if pred[i] == empty else {table.classes[pred[i]]} for i in known]
    clf_counts = [0 if pred[i] == empty else 1 for i in known]
    return known, true_sets, clf_sets, clf_counts


def set_and_count_table(truth: Sequence[set], truth_counts: Sequence[int],
                        answers: Mapping[str, tuple[Sequence[set], Sequence[int]]]) -> pd.DataFrame:
    """One column per way of answering (name -> (species sets, counts)): set match and count error against truth."""
    return pd.DataFrame({name: {**multilabel_metrics(truth, sets), **count_metrics(truth_counts, counts)}
                         for name, (sets, counts) in answers.items()}).loc[SET_COLUMNS]


def standin_pipeline_oof(table: data.ImageTable, X, groups, extractor, input_size: int, *, n_splits: int = 5,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of the stand-in pipeline over `table`, and the frames where it differs from the
    whole-image probe on features `X`: boxed frames are read from their crop, frames without a detection are empty."""
    n_classes = len(table.classes)
    dets = standin_detections(table)
    crops = write_crops(table.paths, dets)
    boxed = crops[crops["crop"] != crops["image"].map(lambda i: str(table.paths[i]))]
    X_pipe = np.array(X, copy=True)
    X_pipe[boxed["image"].to_numpy()] = features.extract_features(extractor, list(boxed["crop"]),
                                                                  input_size=input_size, progress=False).X
    oof_pipe = out_of_fold_proba(X_pipe, table.labels, groups, n_classes, n_splits=n_splits, seed=seed)
    no_det = np.array([len(d["boxes"]) == 0 for d in dets])
    oof_pipe[no_det] = np.eye(n_classes)[table.classes.index("empty")]
    differ = np.flatnonzero(no_det | np.isin(np.arange(len(table)), boxed["image"]))
    return oof_pipe, differ


def cost_table(extractor, accuracy: Mapping[str, float], detectors: Sequence[str], *, input_size: int, steps: int,
               crops_per_frame: float) -> tuple[pd.DataFrame, float]:
    """Milliseconds per frame measured here for the three classifiers, one detect-crop-classify pipeline per
    detector (random weights time like trained ones) and Swin-T alone at 224 px (a floor); with each one's accuracy
    (`accuracy`: probe, fine-tune, scratch, detect+crop) and the GPU hours per million frames assumed from
    :data:`GPU_ASSUMPTIONS`. Returns the table and Swin-T's milliseconds."""
    import torchvision

    clf_cost = pipeline_latency(extractor, input_size=input_size, steps=steps)
    rows = [{"pipeline": "classifier: pretrained features + probe", "accuracy": accuracy["probe"], **clf_cost},
            {"pipeline": "classifier: fine-tuned", "accuracy": accuracy["fine-tune"], **clf_cost},
            {"pipeline": "from scratch, same network", "accuracy": accuracy["scratch"], **clf_cost}]
    for name in detectors:
        cost = pipeline_latency(extractor, load_detector(name, pretrained=False), input_size=input_size,
                                crops_per_frame=crops_per_frame, steps=steps)
        rows.append({"pipeline": f"detect + crop + classify: {name}", "accuracy": accuracy["detect+crop (stand-in)"],
                     **cost})
    swin = torchvision.models.swin_t(weights=None)
    swin_ms = bench.measure_latency(swin, 1, 224, warmup=1, steps=max(2, steps // 2), device="cpu").ms_per_batch
    rows.append({"pipeline": "Swin-T backbone alone, 224 px (floor)", "accuracy": np.nan, "ms_classifier": 0.0,
                 "ms_detector": swin_ms, "ms_per_frame": swin_ms, "hours_per_million": hours_per_million(swin_ms)})
    table = pd.DataFrame(rows)
    gpu = GPU_ASSUMPTIONS
    table["GPU h per million (assumed)"] = [1e6 / gpu["classifier"]["images_per_second"] / 3600] * 3 + \
        [1e6 / gpu["detector"]["images_per_second"] / 3600] * (len(rows) - 4) + [np.nan]
    return table, swin_ms


def round_trip(table: data.ImageTable, back: data.ImageTable) -> dict:
    """Which parts of `table` came back unchanged in `back`: files, labels, boxes, groups, counts."""
    same_boxes = all(np.allclose(a, b, atol=1e-4) for a, b in zip(table_boxes(table), table_boxes(back)))
    return {"files": [p.name for p in back.paths] == [p.name for p in table.paths],
            "labels": back.classes == table.classes and bool((back.labels == table.labels).all()),
            "boxes": same_boxes, "groups": bool((back.groups == table.groups).all()),
            "counts": bool(back.frame["count"].astype("Float64").fillna(-1).equals(
                table.frame["count"].astype("Float64").fillna(-1)))}


__all__ = ["SET_COLUMNS", "cost_table", "frames_from_crops", "round_trip", "set_and_count_table",
           "standin_pipeline_oof", "whole_image_sets"]
