"""Transferability scores of one candidate's frozen features (higher is better for all of them):

- LogME: mean over classes k of max over alpha, beta of log p(y_k | X, alpha, beta) / N, the evidence of a Bayesian
  linear model w ~ N(0, I/alpha), y_k = X w + N(0, 1/beta) noise, for the indicator column y_k = [y == k].
- LEEP: 1/N sum_i log sum_z P(y_i | z) theta_z(x_i), theta the source model's softmax and P(y | z) the empirical
  joint of target labels and source classes divided by P(z).
- NCE: -H(Y | Z) = sum_{y,z} P(y, z) log P(y | z), Z the source model's hard label.
- k-NN and linear-probe accuracy, cross-validated on the training features.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import env
from ..errors import CourseLibError
from .duplicates import find_duplicates, warn_duplicates

LOG_2PI = math.log(2 * math.pi)


# ============================================================================= LogME
def _check_features(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
        raise CourseLibError(f"need an N x D feature matrix and N labels (N >= 2), got {X.shape} and {y.shape}.")
    if not np.isfinite(X).all():
        raise CourseLibError("the features hold NaN or inf values; check the extraction (a diverged network?).")
    return X, y


@dataclass(frozen=True)
class Spectrum:
    """The thin SVD of a feature matrix that every class's evidence needs: F = U diag(sqrt(eig)) V^T."""

    U: np.ndarray      # N x r, left singular vectors of the r numerically non-zero singular values
    eig: np.ndarray    # r eigenvalues of F^T F (squared singular values), descending
    n: int
    d: int

    @property
    def rank(self) -> int:
        return len(self.eig)


one_blas_thread = env.one_blas_thread   # kept under this name for the labs that call it


def spectrum(X) -> Spectrum:
    """Thin SVD of the features (float64), keeping singular values above numpy's rank tolerance."""
    X = np.asarray(X, dtype=np.float64)
    with one_blas_thread():
        U, s, _ = np.linalg.svd(X, full_matrices=False)
    tol = s[0] * max(X.shape) * np.finfo(np.float64).eps if s.size else 0.0
    keep = s > tol
    return Spectrum(U[:, keep], s[keep] ** 2, X.shape[0], X.shape[1])


def log_evidence(X, y, alpha: float, beta: float) -> float:
    """log p(y | X, alpha, beta) of Bayesian linear regression y = X w + noise, w ~ N(0, I/alpha), noise ~ N(0, 1/beta).

    The closed form (Bishop, PRML eq. 3.86) evaluated through the SVD, so N < D costs no D x D matrix:
    D/2 log alpha + N/2 log beta - beta/2 |y - X m|^2 - alpha/2 |m|^2 - 1/2 log|alpha I + beta X^T X| - N/2 log 2 pi.
    """
    spec = X if isinstance(X, Spectrum) else spectrum(X)
    y = np.asarray(y, dtype=np.float64).ravel()
    t = beta / alpha
    z = spec.U.T @ y
    res0 = max(float(y @ y - z @ z), 0.0)
    energy = float(np.sum(z ** 2 / (1.0 + t * spec.eig))) + res0   # |y - Xm|^2 + (alpha/beta)|m|^2
    return float(-0.5 * np.sum(np.log1p(t * spec.eig)) + 0.5 * spec.n * math.log(beta) - 0.5 * beta * energy
                 - 0.5 * spec.n * LOG_2PI)


@dataclass(frozen=True)
class ClassEvidence:
    """The maximised evidence of one label column, per sample, and where the maximum lies."""

    evidence: float     # max over alpha, beta of log p(y | X, alpha, beta), divided by N
    alpha: float        # prior precision at the maximum (0.0 when beta/alpha -> inf, inf when beta/alpha -> 0)
    beta: float         # noise precision at the maximum (inf when beta/alpha -> inf)
    boundary: str = ""  # "", "beta/alpha -> inf" (features interpolate the labels) or "beta/alpha -> 0"


def _profile(t: np.ndarray, eig: np.ndarray, z2: np.ndarray, res0: float, n: int) -> np.ndarray:
    """Evidence with beta at its optimum N / E(t), as a function of t = beta / alpha (vectorised over t)."""
    t = np.atleast_1d(t)[:, None]
    energy = np.sum(z2 / (1.0 + t * eig), axis=1) + res0
    return -0.5 * np.sum(np.log1p(t * eig), axis=1) + 0.5 * n * np.log(n / energy) - 0.5 * n - 0.5 * n * LOG_2PI


def class_evidence(spec: Spectrum, y, grid_per_decade: int = 8) -> ClassEvidence:
    """Maximise the evidence of one target column over alpha and beta.

    beta has a closed-form optimum for each ratio t = beta/alpha, which leaves a smooth function of one variable:
    a log-spaced grid over every t that matters, then Brent's method around the best grid point. The two ends are
    limits, taken exactly: t -> 0 (weights forced to zero) and, when the features span the labels exactly
    (N <= D, full rank: they interpolate), t -> inf, where fixed-point updates divide 0 by 0. No NaN either way.
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=np.float64).ravel()
    n, eig = spec.n, spec.eig
    yy = float(y @ y)
    if yy == 0.0:  # an all-zero column: the evidence is +inf at beta -> inf; nothing to rank
        return ClassEvidence(math.inf, math.inf, math.inf, "y = 0")
    z = spec.U.T @ y
    z2 = z ** 2
    interpolates = spec.rank >= n
    res0 = 0.0 if interpolates else max(float(np.sum((y - spec.U @ z) ** 2)), 0.0)
    if not interpolates and res0 <= 1e-12 * yy:  # r < N and a perfect fit: the evidence grows without bound
        return ClassEvidence(math.inf, 0.0, math.inf, "beta/alpha -> inf")

    # Candidates: t -> 0, a grid from "no eigenvalue matters" to "every eigenvalue dominates", and t -> inf.
    lo, hi = math.log10(1e-6 / eig.max()), math.log10(1e8 / eig.min())
    logt = np.linspace(lo, hi, max(16, int((hi - lo) * grid_per_decade)))
    values = _profile(10.0 ** logt, eig, z2, res0, n)
    best_i = int(np.argmax(values))
    lo_i, hi_i = max(best_i - 1, 0), min(best_i + 1, len(logt) - 1)
    refined = minimize_scalar(lambda s: -_profile(np.array([10.0 ** s]), eig, z2, res0, n)[0],
                              bounds=(logt[lo_i], logt[hi_i]), method="bounded", options={"xatol": 1e-10})
    best_t, best = 10.0 ** float(refined.x), -float(refined.fun)
    if values[best_i] > best:
        best_t, best = 10.0 ** float(logt[best_i]), float(values[best_i])

    at_zero = 0.5 * n * math.log(n / yy) - 0.5 * n - 0.5 * n * LOG_2PI
    options = [(best, best_t, ""), (at_zero, 0.0, "beta/alpha -> 0")]
    if interpolates:  # E(t) ~ (1/t) sum z^2/eig, so the log t terms cancel: a finite limit
        at_inf = (-0.5 * float(np.sum(np.log(eig))) + 0.5 * n * math.log(n / float(np.sum(z2 / eig)))
                  - 0.5 * n - 0.5 * n * LOG_2PI)
        options.append((at_inf, math.inf, "beta/alpha -> inf"))
    value, t, where = max(options, key=lambda o: o[0])
    if where == "beta/alpha -> inf":
        return ClassEvidence(value / n, 0.0, math.inf, where)
    energy = float(np.sum(z2 / (1.0 + t * eig))) + res0
    beta = n / energy
    return ClassEvidence(value / n, math.inf if t == 0.0 else beta / t, beta, where)


@dataclass(frozen=True)
class LogMEResult:
    """LogME of a feature matrix: the mean over classes of each class's maximised evidence per sample."""

    score: float
    per_class: tuple[ClassEvidence, ...]
    rank: int
    seconds: float
    n_rows: int = 0        # rows scored (after dropping duplicates)
    dropped: int = 0       # duplicate rows left out

    @property
    def on_boundary(self) -> int:
        """How many classes had their maximum at a limit (beta/alpha -> 0 or -> inf)."""
        return sum(1 for c in self.per_class if c.boundary)


def logme(X, y, details: bool = False, tol: float = 0.05) -> float | LogMEResult:
    """LogME (You et al. 2021): how well a linear model on these features explains the labels, by its evidence.

    For every class k the target is the indicator column y == k; LogME is the mean over classes of the maximised
    log evidence divided by N. Higher is better; it is invariant to scaling the features. Exact for N < D and
    N > D (one thin SVD), and finite where the maximum is a limit (see :func:`class_evidence`).

    Duplicates: rows that copy an earlier row with the same label (:func:`find_duplicates` with ``tol``; exact
    copies always) are dropped before scoring, with a :class:`DuplicateFeaturesWarning` naming how many: an exact
    copy would make the evidence +inf, a near copy inflate it. LogME never returns inf: features that still fit
    every label exactly with fewer dimensions than rows (the label leaked into the features) raise an error.
    ``details=True`` returns a :class:`LogMEResult` with the per-class alpha, beta and boundary notes.
    """
    start = time.perf_counter()
    X, y = _check_features(X, y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise CourseLibError("LogME needs at least two classes in the labels.")
    if not X.any():
        raise CourseLibError("the features are all zero: there is nothing to score.")
    dups = find_duplicates(X, y, tol=tol)
    if dups.n_dropped:
        warn_duplicates(dups, "LogME")
        X, y = X[dups.keep], y[dups.keep]
    spec = spectrum(X)
    per_class = tuple(class_evidence(spec, (y == c).astype(np.float64)) for c in classes)
    if any(math.isinf(c.evidence) for c in per_class):
        raise CourseLibError(f"the features fit the labels exactly with rank {spec.rank} < {spec.n} rows, so the "
                             "evidence has no maximum (+inf): a label leaked into the features (e.g. a one-hot "
                             "column), or many rows repeat one another beyond tol. LogME cannot rank such features.")
    score = float(np.mean([c.evidence for c in per_class]))
    result = LogMEResult(score, per_class, spec.rank, time.perf_counter() - start, spec.n, dups.n_dropped)
    return result if details else score


# ============================================================================= LEEP and NCE
def _check_probs(P, y) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(P, dtype=np.float64)
    y = np.asarray(y).ravel()
    if P.ndim != 2 or len(P) != len(y) or len(y) == 0:
        raise CourseLibError(f"need an N x Z matrix of source-class probabilities and N labels, got {P.shape} and "
                             f"{y.shape}.")
    if (P < 0).any() or not np.allclose(P.sum(axis=1), 1.0, atol=1e-3):
        raise CourseLibError("each row of source probabilities must be >= 0 and sum to 1: pass softmax(logits), "
                             "e.g. transfer.softmax(logits).")
    return P, y


def softmax(logits) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    a = np.asarray(logits, dtype=np.float64)
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


def _label_index(y: np.ndarray) -> tuple[np.ndarray, int]:
    classes, idx = np.unique(y, return_inverse=True)
    return idx.ravel(), len(classes)


def leep(source_probs, y) -> float:
    """LEEP (Nguyen et al. 2020): mean log P(y_i | x_i) under the source model's "dummy" classifier.

    P(y, z) = 1/N sum_i theta_z(x_i) [y_i = y] is the empirical joint of target label y and source class z,
    P(y | z) = P(y, z) / P(z); the dummy classifier predicts sum_z P(y | z) theta_z(x). Needs the source head's
    softmax over its classes (1000 for ImageNet). Higher is better; at most 0.
    """
    P, y = _check_probs(source_probs, y)
    idx, k = _label_index(y)
    onehot = np.eye(k)[idx]                          # N x K
    joint = onehot.T @ P / len(y)                    # K x Z
    pz = joint.sum(axis=0)                           # Z
    cond = np.divide(joint, pz, out=np.zeros_like(joint), where=pz > 0)
    pred = P @ cond.T                                # N x K: the dummy classifier
    return float(np.mean(np.log(np.maximum(pred[np.arange(len(y)), idx], np.finfo(np.float64).tiny))))


def nce(source, y) -> float:
    """NCE (Tran et al. 2019): -H(Y | Z), with Z the source model's hard label (argmax if probabilities are given).

    Computed from the empirical joint of (target label, source label) counts. Higher is better; at most 0, and
    0 exactly when each source label names a single target class.
    """
    z = np.asarray(source)
    y = np.asarray(y).ravel()
    if z.ndim == 2:
        z = _check_probs(z, y)[0].argmax(axis=1)
    z = z.ravel()
    if len(z) != len(y) or len(y) == 0:
        raise CourseLibError(f"need one source label per target label, got {len(z)} and {len(y)}.")
    yi, k = _label_index(y)
    zi, m = _label_index(z)
    joint = np.zeros((k, m))
    np.add.at(joint, (yi, zi), 1.0)
    joint /= len(y)
    pz = joint.sum(axis=0)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / pz)[nz])))


# ============================================================================= feature baselines
def knn_cv_accuracy(X, y, k: int = 5, n_splits: int = 5, seed: int = 0) -> float:
    """Mean k-NN accuracy (cosine, ``train.knn_accuracy``) over stratified folds of the training features."""
    from sklearn.model_selection import StratifiedKFold

    from ..train import knn_accuracy

    X, y = np.asarray(X), np.asarray(y).ravel()
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return float(np.mean([knn_accuracy(X[tr], y[tr], X[va], y[va], k=k) for tr, va in folds.split(X, y)]))


def probe_cv_accuracy(X, y, n_splits: int = 5, seed: int = 0) -> float:
    """Mean linear-probe accuracy over stratified folds of the training features (``train.cross_val_probe``)."""
    from ..train import cross_val_probe

    return float(cross_val_probe(X, y, n_splits=n_splits, seed=seed)["mean"])
