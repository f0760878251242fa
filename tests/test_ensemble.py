"""course_lib.recommend.ensemble: two probes averaged, on the folds and with the probe the single models use; the
ensemble's latency is the sum of its measured members."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from course_lib import claims, recommend, train
from course_lib.errors import CourseLibError


def noisy_views(n=600, d=6, noise=2.2, seed=0):
    """Two views of one latent signal, each with its own independent noise: informative, noisy, complementary."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    centres = rng.normal(size=(3, d))
    signal = centres[y]
    return {"A": signal + noise * rng.normal(size=(n, d)), "B": signal + noise * rng.normal(size=(n, d))}, y


def test_an_ensemble_of_two_noisy_views_beats_each_view_alone():
    views, y = noisy_views()
    cv = recommend.ensemble_cv(views, y, members=["A", "B"], n_splits=5, seed=0)
    assert set(cv) == {"A", "B", "ensemble"} and all(len(v) == 5 for v in cv.values())
    ens, a, b = (np.mean(cv[k]) for k in ("ensemble", "A", "B"))
    assert ens > max(a, b) + 0.02                 # averaging independent noise helps
    # paired with the single models' probe: each view's folds are exactly train.cross_val_probe's
    for k in ("A", "B"):
        assert cv[k] == pytest.approx(train.cross_val_probe(views[k], y, n_splits=5, seed=0)["scores"])


def test_an_ensemble_of_one_view_with_itself_is_that_view():
    views, y = noisy_views(n=150, seed=1)
    same = {"A": views["A"], "A again": views["A"].copy()}
    cv = recommend.ensemble_cv(same, y, members=["A", "A again"], n_splits=5, seed=0)
    assert cv["ensemble"] == cv["A"] == cv["A again"]          # identical probabilities: nothing to average out
    alone = recommend.ensemble_cv(views, y, members=["A"], n_splits=5, seed=0)
    assert alone["ensemble"] == alone["A"]                      # a one-member ensemble is that member


def test_ensemble_cv_rejects_unknown_members_and_misaligned_features():
    views, y = noisy_views(n=60)
    with pytest.raises(CourseLibError, match="must be keys"):
        recommend.ensemble_cv(views, y, members=["A", "C"])
    with pytest.raises(CourseLibError, match="must be keys"):
        recommend.ensemble_cv(views, y, members=[])
    with pytest.raises(CourseLibError, match="one row per label"):
        recommend.ensemble_cv({"A": views["A"], "B": views["B"][:-1]}, y, members=["A", "B"])


def speed_table():
    return pd.DataFrame({"img_size": [128, 128, 128], "ms_bs1": [5.0, 7.0, 10.0],
                         "ms_bs1_all": [[5.0, 5.5, 4.0], [7.0, 6.0, 8.0], [10.0, 11.0, 9.0]]},
                        index=["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"])


def test_ensemble_latency_is_the_sum_of_the_members_repeat_by_repeat():
    speed = speed_table()
    assert recommend.ensemble_latency(speed, ["tf_efficientnet_lite0", "tf_efficientnet_lite1"]) == [12.0, 11.5, 12.0]
    speed.at["tf_efficientnet_lite1", "ms_bs1_all"] = [7.0]
    with pytest.raises(CourseLibError, match="different number of times"):
        recommend.ensemble_latency(speed, ["tf_efficientnet_lite0", "tf_efficientnet_lite1"])


def test_ensemble_table_pairs_folds_and_puts_latencies_side_by_side(tmp_path):
    views, y = noisy_views(n=150, seed=2)
    X = {"Lite0": views["A"], "Lite1": views["B"], "Lite2": views["A"] + views["B"]}
    lites = list(speed_table().index)
    table, folds = recommend.ensemble_table({"toy": SimpleNamespace(X=X, labels=y)}, lites[:2], lites[2],
                                            speed_table(), n_splits=5, seed=0)
    t = table.set_index("model")
    assert list(t.index) == ["Lite0", "Lite1", "Lite0 + Lite1", "Lite2"]
    assert list(t["role"]) == ["member", "member", "ensemble", "single"]
    assert t.loc["Lite0 + Lite1", "ms_bs1"] == 12.0 and t.loc["Lite0 + Lite1", "latency_vs_single"] == pytest.approx(1.2)
    assert (t["n_eval"] == 30).all() and (t["n_train"] == 120).all() and (t["px"] == 128).all()
    assert np.mean(folds[("toy", "ensemble")]) == pytest.approx(t.loc["Lite0 + Lite1", "probe_acc"])
    assert len(folds[("toy", lites[2])]) == 5 and t.loc["Lite2", "gain_vs_single"] == 0
    e = claims.record(tmp_path / "l.json", "ensemble_equal_latency", a=folds[("toy", "ensemble")],
                      b=folds[("toy", lites[2])], design="splits", n_eval=30, n_train=120, data="toy",
                      ensemble="Lite0 + Lite1", single="Lite2", ensemble_ms=12.0, single_ms=10.0, latency_ratio=1.2)
    sentence = recommend.ensemble_sentence(e)
    assert sentence.startswith("toy: Lite0 + Lite1") and f"({e['verdict']})" in sentence and "1.20x" in sentence
