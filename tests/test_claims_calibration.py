"""Calibration of the verdict rule: simulate measurements whose truth sits exactly on the claim's boundary and
count how often the rule says "supported" (or "contradicted") when it should not.

The rule states a 90% two-sided interval, so each wrong one-sided call must happen in at most 5% of runs. Each rate
below comes from thousands of simulated runs (its standard error is about 0.2-0.3 points), and the test allows
nominal + 2 points, so a rule that is really calibrated passes every time and one that is not (the old percentile
bootstrap: 18.5% at n = 3) fails. The simulations use the kit's own rule (``claims.t_interval``, vectorised over
runs); ``test_vectorised_core_is_the_verdict_rule`` checks it is the same rule that ``claims.paired_verdict`` applies.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import claims

NOMINAL = (1 - claims.CONFIDENCE) / 2          # 5%: one wrong side of a 90% interval
SLACK = 0.02
NS = (3, 5, 10)


def _rates(d, design, margin, direction, **kw):
    """Share of simulated runs called supported and contradicted."""
    _, low, high, _, _ = claims.t_interval(d, design, **kw)
    if direction == "a_wins":
        return float(np.mean(low > margin)), float(np.mean(high < 0))
    return float(np.mean(high < margin)), float(np.mean(low > margin))


# --------------------------------------------------------------------------- independent repeats
@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_independent_pairs_false_support_at_most_nominal(n, noise):
    rng = np.random.default_rng(n)
    runs = 40_000
    e = rng.standard_normal((runs, n)) if noise == "normal" else rng.uniform(-1, 1, (runs, n))
    for margin in (0.0, 0.05):
        d = margin + 0.03 * e                                     # the truth sits exactly on the margin
        sup, _ = _rates(d, "independent", margin, "a_wins")
        assert sup <= NOMINAL + SLACK, (n, noise, margin, sup)
        sup, _ = _rates(d, "independent", margin, "no_gain")
        assert sup <= NOMINAL + SLACK, (n, noise, margin, sup)
    sup, con = _rates(0.03 * e, "independent", 0.0, "a_wins")   # A and B truly equal: neither side may win
    assert sup <= NOMINAL + SLACK and con <= NOMINAL + SLACK, (n, sup, con)


# --------------------------------------------------------------------------- seeds on one shared validation set
def _seeds_on_one_val_set(rng, runs, n, m, true_diff, flip=0.05):
    """Per-image correctness of A and B: each run draws m validation images from a population (both right 0.65,
    only A right, only B right, both wrong 0.15), then n seeds of training that each flip a prediction with
    probability `flip`. The population difference of accuracy is exactly `true_diff`."""
    gap = true_diff / (1 - 2 * flip)
    probs = np.array([0.65, 0.10 + gap / 2, 0.10 - gap / 2, 0.15])     # 11, 10, 01, 00
    kind = rng.choice(4, size=(runs, 1, m), p=probs)
    base_a, base_b = np.isin(kind, (0, 1)), np.isin(kind, (0, 2))
    ca = base_a ^ (rng.random((runs, n, m)) < flip)
    cb = base_b ^ (rng.random((runs, n, m)) < flip)
    return ca.astype(np.float32), cb.astype(np.float32)


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("m", [21, 150])
def test_seeds_design_false_support_at_most_nominal(n, m):
    rng = np.random.default_rng(1000 * n + m)
    runs = 12_000
    for margin, direction in ((0.05, "a_wins"), (0.0, "a_wins"), (0.05, "no_gain"), (0.0, "no_gain")):
        ca, cb = _seeds_on_one_val_set(rng, runs, n, m, true_diff=margin)
        acc_a, acc_b = ca.mean(-1), cb.mean(-1)
        d = acc_a - acc_b
        per_image = (ca - cb).mean(axis=1).var(axis=-1, ddof=1) / m                # with per-image results
        binomial = (acc_a * (1 - acc_a) + acc_b * (1 - acc_b)).mean(axis=-1) / m  # the bound without them
        for image_var in (per_image, binomial):
            sup, _ = _rates(d, "seeds", margin, direction, n_eval=m, image_var=image_var)
            assert sup <= NOMINAL + SLACK, (n, m, margin, direction, sup)
    ca, cb = _seeds_on_one_val_set(rng, runs, n, m, true_diff=0.0)
    d = ca.mean(-1) - cb.mean(-1)
    per_image = (ca - cb).mean(axis=1).var(axis=-1, ddof=1) / m
    sup, con = _rates(d, "seeds", 0.0, "a_wins", n_eval=m, image_var=per_image)
    assert sup <= NOMINAL + SLACK and con <= NOMINAL + SLACK, (n, m, sup, con)


def test_seed_noise_alone_is_not_enough_on_a_shared_validation_set():
    """Why the image term exists: ignoring the validation images' sampling noise (a plain t over seeds) says
    "supported" far more often than 5% when every seed is scored on the same 21 images."""
    rng = np.random.default_rng(7)
    ca, cb = _seeds_on_one_val_set(rng, 12_000, 5, 21, true_diff=0.0)
    d = ca.mean(-1) - cb.mean(-1)
    plain, _ = _rates(d, "independent", 0.0, "a_wins")
    assert plain > NOMINAL + 0.05, plain


# --------------------------------------------------------------------------- folds / repeated splits of one pool
def _cv_of_one_pool(rng, runs, n_folds, pool, repeated=False):
    """Accuracy of two equally good classifiers (a threshold fitted on feature 1 for A, on feature 2 for B) over
    `n_folds` folds of one pool drawn per run: the population difference is exactly zero by symmetry. With
    `repeated`, n random 80/20 splits instead of k-fold."""
    y = np.tile(np.arange(2), pool // 2)
    x = rng.standard_normal((runs, pool, 2)) + 0.6 * y[None, :, None]
    if repeated:
        n_test = pool // 5
        tests = np.stack([rng.permutation(pool)[:n_test] for _ in range(n_folds)])
    else:
        order = rng.permutation(pool)
        tests = np.array_split(order, n_folds)
        n_test = min(len(t) for t in tests)
        tests = np.stack([t[:n_test] for t in tests])
    accs = np.empty((2, runs, n_folds))
    for k, test in enumerate(tests):
        train = np.setdiff1d(np.arange(pool), test)
        mu0 = x[:, train][:, y[train] == 0].mean(axis=1)              # (runs, 2)
        mu1 = x[:, train][:, y[train] == 1].mean(axis=1)
        pred = x[:, test] > ((mu0 + mu1) / 2)[:, None, :]              # (runs, n_test, 2)
        accs[:, :, k] = (pred == (y[test] == 1)[None, :, None]).mean(axis=1).T
    return accs[0] - accs[1], n_test, pool - n_test


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("repeated", [False, True], ids=["k-fold", "repeated-splits"])
def test_splits_design_false_support_at_most_nominal(n, repeated):
    rng = np.random.default_rng(n + 10 * repeated)
    d, n_test, n_train = _cv_of_one_pool(rng, 12_000, n, pool=120, repeated=repeated)
    for margin in (0.0, 0.05):        # the rule is shift-invariant: truth = margin is d + margin against margin
        for direction in ("a_wins", "no_gain"):
            sup, _ = _rates(d + margin, "splits", margin, direction, n_eval=n_test, n_train=n_train)
            assert sup <= NOMINAL + SLACK, (n, repeated, margin, direction, sup)
    sup, con = _rates(d, "splits", 0.0, "a_wins", n_eval=n_test, n_train=n_train)
    assert sup <= NOMINAL + SLACK and con <= NOMINAL + SLACK, (n, repeated, sup, con)


def test_overlapping_splits_need_the_correction():
    """Repeated 80/20 splits of one pool share most of their images: a plain t over 10 splits calls a true tie
    a win far too often, which is what the Nadeau-Bengio term fixes."""
    d, _, _ = _cv_of_one_pool(np.random.default_rng(3), 12_000, 10, pool=120, repeated=True)
    plain, _ = _rates(d, "independent", 0.0, "a_wins")
    assert plain > NOMINAL + 0.03, plain


def _old_percentile_bootstrap_rate(rng, n, runs=4000, resamples=2000):
    """The rule this kit used before: 90% percentile bootstrap of the paired differences."""
    d = rng.standard_normal((runs, n))
    idx = rng.integers(0, n, size=(resamples, n))
    means = d[:, idx].mean(axis=-1)                                    # (runs, resamples)
    return float(np.mean(np.quantile(means, 0.05, axis=1) > 0))


def test_the_calibration_test_catches_the_old_bootstrap_rule():
    rate = _old_percentile_bootstrap_rate(np.random.default_rng(0), 3)
    assert rate > NOMINAL + SLACK, rate          # about 0.18: this file would have failed the old rule


# --------------------------------------------------------------------------- the scalar rule is the vectorised one
def test_vectorised_core_is_the_verdict_rule():
    rng = np.random.default_rng(11)
    for design, kw in (("independent", {}), ("splits", {"n_eval": 24, "n_train": 96}), ("seeds", {"n_eval": 150})):
        for _ in range(30):
            a = np.clip(0.8 + 0.05 * rng.standard_normal(5), 0, 1)
            b = np.clip(0.78 + 0.05 * rng.standard_normal(5), 0, 1)
            v = claims.paired_verdict(a, b, 0.01, design=design, **kw)
            image_var = (np.mean(a * (1 - a) + b * (1 - b)) / kw["n_eval"]) if design == "seeds" else None
            _, low, high, se, _ = claims.t_interval(a - b, design, kw.get("n_eval"), kw.get("n_train"), image_var)
            assert v.low == pytest.approx(float(low)) and v.high == pytest.approx(float(high))
            assert v.se == pytest.approx(float(se))
            assert v.verdict == (claims.SUPPORTED if low > 0.01 else claims.CONTRADICTED if high < 0
                                 else claims.INCONCLUSIVE)


def test_power_is_the_difference_called_supported_80_percent_of_the_time():
    """The `power` an entry reports is what its name says: simulate the same design at that true difference."""
    rng = np.random.default_rng(5)
    n, sigma, margin = 5, 0.03, 0.02
    v = claims.paired_verdict(margin + sigma * rng.standard_normal(n), np.zeros(n), margin)
    planned = margin + (v.power - margin) * sigma / (v.se * np.sqrt(n))   # the same design at the true sigma
    d = planned + sigma * rng.standard_normal((40_000, n))
    sup, _ = _rates(d, "independent", margin, "a_wins")
    assert 0.72 <= sup <= 0.88, sup
