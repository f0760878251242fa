"""Cheap baselines on cached features: linear probe (single split or cross-validated) and cosine k-NN."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import CourseLibError
from .metrics import Metrics, evaluate_predictions


@dataclass
class ProbeResult:
    """A fitted linear probe: its validation metrics, the sklearn Pipeline, and how long fitting took."""

    metrics: Metrics
    model: Any
    seconds: float


def _check_xy(X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise CourseLibError(f"{what}: expected an N x D feature matrix and N labels, got {X.shape} and {y.shape}.")
    return X, y


def _default_classes(*ys: np.ndarray) -> list[str]:
    return [str(i) for i in range(int(max(y.max() for y in ys)) + 1)]


def probe_pipeline(C: float, max_iter: int, seed: int, standardize: bool = True):
    """The kit's one linear probe: standardise (unless told not to), then multinomial logistic regression
    (scikit-learn, L2 penalty `C`, lbfgs), unfitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first lets lbfgs converge in a few dozen steps on 1280-wide features; with 5 images per class
    # it also amplifies noise features (lab 02's probe reads raw features for that reason).
    steps = [StandardScaler()] if standardize else []
    return make_pipeline(*steps, LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter, random_state=seed))


def fit_linear_probe(train_X, train_y, val_X, val_y, classes: Sequence[str] | None = None, C: float = 1.0,
                     max_iter: int = 2000, seed: int = 0) -> ProbeResult:
    """Logistic regression on frozen features: the cheapest honest measure of how well features transfer."""
    train_X, train_y = _check_xy(train_X, train_y, "train")
    val_X, val_y = _check_xy(val_X, val_y, "val")
    if len(np.unique(train_y)) < 2:
        raise CourseLibError("the training labels hold a single class; a probe needs at least two.")
    classes = list(classes) if classes is not None else _default_classes(train_y, val_y)
    pipe = probe_pipeline(C, max_iter, seed)
    start = time.perf_counter()
    pipe.fit(train_X, train_y)
    metrics = evaluate_predictions(val_y, pipe.predict(val_X), classes)
    return ProbeResult(metrics, pipe, time.perf_counter() - start)


def cross_val_probe(X, y, groups=None, n_splits: int = 5, seed: int = 0, C: float = 1.0) -> dict:
    """Probe accuracy over `n_splits` stratified folds; with `groups` (patient, camera) no group spans two sides."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    X, y = _check_xy(X, y, "cross-validation")
    units = len(np.unique(np.asarray(groups))) if groups is not None else len(y)
    if not 2 <= n_splits <= units:
        raise CourseLibError(f"n_splits must be between 2 and the number of {'groups' if groups is not None else 'samples'}"
                             f" ({units}), got {n_splits}.")
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise CourseLibError(f"need one group per sample: {len(groups)} groups for {len(y)} samples.")
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    scores = []
    for tr, va in splitter.split(X, y, groups):
        pipe = probe_pipeline(C, 2000, seed).fit(X[tr], y[tr])
        scores.append(float((pipe.predict(X[va]) == y[va]).mean()))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "scores": scores}


def knn_accuracy(train_X, train_y, val_X, val_y, k: int = 5) -> float:
    """Accuracy of k nearest neighbours by cosine similarity: do similar images get nearby features?"""
    from sklearn.neighbors import KNeighborsClassifier

    train_X, train_y = _check_xy(train_X, train_y, "train")
    val_X, val_y = _check_xy(val_X, val_y, "val")
    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_y)), metric="cosine").fit(train_X, train_y)
    return float((knn.predict(val_X) == val_y).mean())


def cross_validate_feature_sets(features: dict, labels, groups=None, n_splits: int = 5, repeats: int = 2,
                                seed: int = 0) -> dict[str, list[float]]:
    """Linear-probe accuracy per fold for each feature set, on the same folds (paired): ``repeats`` times
    stratified k-fold (grouped when `groups` is given, so no group spans two sides), reshuffled with seed + r.
    Paired folds let a comparison of two feature sets use the fold-by-fold differences (``claims``, design
    'splits')."""
    out: dict[str, list[float]] = {name: [] for name in features}
    for r in range(repeats):
        for name, X in features.items():
            out[name] += cross_val_probe(X, labels, groups=groups, n_splits=n_splits, seed=seed + r)["scores"]
    return out
