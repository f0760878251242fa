"""Transferability: which pretrained candidate will fine-tune best on my data, guessed from frozen features.

Fine-tuning every candidate is the ground truth, and the expensive way to choose. The scores here read only the
features (or the source model's ImageNet predictions) of the *training* images, in seconds:

- :func:`logme`: LogME (You et al. 2021), the evidence of a Bayesian linear model from features to each one-hot
  label column, maximised over the prior precision alpha and the noise precision beta, averaged per sample and class.
- :func:`leep`: LEEP (Nguyen et al. 2020), the log-likelihood of the target labels under the source model's soft
  ImageNet predictions, re-mapped through the empirical joint P(target | source class).
- :func:`nce`: NCE (Tran et al. 2019), minus the conditional entropy H(target | hard source label).
- :func:`knn_cv_accuracy` and :func:`probe_cv_accuracy`: k-NN and linear-probe accuracy, cross-validated on the
  training features only (train.knn_accuracy, train.cross_val_probe).

:func:`kendall_tau` and :func:`weighted_tau` say how well a score's ranking of candidates agrees with the
ranking after fine-tuning; :func:`rank_agreement` does it for every score at once, each tau with an interval and
next to :func:`perfect_tau_reference`, the tau a *perfect* score would reach against this noisy ground truth (the
mean of a few fine-tuning seeds). A rank correlation means little without it. (The agreement of two seeds with each
other, :func:`seed_to_seed_tau`, is not that reference: a perfect score beats it.)

Duplicate images: two identical feature rows with the same label make LogME +inf, and near-identical ones (a camera
burst) inflate it. :func:`find_duplicates` finds them; :func:`logme` and :func:`score_candidates` drop them with a
:class:`DuplicateFeaturesWarning` that says how many, so a score never comes back infinite.

Candidates are networks (EfficientNet-Lite0/1/2), truncated networks (:func:`truncate`: the stages up to
``blocks.4``, a new head on their pooled output) and a randomly initialised network. Used in: 03.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from . import env
from .errors import CourseLibError

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


class DuplicateFeaturesWarning(UserWarning):
    """Some feature rows were (near-)copies of others with the same label and were left out of a score."""


@dataclass(frozen=True)
class Duplicates:
    """Rows of a feature matrix that repeat an earlier row (exactly, or within ``tol``), with the same label."""

    keep: np.ndarray                 # boolean mask: the first row of each group of copies, and every distinct row
    groups: tuple[tuple[int, ...], ...]  # (kept row, its copies...) for every group with copies
    n_exact: int                     # dropped rows identical to their kept row
    n_near: int                      # dropped rows within tol of it, not identical
    tol: float
    scale: float                     # the RMS distance between rows that tol is relative to

    @property
    def n_dropped(self) -> int:
        return self.n_exact + self.n_near

    def describe(self) -> str:
        n = len(self.keep)
        return (f"{self.n_dropped} of {n} feature rows repeat another row with the same label ({self.n_exact} "
                f"exactly, {self.n_near} within {self.tol:g} x the RMS distance between rows)")


def find_duplicates(X, y=None, tol: float = 0.05, block: int = 1024) -> Duplicates:
    """Exact and near-duplicate rows of a feature matrix (e.g. the same image twice, or a camera burst).

    Two rows are copies when their Euclidean distance is at most ``tol`` times the root-mean-square distance between
    all pairs of rows (so the test does not depend on the features' scale), and, if labels ``y`` are given, they
    carry the same label: a copy with another label is label noise, not a duplicate, and it does not make LogME
    infinite. Each row is compared with the rows kept so far; the first of each group is kept.

    Measured on this kit's data (pooled EfficientNet-Lite features): the closest pair of distinct images sits at
    0.35-0.5 x the RMS distance (hymenoptera, X-rays), consecutive camera-trap burst frames at 0.2 or more, and a
    few near-uniform EuroSAT sea tiles at 0.025-0.05. Near copies closer than about 0.05 inflate LogME of wide
    features (N < D): 5 copies among 244 images at 0.01 raise it by 0.03, at 1e-6 by 0.23; exact copies make it
    +inf. ``tol=0`` finds exact copies only.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    labels = None if y is None else np.asarray(y).ravel()
    centred = X - X.mean(axis=0)
    scale = math.sqrt(2.0 * float(np.sum(centred ** 2)) / max(n - 1, 1))   # RMS distance over pairs i != j
    limit = (tol * scale) ** 2
    sq = np.einsum("ij,ij->i", X, X)
    keep = np.ones(n, dtype=bool)
    groups, n_exact, n_near = [], 0, 0
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        d2 = sq[rows, None] + sq[None, :] - 2.0 * X[rows] @ X.T       # squared distances of this block to all rows
        for r, i in enumerate(rows):
            if not keep[i]:
                continue
            slack = 1e-9 * (sq[i] + sq[i + 1:])    # the Gram trick rounds: identical rows may come out just above 0
            close = np.arange(i + 1, n)[(d2[r, i + 1:] <= limit + slack) & keep[i + 1:]]
            if labels is not None:
                close = close[labels[close] == labels[i]]
            if not len(close):
                continue
            identical = np.all(X[close] == X[i], axis=1)
            if limit == 0.0:
                close, identical = close[identical], identical[identical]
            if len(close):
                keep[close] = False
                groups.append((int(i), *map(int, close)))
                n_exact += int(identical.sum())
                n_near += int((~identical).sum())
    return Duplicates(keep, tuple(groups), n_exact, n_near, tol, scale)


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


def warn_duplicates(dups: Duplicates, what: str) -> None:
    """The one warning for duplicate rows left out of `what` (a score's name)."""
    warnings.warn(f"{what}: {dups.describe()}. Exact copies make LogME +inf and near copies inflate it, so they were "
                  f"left out: scored on {int(dups.keep.sum())} rows. Remove duplicate images from the data set "
                  f"(transfer.find_duplicates(features, labels).groups lists them), or pass a smaller tol if these "
                  f"are distinct images.", DuplicateFeaturesWarning, stacklevel=3)


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

    from .train import knn_accuracy

    X, y = np.asarray(X), np.asarray(y).ravel()
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return float(np.mean([knn_accuracy(X[tr], y[tr], X[va], y[va], k=k) for tr, va in folds.split(X, y)]))


def probe_cv_accuracy(X, y, n_splits: int = 5, seed: int = 0) -> float:
    """Mean linear-probe accuracy over stratified folds of the training features (``train.cross_val_probe``)."""
    from .train import cross_val_probe

    return float(cross_val_probe(X, y, n_splits=n_splits, seed=seed)["mean"])


# ============================================================================= rank agreement
def _quiet_stat(fn, x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise CourseLibError(f"need as many scores as ground-truth values, got {len(x)} and {len(y)}.")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan  # a constant ranking agrees with nothing: undefined, said so, not warned about
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(x, y).statistic)


def kendall_tau(score, truth) -> float:
    """Kendall's tau-b (ties counted as scipy.stats.kendalltau does): +1 same order, -1 reversed, NaN if constant."""
    from scipy.stats import kendalltau

    return _quiet_stat(kendalltau, score, truth)


def weighted_tau(score, truth) -> float:
    """scipy.stats.weightedtau: like tau, but swaps among the top-ranked candidates weigh more (hyperbolic weights)."""
    from scipy.stats import weightedtau

    return _quiet_stat(weightedtau, score, truth)


def tau_b_rows(a, B) -> np.ndarray:
    """Kendall's tau-b of the vector `a` against every row of `B` (vectorised; ties as in scipy.stats.kendalltau).

    NaN for a row (or `a`) that is constant: a ranking with no order agrees with nothing.
    """
    a = np.asarray(a, dtype=float)
    B = np.atleast_2d(np.asarray(B, dtype=float))
    i, j = np.triu_indices(len(a), 1)
    sa = np.sign(a[i] - a[j])
    sb = np.sign(B[:, i] - B[:, j])
    pairs = len(i)
    untied = np.sqrt(np.count_nonzero(sa) * np.count_nonzero(sb, axis=1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sb @ sa) / untied
    out[untied == 0] = math.nan
    return out if pairs else np.full(len(B), math.nan)


def expected_tau(means, noise_var) -> float:
    """E[Kendall tau] between the order of `means` and the order of `means` + independent normal noise.

    ``noise_var``: the variance of each noisy value (a number, or one per candidate). A pair i, j keeps its order
    with probability Phi(|m_i - m_j| / sqrt(v_i + v_j)), so the expectation is the mean over pairs of
    2 Phi(...) - 1 (exact for continuous noise; the order of tied means counts 0).
    """
    from scipy.stats import norm

    m = np.asarray(means, dtype=float)
    v = np.broadcast_to(np.asarray(noise_var, dtype=float), m.shape)
    i, j = np.triu_indices(len(m), 1)
    if not len(i):
        return math.nan
    sd = np.sqrt(v[i] + v[j])
    d = np.abs(m[i] - m[j])
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(sd > 0, 2 * norm.cdf(d / np.where(sd > 0, sd, 1.0)) - 1, (d > 0).astype(float))
    return float(np.mean(agree))


def _expected_tau_rows(M: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """:func:`expected_tau` of every row of `M`, row b with noise variance ``noise_var[b]`` for every candidate."""
    from scipy.stats import norm

    i, j = np.triu_indices(M.shape[1], 1)
    sd = np.sqrt(2 * np.asarray(noise_var, dtype=float))[:, None]
    d = np.abs(M[:, i] - M[:, j])
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(sd > 0, 2 * norm.cdf(d / np.where(sd > 0, sd, 1.0)) - 1, (d > 0).astype(float))
    return agree.mean(axis=1)


def seed_to_seed_tau(truth_by_seed) -> float:
    """Mean Kendall tau between every pair of fine-tuning seeds (columns). NaN with a single seed.

    This is how well one seed's ranking agrees with another's: noise on *both* sides, each side from one seed. It is
    not a ceiling for a score's tau against the mean of the seeds, which a perfect score exceeds (see
    :func:`perfect_tau_reference`); kept to show the difference.
    """
    cols = list(truth_by_seed.columns)
    taus = [kendall_tau(truth_by_seed[a], truth_by_seed[b]) for i, a in enumerate(cols) for b in cols[i + 1:]]
    return float(np.mean(taus)) if taus else math.nan


@dataclass(frozen=True)
class PerfectReference:
    """The Kendall tau a perfect score would reach against a ground truth that is the mean of noisy seeds.

    A perfect score orders the candidates by their *true* mean accuracy (what infinitely many seeds would give);
    the ground truth orders them by the mean of ``n_seeds`` runs, so even a perfect score loses the pairs that seed
    noise swaps. ``tau`` estimates the expected tau; ``low`` .. ``high`` is where a perfect score's tau would land
    in ``level`` of repeats of this experiment (see :func:`perfect_tau_reference` for how, and how well).
    """

    tau: float
    low: float
    high: float
    level: float
    noise_sd: float        # pooled seed-to-seed standard deviation of one run's accuracy
    n_seeds: int
    n_candidates: int
    close_pairs: float     # share of candidate pairs whose gap is below its own noise: the truth cannot order them
    seed_to_seed: float    # the old "ceiling" (mean tau between two seeds), for comparison: lower on average
    plug_in: float         # the uncorrected estimate (true means taken equal to the observed ones)


def _seed_matrix(truth_by_seed) -> tuple[np.ndarray, list]:
    import pandas as pd

    frame = pd.DataFrame(truth_by_seed).astype(float)
    if frame.isna().any().any():
        missing = list(frame.index[frame.isna().any(axis=1)])
        raise CourseLibError(f"every candidate needs an accuracy for every seed; missing for {missing}.")
    if frame.shape[1] < 2 or frame.shape[0] < 2:
        raise CourseLibError(f"need at least 2 candidates (rows) and 2 seeds (columns) to estimate the seed noise, "
                             f"got {frame.shape[0]} x {frame.shape[1]}.")
    return frame.to_numpy(), list(frame.index)


def perfect_tau_reference(truth_by_seed, candidates: Sequence | None = None, level: float = 0.9,
                          n_boot: int = 2000, seed: int = 0) -> PerfectReference:
    """Estimate the Kendall tau that a perfect score would reach against the mean-of-seeds ground truth.

    ``truth_by_seed``: accuracy after fine-tuning, candidates as rows and seeds as columns. The model: run s of
    candidate i scores mu_i + e_is, with e_is ~ N(0, sigma^2) the seed noise; sigma^2 is the pooled within-candidate
    variance (K (n - 1) degrees of freedom; one sigma for all, so 2 seeds suffice). The ground truth is the mean of
    the n runs, noise variance sigma^2 / n. A perfect score orders by mu; its expected tau is
    :func:`expected_tau` (mu, sigma^2 / n). ``candidates``: rank only these rows (e.g. the four that LEEP scores);
    the noise is still estimated from every row.

    Estimate: plugging in the observed means for mu overstates the gaps (each observed gap carries noise), so the
    plug-in is corrected by a parametric bootstrap (runs re-drawn from the fitted model, plug-in recomputed: the
    estimate is 2 x plug-in - the bootstrap mean). Interval: the ``level`` range of the tau a perfect score reaches
    in the bootstrap experiments (true order = fitted means, ground truth = their re-drawn means), centred on the
    corrected estimate. ``close_pairs`` is the share of pairs whose observed gap is below its noise sd.

    How good (tests/test_transfer.py, 300 simulated experiments per setting, candidates with known true means like
    lab 03's, 2-3 seeds): when the candidates' gaps are mostly larger than the noise, the estimate's mean is within
    0.04 of a perfect score's mean tau (measured -0.03 to 0.00; one experiment's estimate is off by 0.09-0.15 RMS),
    and the interval holds a perfect score's tau in at least 78% of experiments (measured 85-90%, nominal 90%).
    The old seed-to-seed tau falls 0.15 or more short of a perfect score (measured 0.20-0.27). When most pairs are
    within the noise (``close_pairs`` above about one half), two seeds cannot tell a small true gap from none, and
    this estimate errs high (measured 0.53 for a perfect score's 0.40): a demanding reference there, not a ceiling.
    """
    import pandas as pd

    Y, names = _seed_matrix(truth_by_seed)
    rows = np.arange(len(names)) if candidates is None else np.array([names.index(c) for c in candidates])
    k_all, n = Y.shape
    df = k_all * (n - 1)
    x_all = Y.mean(axis=1)
    s2_run = float(((Y - x_all[:, None]) ** 2).sum() / df)
    x = x_all[rows]
    k = len(rows)
    seed_tau = seed_to_seed_tau(pd.DataFrame(Y[rows]))
    if k < 2:
        raise CourseLibError("a ranking needs at least 2 candidates.")
    i, j = np.triu_indices(k, 1)
    gap_sd = math.sqrt(2 * s2_run / n)
    close = float(np.mean(np.abs(x[i] - x[j]) < gap_sd)) if gap_sd > 0 else float(np.mean(x[i] == x[j]))
    plug = expected_tau(x, s2_run / n)
    if s2_run == 0.0:  # the seeds agree exactly: the ground truth is the true order
        return PerfectReference(plug, plug, plug, level, 0.0, n, k, close, seed_tau, plug)

    rng = np.random.default_rng(seed)
    runs = x_all[None, :, None] + math.sqrt(s2_run) * rng.standard_normal((n_boot, k_all, n))
    xb_all = runs.mean(axis=2)
    s2b = ((runs - xb_all[:, :, None]) ** 2).sum(axis=(1, 2)) / df
    xb = xb_all[:, rows]
    plug_b = _expected_tau_rows(xb, s2b / n)
    estimate = float(np.clip(2 * plug - plug_b.mean(), -1.0, 1.0))
    # In bootstrap world b the true order is x and the ground truth xb[b]: a perfect score reaches realised[b], and
    # the (bias-corrected) estimate from that world's runs is plug_b[b] - bias. Their differences give the interval:
    # it holds both the seed noise of a perfect score's tau and the error of the estimate.
    realised = tau_b_rows(x, xb)
    error = realised - (plug_b - (plug_b.mean() - plug))
    error = error[np.isfinite(error)]
    lo, hi = np.clip(estimate + np.quantile(error, [(1 - level) / 2, (1 + level) / 2]), -1.0, 1.0)
    return PerfectReference(estimate, float(min(lo, estimate)), float(max(hi, estimate)), level,
                            math.sqrt(s2_run), n, k, close, seed_tau, plug)


def bootstrap_tau(score, truth, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Kendall tau-b of a score against the truth, and a ``level`` percentile interval from resampling candidates.

    Candidates are drawn with replacement (a repeated candidate ties with itself on both sides, which tau-b leaves
    out); resamples without any order are skipped. The interval says how much the tau depends on which candidates
    happened to be compared.
    """
    s, t = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    tau = kendall_tau(s, t)
    if len(s) < 3 or not math.isfinite(tau):
        return tau, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(s), size=(n_boot, len(s)))
    i, j = np.triu_indices(len(s), 1)
    ss, tt = np.sign(s[idx][:, i] - s[idx][:, j]), np.sign(t[idx][:, i] - t[idx][:, j])
    denom = np.sqrt(np.count_nonzero(ss, axis=1) * np.count_nonzero(tt, axis=1).astype(float))
    ok = denom > 0
    taus = np.clip((ss * tt).sum(axis=1)[ok] / denom[ok], -1.0, 1.0)
    lo, hi = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    return tau, float(lo), float(hi)


def rank_agreement(scores, truth_by_seed, level: float = 0.9, n_boot: int = 2000, seed: int = 0):
    """Each score's Kendall tau against the fine-tuning ground truth, next to what a perfect score would reach.

    ``scores``: one column per score, candidates as the index. ``truth_by_seed``: accuracy after fine-tuning,
    candidates as rows and seeds as columns; the ground truth is its row mean. Candidates a score leaves out (NaN)
    are dropped for that score only, and its perfect reference is computed on the same candidates. One row per
    score: ``n``; ``kendall_tau`` with ``tau_low`` .. ``tau_high`` (:func:`bootstrap_tau`, resampling candidates);
    ``weighted_tau``; ``perfect_tau`` with ``perfect_low`` .. ``perfect_high`` (:func:`perfect_tau_reference`);
    ``vs_perfect``: "below a perfect score" when the score's tau is under ``perfect_low`` (a perfect score would
    do better in all but (1 - level)/2 of such experiments), else "as a perfect score could".
    """
    import pandas as pd

    by_seed = pd.DataFrame(truth_by_seed).astype(float)
    truth = by_seed.mean(axis=1)
    rows = []
    for name in scores.columns:
        s = scores[name].astype(float).dropna()
        common = [c for c in s.index if c in truth.index]
        if len(common) < 2:
            rows.append({"score": name, "n": len(common), "vs_perfect": "undefined"})
            continue
        tau, lo, hi = bootstrap_tau(s[common], truth[common], level=level, n_boot=n_boot, seed=seed)
        ref = perfect_tau_reference(by_seed, candidates=common, level=level, n_boot=n_boot, seed=seed)
        rows.append({"score": name, "n": len(common), "kendall_tau": tau, "tau_low": lo, "tau_high": hi,
                     "weighted_tau": weighted_tau(s[common], truth[common]), "perfect_tau": ref.tau,
                     "perfect_low": ref.low, "perfect_high": ref.high,
                     "vs_perfect": ("below a perfect score" if tau < ref.low else "as a perfect score could")
                     if math.isfinite(tau) else "undefined"})
    return pd.DataFrame(rows).set_index("score")


def ranks_last(scores: Mapping[str, float], name: str) -> bool:
    """True if candidate `name` has the strictly lowest score (what every score should say of random weights)."""
    others = [v for k, v in scores.items() if k != name and v is not None and np.isfinite(v)]
    return bool(others) and scores[name] < min(others)


# ============================================================================= candidates
@dataclass(frozen=True)
class Candidate:
    """A network to transfer from: a zoo model, optionally cut after a stage, with pretrained or random weights."""

    model: str                 # load_model name, e.g. "tf_efficientnet_lite0"
    stage: str | None = None   # keep the stages up to this one (e.g. "blocks.4"); None: the whole network
    pretrained: bool = True

    @property
    def name(self) -> str:
        short = self.model.replace("tf_efficientnet_", "").capitalize()
        cut = f"@{self.stage}" if self.stage else ""
        return f"{short}{cut}" + ("" if self.pretrained else " random")

    @property
    def layer(self) -> str:
        """The extract_features layer whose pooled output this candidate's head reads."""
        return self.stage or "pooled"


LITES = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


def lite_candidates(models_: Sequence[str] = LITES, stages: Sequence[str] = ("blocks.4", "blocks.5"),
                    random_model: str | None = "tf_efficientnet_lite0") -> list[Candidate]:
    """Each model cut after each of `stages` and whole, plus `random_model` with random weights (the floor)."""
    out = [Candidate(m, s) for m in models_ for s in (*stages, None)]
    if random_model:
        out.append(Candidate(random_model, None, pretrained=False))
    return out


def load_candidate_base(c: Candidate, seed: int = 0) -> nn.Module:
    """The whole network a candidate comes from: pretrained, or random weights drawn with `seed`.

    Random weights get ``course_weights = "random(seed=N)"``, so feature caches and checkpoints of different seeds
    never answer for each other (load_model marks every random network just ``"random"``).
    """
    from . import models

    if c.pretrained:
        return models.load_model(c.model)
    torch.manual_seed(seed)
    model = models.load_model(c.model, pretrained=False)
    model.course_weights = f"random(seed={seed})"
    return model


def truncate(model: nn.Module, stage: str) -> nn.Module:
    """A copy of a timm EfficientNet/MobileNet-family network that stops after `stage` (e.g. ``"blocks.4"``).

    Later blocks and the 1x1 head convolution are dropped; global pooling and a classifier (same number of
    classes) sit on the stage's channels, so its pooled features equal ``extract_features(layers=[stage])``.
    """

    children = dict(model.named_children())
    if not {"conv_stem", "blocks", "conv_head"} <= set(children):
        raise CourseLibError(f"truncate() knows timm's EfficientNet/MobileNet layout (conv_stem, blocks, conv_head); "
                             f"{type(model).__name__} has {list(children)}. Use "
                             "features.extract_features(layers=[...]) to score its stages instead.")
    names = [f"blocks.{i}" for i in range(len(model.blocks))]
    if stage not in names:
        raise CourseLibError(f"stage {stage!r} is not one of {names}.")
    k = names.index(stage)
    cut = copy.deepcopy(model)
    cut.blocks = cut.blocks[:k + 1]
    with torch.no_grad():
        probe = cut.blocks(cut.bn1(cut.conv_stem(torch.zeros(1, 3, 64, 64))))
    cut.conv_head, cut.bn2 = nn.Identity(), nn.Identity()
    cut.num_features = int(probe.shape[1])
    cut.reset_classifier(getattr(model, "num_classes", 1000))
    cut.course_name = f"{getattr(model, 'course_name', type(model).__name__)}@{stage}"
    cut.course_weights = getattr(model, "course_weights", None)
    return cut.eval()


def build_candidate(c: Candidate, num_classes: int, seed: int = 0) -> nn.Module:
    """The candidate as a trainable classifier with a new `num_classes` head (seeded, so runs repeat)."""
    from . import models

    base = load_candidate_base(c, seed)
    net = truncate(base, c.stage) if c.stage else base
    torch.manual_seed(seed)
    models.replace_head(net, num_classes)
    return net


# ============================================================================= fast, exact image tensors
class NumpyTransform:
    """A timm/torchvision eval transform whose to-tensor and normalise steps run in NumPy (PIL steps unchanged).

    Same numbers to float32 rounding. On a busy 2-core machine torch wakes its thread pool for each small tensor
    op (measured 3-37 ms per 128-px image here, against well under 1 ms in NumPy).
    """

    def __init__(self, transform):
        steps = list(getattr(transform, "transforms", [transform]))
        kinds = [type(s).__name__ for s in steps]
        if kinds[-2:] not in (["MaybeToTensor", "Normalize"], ["ToTensor", "Normalize"]):
            raise CourseLibError(f"expected a transform ending in ToTensor + Normalize, got {kinds}.")
        self.pil_steps = steps[:-2]
        norm = steps[-1]
        self.mean = np.asarray(norm.mean, dtype=np.float32).reshape(1, 1, -1)
        self.std = np.asarray(norm.std, dtype=np.float32).reshape(1, 1, -1)
        self.base = transform

    def __call__(self, image) -> torch.Tensor:
        for step in self.pil_steps:
            image = step(image)
        a = np.asarray(image, dtype=np.float32) / 255.0
        a = (a - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))

    def __repr__(self) -> str:  # part of feature-cache keys: the same numbers as the base transform
        return repr(self.base)


class _FlipDescription:
    """Stands for the training transform in a dataset's identity (checkpoint fingerprints read its repr)."""

    def __init__(self, base, flip: bool):
        self.base, self.flip = base, flip

    def __repr__(self) -> str:
        return repr(self.base) + (" + RandomHorizontalFlip(p=0.5)" if self.flip else "")


class TensorImages(torch.utils.data.Dataset):
    """(tensor, label) pairs of an ImageTable, decoded and transformed once, optionally flipped at random.

    Decoding happens on first use and is shared between instances with the same transform (``share``), so ten
    candidates fine-tuned on the same images decode them once. ``table`` and ``transform`` identify the data for
    train.fine_tune's checkpoints.
    """

    def __init__(self, table, transform, flip: bool = False, share: dict | None = None):
        self.table, self.classes, self.flip = table, table.classes, flip
        self._fast = transform if isinstance(transform, NumpyTransform) else NumpyTransform(transform)
        self.transform = _FlipDescription(self._fast, flip)
        self._share = share if share is not None else {}
        self._key = (repr(self._fast), tuple(str(p) for p in table.paths))

    def _tensors(self) -> torch.Tensor:
        if self._key not in self._share:
            from .data import open_image

            self._share[self._key] = torch.stack([self._fast(open_image(p)) for p in self.table.paths])
        return self._share[self._key]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        x = self._tensors()[i]
        if self.flip and torch.rand(1).item() < 0.5:
            x = x.flip(-1)
        return x, int(self.table.labels[i])


# ============================================================================= features and scores of candidates
@dataclass
class CandidateFeatures:
    """Training-set features of every candidate (and the source model's ImageNet probabilities of whole ones)."""

    X: dict[str, np.ndarray]
    source_probs: dict[str, np.ndarray]
    labels: np.ndarray
    seconds: dict[str, float]          # extraction seconds per base network (the cold time, kept by the cache)
    from_cache: bool
    groups: dict[str, str] = field(default_factory=dict)  # candidate -> base network it shares features with
    layers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)  # base -> every layer

    def subset(self, rows) -> "CandidateFeatures":
        """The same candidates on a subset of the images (a boolean mask or indices), e.g. the training split."""
        rows = np.asarray(rows)
        return CandidateFeatures({k: v[rows] for k, v in self.X.items()},
                                 {k: v[rows] for k, v in self.source_probs.items()}, self.labels[rows],
                                 dict(self.seconds), self.from_cache, dict(self.groups),
                                 {b: {l: v[rows] for l, v in ls.items()} for b, ls in self.layers.items()})


def _base_key(c: Candidate) -> tuple[str, bool]:
    return (c.model, c.pretrained)


def candidate_features(candidates: Sequence[Candidate], table, input_size: int | None = None, seed: int = 0,
                       layers: Sequence[str] | None = None, progress: bool = False) -> CandidateFeatures:
    """One cached extraction per base network gives every candidate cut from it (``layers=[stages..., "pooled"]``).

    Whole networks also get their own head's softmax over the 1000 ImageNet classes (for LEEP and NCE).
    ``layers`` extracts more stages in the same pass (kept in ``.layers[base]``); a lab that always asks for the
    same list reuses one cache entry per network and data set.
    """
    from . import data, features

    by_base: dict[tuple[str, bool], list[Candidate]] = {}
    for c in candidates:
        by_base.setdefault(_base_key(c), []).append(c)
    X, probs, seconds, groups, cached, all_layers = {}, {}, {}, {}, True, {}
    for (model_name, pretrained), group in by_base.items():
        base = load_candidate_base(group[0], seed)
        wanted = {c.layer for c in group} | {"pooled"} | set(layers or ())
        names = sorted(wanted, key=lambda l: (l == "pooled", int(l.split(".")[1]) if l.startswith("blocks.") else -1,
                                              l))
        tf = NumpyTransform(data.eval_transform(base, input_size=input_size))
        feats = features.extract_features(base, table, layers=names, transform=tf, progress=progress)
        cached = cached and feats.from_cache
        label = group[0].name.split("@")[0]
        seconds[label] = float(feats.meta.get("seconds", feats.seconds))
        all_layers[label] = feats.layers
        for c in group:
            X[c.name] = feats.layers[c.layer]
            groups[c.name] = label
            if c.stage is None:
                with torch.no_grad():
                    logits = base.get_classifier()(torch.from_numpy(feats.layers["pooled"]).float())
                probs[c.name] = softmax(logits.numpy())
    return CandidateFeatures(X, probs, np.asarray(table.labels), seconds, cached, groups, all_layers)


def raw_pixels(table, size: int = 16) -> np.ndarray:
    """Each image shrunk to `size` x `size` RGB pixels, flattened and scaled to [0, 1]: the floor any feature
    should beat. On the X-ray sample it does not lose (lab 03): a sign of a shortcut."""
    from PIL import Image

    from .data import open_image

    return np.stack([np.asarray(open_image(p).resize((size, size), Image.BILINEAR), dtype=np.float32).ravel() / 255.0
                     for p in table.paths])


def imagenet_top1(c: Candidate) -> float:
    """The published ImageNet top-1 of the candidate's network (a cut network inherits it; random weights: 0.1%)."""
    from .models import get_entry

    return float(get_entry(c.model).top1) if c.pretrained else 0.1


def duplicate_rows(cf: CandidateFeatures, tol: float = 0.05) -> np.ndarray:
    """Boolean mask of the images that any candidate's features show as a copy of another image with the same label
    (:func:`find_duplicates`): the rows :func:`score_candidates` leaves out for every candidate alike."""
    drop = np.zeros(len(cf.labels), dtype=bool)
    for X in cf.X.values():
        drop |= ~find_duplicates(X, cf.labels, tol=tol).keep
    return drop


def score_candidates(candidates: Sequence[Candidate], cf: CandidateFeatures, n_splits: int = 5, seed: int = 0,
                     tol: float = 0.05):
    """Every score for every candidate (one row each), and the seconds each score took over all candidates.

    Scores use the training features only. LEEP and NCE exist only for whole networks (they need the source
    head); they are NaN for cut ones. Duplicate images (:func:`duplicate_rows` with ``tol``) are left out first, for
    every candidate and score alike, with one :class:`DuplicateFeaturesWarning`: they would make LogME infinite and
    put copies of a training image into the k-NN and probe folds that test it.
    """
    import pandas as pd

    drop = duplicate_rows(cf, tol=tol)
    if drop.any():
        warnings.warn(f"score_candidates: {int(drop.sum())} of {len(drop)} images repeat another image with the same "
                      f"label in some candidate's features (within {tol:g} x the RMS distance between rows); they are "
                      f"left out of every score (scored on {int((~drop).sum())}). transfer.duplicate_rows(features) "
                      "marks them: remove them from the data set, or pass a smaller tol if they are distinct images.",
                      DuplicateFeaturesWarning, stacklevel=2)
        cf = cf.subset(~drop)
    y = cf.labels
    rows = {c.name: {} for c in candidates}
    seconds: dict[str, float] = {}

    def timed(score: str, fn):
        start = time.perf_counter()
        for c in candidates:
            rows[c.name][score] = fn(c)
        seconds[score] = time.perf_counter() - start

    with one_blas_thread():
        timed("LogME", lambda c: logme(cf.X[c.name], y, tol=tol))
        timed("k-NN", lambda c: knn_cv_accuracy(cf.X[c.name], y, n_splits=n_splits, seed=seed))
        timed("linear probe", lambda c: probe_cv_accuracy(cf.X[c.name], y, n_splits=n_splits, seed=seed))
        timed("LEEP", lambda c: leep(cf.source_probs[c.name], y) if c.name in cf.source_probs else math.nan)
        timed("NCE", lambda c: nce(cf.source_probs[c.name], y) if c.name in cf.source_probs else math.nan)
        timed("ImageNet top-1", imagenet_top1)
    return pd.DataFrame.from_dict(rows, orient="index"), seconds


# ============================================================================= ground truth: fine-tune them all
@dataclass(frozen=True)
class FineTuneRecipe:
    """How every candidate is fine-tuned for the ground truth (the same recipe for all, or the ranking is unfair)."""

    epochs: int = 3
    input_size: int = 128
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 1e-4


def fine_tune_candidates(candidates: Sequence[Candidate], train_table, val_table, recipe: FineTuneRecipe,
                         seeds: Iterable[int] = (0,), checkpoint: bool = True, progress: bool = False,
                         on_result=None):
    """Fine-tune every candidate (all layers, new head) for each seed; one row per (candidate, seed).

    Rows: val accuracy after the last epoch, training seconds (kept in the checkpoint, so a resumed run still
    reports what training cost; validation not included), and whether this call resumed. ``checkpoint=True``
    writes one checkpoint per run under ``cache_dir()/checkpoints``: a second execution evaluates the finished
    checkpoints instead of retraining.
    """
    import pandas as pd

    from . import data, train

    share: dict = {}
    rows = []
    for seed in seeds:
        for c in candidates:
            net = build_candidate(c, len(train_table.classes), seed)
            tf = data.eval_transform(net, input_size=recipe.input_size)
            tr = TensorImages(train_table, tf, flip=True, share=share)
            va = TensorImages(val_table, tf, flip=False, share=share)
            # No per-epoch validation (it would cost a sixth of each epoch): the ground truth is the final model's.
            result = train.fine_tune(net, tr, None, epochs=recipe.epochs, unfreeze_stages="all",
                                     lr_head=recipe.lr_head, lr_backbone=recipe.lr_backbone,
                                     weight_decay=recipe.weight_decay, batch_size=recipe.batch_size,
                                     checkpoint=checkpoint, seed=seed, progress=progress)
            metrics = train.evaluate_model(net, va, classes=val_table.classes, batch_size=recipe.batch_size)
            row = {"candidate": c.name, "seed": seed, "val_acc": metrics.accuracy,
                   "train_seconds": float(sum(h["seconds"] for h in result.history)),
                   "resumed": result.resumed_from is not None, "epochs": len(result.history)}
            rows.append(row)
            if on_result is not None:
                on_result(row)
            del net
    return pd.DataFrame(rows)
