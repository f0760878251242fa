"""How well a score's ranking of candidates agrees with the fine-tuning ground truth.

Kendall's tau-b and weighted tau (scipy.stats), a vectorised tau-b and its bootstrap interval, the expected tau
under normal seed noise, and the reference a perfect score would reach against the mean of a few noisy seeds.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import CourseLibError


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
    estimate, low, high = _bootstrap_perfect(x_all, rows, s2_run, n, plug, level, n_boot, seed)
    return PerfectReference(estimate, low, high, level, math.sqrt(s2_run), n, k, close, seed_tau, plug)


def _bootstrap_perfect(x_all: np.ndarray, rows: np.ndarray, s2_run: float, n: int, plug: float, level: float,
                       n_boot: int, seed: int) -> tuple[float, float, float]:
    """:func:`perfect_tau_reference`'s bias-corrected estimate and interval, from a parametric bootstrap.

    ``x_all``: every candidate's mean of its ``n`` runs; ``rows``: the candidates ranked; ``s2_run``: the pooled
    variance of one run; ``plug``: the plug-in estimate on ``rows``. Returns (estimate, low, high).
    """
    k_all = len(x_all)
    rng = np.random.default_rng(seed)
    runs = x_all[None, :, None] + math.sqrt(s2_run) * rng.standard_normal((n_boot, k_all, n))
    xb_all = runs.mean(axis=2)
    s2b = ((runs - xb_all[:, :, None]) ** 2).sum(axis=(1, 2)) / (k_all * (n - 1))
    xb = xb_all[:, rows]
    plug_b = _expected_tau_rows(xb, s2b / n)
    estimate = float(np.clip(2 * plug - plug_b.mean(), -1.0, 1.0))
    # In bootstrap world b the true order is x and the ground truth xb[b]: a perfect score reaches realised[b], and
    # the (bias-corrected) estimate from that world's runs is plug_b[b] - bias. Their differences give the interval:
    # it holds both the seed noise of a perfect score's tau and the error of the estimate.
    realised = tau_b_rows(x_all[rows], xb)
    error = realised - (plug_b - (plug_b.mean() - plug))
    error = error[np.isfinite(error)]
    lo, hi = np.clip(estimate + np.quantile(error, [(1 - level) / 2, (1 + level) / 2]), -1.0, 1.0)
    return estimate, float(min(lo, estimate)), float(max(hi, estimate))


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
