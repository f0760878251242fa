"""The statistics behind every verdict: the paired rule with Student t intervals (per design), power, and quoted
figures against their source.

:func:`paired_verdict` applies the stated rule (``RULE``) to paired values of A and B; :func:`t_interval` gives the
interval of the mean difference under each design (``DESIGNS``); :func:`figure_verdict` checks a quoted figure.
``course_lib.claims`` re-exports all of them (``claims.paired_verdict`` ...) next to the claims and their ledger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import CourseLibError, unknown_name

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not measured"
MIN_PAIRS = 3          # fewer paired values than this: inconclusive, whatever the means say
CONFIDENCE = 0.90      # two-sided interval of the mean difference: each one-sided error is at most 5%
POWER = 0.80           # the `power` of an entry: the true difference this design calls supported 80% of the time
DESIGNS = {
    "seeds": "pairs differ by training seed and share one validation set: seed-to-seed variance of the mean plus "
             "the validation images' own sampling variance (paired, per image; a binomial bound when per-image "
             "results are not given), Welch-Satterthwaite degrees of freedom",
    "splits": "pairs are folds or repeated splits of one pool of images: the splits overlap, so the variance of the "
              "mean gets the Nadeau-Bengio correction (1/n + n_eval/n_train), n - 1 degrees of freedom",
    "independent": "pairs are independent repeats (timings on one machine): the paired Student t interval",
}
RULE = (f"Each claim compares A with B on paired measurements (same seed, fold or repeat). The {CONFIDENCE:.0%} "
        f"Student t interval of the mean of A - B has a width that depends on where the pairs come from: "
        + "; ".join(f"*{k}*: {v}" for k, v in DESIGNS.items()) +
        f". A claim that A wins is supported if the whole interval is above its margin, contradicted if it is "
        f"entirely below zero; a claim that A brings no gain is supported if the whole interval is below its margin "
        f"and contradicted if it is entirely above it; otherwise, or with fewer than {MIN_PAIRS} pairs, inconclusive. "
        f"So a false 'supported' happens in at most {(1 - CONFIDENCE) / 2:.0%} of runs when the truth sits exactly "
        f"on the margin (tests/test_claims.py proves it by simulation). *Power*: the smallest true difference (for "
        f"'no gain': the largest) that this design would call supported {POWER:.0%} of the time; an inconclusive "
        f"verdict with power far from the margin needs more pairs or more validation images. Quoted figures are "
        f"supported when within the stated tolerance of their own source.")


@dataclass
class Verdict:
    verdict: str
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    why: str = ""
    design: str = ""
    se: float | None = None        # standard error of the mean difference under the design
    df: float | None = None        # degrees of freedom of the t interval
    power: float | None = None     # smallest (no_gain: largest) true difference called supported 80% of the time


def _eval_variance(a: np.ndarray, b: np.ndarray, n_eval: int, correct_a, correct_b) -> float:
    """Sampling variance of the mean difference that comes from the validation images themselves (shared by every
    pair): the variance over images of the per-image A - B (averaged over pairs), divided by n_eval. Without per-image results, the binomial bound
    p_a(1 - p_a) + p_b(1 - p_b), which assumes A's and B's errors are not negatively correlated (they usually
    share the hard images, which makes the bound wider than the truth)."""
    if correct_a is not None or correct_b is not None:
        if correct_a is None or correct_b is None:
            raise CourseLibError("per-image results need both correct_a and correct_b (one list per pair).")
        ca = [np.asarray(x, dtype=float) for x in correct_a]
        cb = [np.asarray(x, dtype=float) for x in correct_b]
        if len(ca) != a.size or len(cb) != b.size or any(x.shape != y.shape or x.size < 2 for x, y in zip(ca, cb)):
            raise CourseLibError("correct_a and correct_b need one per-image 0/1 list per pair, the same images in "
                                 "the same order for A and B (at least 2 images).")
        # Each image's difference averaged over the pairs, then its variance over images: the validation set's
        # share of the uncertainty (seed noise per image shrinks by the number of pairs, as it does in the mean).
        per_image = np.mean([x - y for x, y in zip(ca, cb)], axis=0)
        return float(np.var(per_image, ddof=1) / per_image.size)
    if not (np.all((a >= 0) & (a <= 1)) and np.all((b >= 0) & (b <= 1))):
        raise CourseLibError("design='seeds' without per-image results needs accuracies in [0, 1]; pass "
                             "correct_a/correct_b, or use design='independent' for other quantities.")
    return float(np.mean(a * (1 - a) + b * (1 - b)) / n_eval)


def t_interval(d, design: str, n_eval: int | None = None, n_train: int | None = None, image_var=None):
    """Mean, low and high of the ``CONFIDENCE`` interval, standard error and degrees of freedom of the mean of the
    paired differences `d` (last axis: the n pairs; leading axes: independent sets, so simulations can ask for
    thousands at once). `image_var` (``"seeds"`` only): the validation images' variance of the mean difference."""
    from scipy import stats

    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    mean, s2 = d.mean(axis=-1), d.var(axis=-1, ddof=1)
    if design == "independent":
        var, df = s2 / n, np.full_like(mean, n - 1.0)
    elif design == "splits":
        var, df = s2 * (1 / n + n_eval / n_train), np.full_like(mean, n - 1.0)
    elif design == "seeds":
        seed_part, image_part = s2 / n, np.broadcast_to(np.asarray(image_var, dtype=float), mean.shape)
        var = seed_part + image_part
        # Welch-Satterthwaite: the seed term is estimated from n pairs, the image term from n_eval images.
        denom = seed_part ** 2 / (n - 1) + image_part ** 2 / (n_eval - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(denom > 0, var ** 2 / np.where(denom > 0, denom, 1), n_eval - 1.0)
    else:
        raise unknown_name("design", design, DESIGNS, "course_lib.claims.DESIGNS")
    se = np.sqrt(var)
    half = stats.t.ppf((1 + CONFIDENCE) / 2, df) * se
    return mean, mean - half, mean + half, se, df


def _power_ncp(t_crit: float, df: float) -> float:
    """How many standard errors a true difference must lie beyond the margin to be called supported with
    probability ``POWER``: the noncentrality of Student's noncentral t (exact for independent pairs)."""
    from scipy import optimize, stats

    return float(optimize.brentq(lambda ncp: stats.nct.sf(t_crit, df, ncp) - POWER, 0.0, 100.0))


def paired_verdict(a: Sequence[float], b: Sequence[float], margin: float = 0.0, direction: str = "a_wins", *,
                   design: str = "independent", n_eval: int | None = None, n_train: int | None = None,
                   correct_a=None, correct_b=None) -> Verdict:
    """The stated rule (see ``RULE``) on paired values of A and B.

    `design` says where the pairs come from (``DESIGNS``): ``"seeds"`` needs `n_eval` (the size of the one
    validation set every pair was scored on); ``"splits"`` needs `n_eval` and `n_train` (test and training images
    per split). ``direction="no_gain"`` is for claims that predict A is *not* better ("transfers poorly", "bigger
    is not better"): supported when the whole interval of A - B lies below `margin`, contradicted when above it.
    """
    from scipy import stats

    if direction not in ("a_wins", "no_gain"):
        raise CourseLibError(f"direction must be 'a_wins' or 'no_gain', got {direction!r}.")
    if design not in DESIGNS:
        raise unknown_name("design", design, DESIGNS, "course_lib.claims.DESIGNS")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise CourseLibError(f"paired measurements need as many A as B values, got {a.size} and {b.size}.")
    n = int(a.size)
    if n == 0:
        return Verdict(NOT_MEASURED, why="no values", design=design)
    if design in ("seeds", "splits") and not (n_eval and n_eval > 1):
        raise CourseLibError(f"design={design!r} needs n_eval, the number of validation images each pair was "
                             f"scored on.")
    if design == "splits" and not (n_train and n_train > 0):
        raise CourseLibError("design='splits' needs n_train, the number of training images per split (for the "
                             "Nadeau-Bengio correction of overlapping splits).")
    d = a - b
    out = Verdict(INCONCLUSIVE, float(a.mean()), float(b.mean()), float(d.mean()), n=n, design=design)
    if n < MIN_PAIRS:
        out.low = out.high = out.diff
        out.why = f"only {n} paired value(s); at least {MIN_PAIRS} are needed"
        return out
    image_var = _eval_variance(a, b, int(n_eval), correct_a, correct_b) if design == "seeds" else None
    mean, low, high, se, df = (float(x) for x in t_interval(d, design, n_eval, n_train, image_var))
    t = float(stats.t.ppf((1 + CONFIDENCE) / 2, df))
    out.low, out.high, out.se, out.df = low, high, se, df
    reach = _power_ncp(t, df) * se
    out.power = margin + reach if direction == "a_wins" else margin - reach
    if direction == "no_gain":
        if high < margin:
            out.verdict, out.why = SUPPORTED, f"A gains less than {margin:g} over B across the whole interval"
        elif low > margin:
            out.verdict, out.why = CONTRADICTED, f"A beats B by more than {margin:g} across the whole interval"
        else:
            out.why = (f"the interval [{low:.3f}, {high:.3f}] straddles {margin:g}; this design calls 'no gain' "
                       f"only for true differences below {out.power:+.3f}")
    elif low > margin:
        out.verdict, out.why = SUPPORTED, f"A - B is above {margin:g} across the whole interval"
    elif high < 0:
        out.verdict, out.why = CONTRADICTED, "B beats A across the whole interval"
    else:
        out.why = (f"the interval [{low:.3f}, {high:.3f}] does not clear {margin:g}"
                   + (" and spans zero" if low <= 0 <= high else "")
                   + f"; this design detects true differences above {out.power:+.3f}")
    return out


def figure_verdict(quoted: float, reference: float, tolerance: float) -> Verdict:
    """A quoted figure against its reference (its own source), within an absolute tolerance."""
    diff = quoted - reference
    ok = abs(diff) <= tolerance
    return Verdict(SUPPORTED if ok else CONTRADICTED, quoted, reference, diff, diff, diff, 1,
                   f"quoted {quoted:g} vs reference {reference:g} (tolerance {tolerance:g})", design="figure")
