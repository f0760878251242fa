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
ranking after fine-tuning; :func:`rank_agreement` does it for every score at once. A rank correlation means little
without its ceiling, the agreement of two fine-tuning seeds with each other: report both.

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


@dataclass(frozen=True)
class LogMEResult:
    """LogME of a feature matrix: the mean over classes of each class's maximised evidence per sample."""

    score: float
    per_class: tuple[ClassEvidence, ...]
    rank: int
    seconds: float

    @property
    def on_boundary(self) -> int:
        """How many classes had their maximum at a limit (beta/alpha -> 0 or -> inf)."""
        return sum(1 for c in self.per_class if c.boundary)


def logme(X, y, details: bool = False) -> float | LogMEResult:
    """LogME (You et al. 2021): how well a linear model on these features explains the labels, by its evidence.

    For every class k the target is the indicator column y == k; LogME is the mean over classes of the maximised
    log evidence divided by N. Higher is better; it is invariant to scaling the features. Exact for N < D and
    N > D (one thin SVD), and finite where the maximum is a limit (see :func:`class_evidence`).
    ``details=True`` returns a :class:`LogMEResult` with the per-class alpha, beta and boundary notes.
    """
    start = time.perf_counter()
    X, y = _check_features(X, y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise CourseLibError("LogME needs at least two classes in the labels.")
    spec = spectrum(X)
    if spec.rank == 0:
        raise CourseLibError("the features are all zero: there is nothing to score.")
    per_class = tuple(class_evidence(spec, (y == c).astype(np.float64)) for c in classes)
    score = float(np.mean([c.evidence for c in per_class]))
    result = LogMEResult(score, per_class, spec.rank, time.perf_counter() - start)
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


def rank_agreement(scores, truth, ceiling: float | None = None):
    """One row per score (a column of `scores`, candidates as the index): Kendall tau, weighted tau, n.

    `truth` is the accuracy after fine-tuning per candidate; candidates a score leaves out (NaN) are dropped for
    that score only. ``ceiling`` (the seed-to-seed tau) is repeated on every row, so nobody reads a tau alone.
    """
    import pandas as pd

    truth = pd.Series(truth, dtype=float)
    rows = []
    for name in scores.columns:
        s = scores[name].astype(float).dropna()
        common = [c for c in s.index if c in truth.index and np.isfinite(truth[c])]
        rows.append({"score": name, "n": len(common), "kendall_tau": kendall_tau(s[common], truth[common]),
                     "weighted_tau": weighted_tau(s[common], truth[common]), "seed_ceiling": ceiling})
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


def score_candidates(candidates: Sequence[Candidate], cf: CandidateFeatures, n_splits: int = 5, seed: int = 0):
    """Every score for every candidate (one row each), and the seconds each score took over all candidates.

    Scores use the training features only. LEEP and NCE exist only for whole networks (they need the source
    head); they are NaN for cut ones.
    """
    import pandas as pd

    y = cf.labels
    rows = {c.name: {} for c in candidates}
    seconds: dict[str, float] = {}

    def timed(score: str, fn):
        start = time.perf_counter()
        for c in candidates:
            rows[c.name][score] = fn(c)
        seconds[score] = time.perf_counter() - start

    with one_blas_thread():
        timed("LogME", lambda c: logme(cf.X[c.name], y))
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


def seed_ceiling(truth_by_seed) -> float:
    """Mean Kendall tau between every pair of fine-tuning seeds (columns): how well the ground truth agrees with
    itself. NaN with a single seed."""
    cols = list(truth_by_seed.columns)
    taus = [kendall_tau(truth_by_seed[a], truth_by_seed[b]) for i, a in enumerate(cols) for b in cols[i + 1:]]
    return float(np.mean(taus)) if taus else math.nan
