"""Metrics the camera-trap field reports: top-k, macro F1, coverage against accuracy, multi-label and count
metrics, exact binomial intervals (scikit-learn and SciPy where they already do it)."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import train
from ..errors import CourseLibError


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

