"""course_lib.recommend: the five questions give the advice the course teaches; constraints, Pareto fronts and the
fact check are computed, not typed."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from course_lib import recommend
from course_lib.errors import CourseLibError


@pytest.fixture(scope="module")
def zoo():
    from course_lib.models import zoo_table

    return zoo_table()


@pytest.fixture()
def timed():
    """A measured-looking table: a = fast and weak, b = slow and strong, c = dominated by a, d = strongest."""
    return pd.DataFrame({"ms_bs1": [5.0, 20.0, 9.0, 80.0, math.nan], "top1": [70.0, 78.0, 69.0, 82.0, 90.0],
                         "file_mb": [10.0, 40.0, 12.0, 300.0, 30.0]}, index=["a", "b", "c", "d", "untimed"])


# ----------------------------------------------------------------------------- the five questions
def test_tiny_data_cpu_realtime_gives_a_small_fast_model_and_feature_extraction(zoo):
    rows = recommend.recommend(task="classification", domain="near", n_per_class=20, compute="cpu", realtime=True,
                               fps=30, zoo=zoo)
    assert rows and all(isinstance(r, recommend.Recommendation) for r in rows)
    top = rows[0]
    assert top.facts["params_m"] < 10 and top.facts["ms"] <= 1000 / 30
    assert all(r.facts["ms"] <= 1000 / 30 for r in rows)
    assert top.strategy.startswith("feature extraction first")
    assert any("little data" in reason for reason in top.reasons)
    assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)


def test_large_data_gpu_gives_a_larger_model_and_fine_tuning(zoo):
    rows = recommend.recommend(n_per_class=5000, compute="gpu", zoo=zoo)
    small = recommend.recommend(n_per_class=20, compute="cpu", realtime=True, fps=30, zoo=zoo)
    assert rows[0].facts["params_m"] > 20 and rows[0].facts["top1"] > 82
    assert rows[0].facts["params_m"] > 3 * small[0].facts["params_m"]
    assert "fine-tuning of the whole network" in rows[0].strategy
    assert any("plenty of data" in reason for reason in rows[0].reasons)


def test_detection_says_a_classifier_zoo_is_the_wrong_place_and_names_detectors(zoo):
    from torchvision.models import detection, list_models

    rows = recommend.recommend(task="detection", compute="cpu", zoo=zoo)
    detectors = set(list_models(module=detection))
    assert rows and all(r.model in detectors for r in rows)
    assert all("classifier zoo is the wrong place" in r.reasons[0] for r in rows)
    assert not any(r.model.startswith("keypointrcnn") for r in rows)
    gpu = recommend.recommend(task="detection", compute="gpu", zoo=zoo)
    gflops = {r.model: r.facts["gflops"] for r in rows + gpu}
    assert gflops[rows[0].model] < gflops[gpu[0].model]  # a CPU gets a lighter detector than a GPU
    seg = recommend.recommend(task="segmentation", compute="mobile", zoo=zoo)
    assert "segmentation" in seg[0].reasons[0] and "mobilenet" in seg[0].model


def test_far_domain_and_domain_model_change_the_advice(zoo):
    far = recommend.recommend(domain="far", n_per_class=35, compute="cpu", zoo=zoo)
    assert "probe several stages" in far[0].strategy
    assert any("ImageNet top-1 predicts transfer weakly" in r for r in far[0].reasons)
    own = recommend.recommend(domain="far", n_per_class=35, domain_model="my_xray_densenet", zoo=zoo)
    assert own[0].model == "my_xray_densenet" and "pretrained on data like yours" in own[0].reasons[0]


def test_measured_latency_overrides_the_estimate_and_the_budget_excludes(zoo):
    est = recommend.recommend(n_per_class=200, compute="cpu", latency_ms=15, zoo=zoo, top=50)
    assert "resnet50" not in [r.model for r in est]  # about 84 ms estimated
    fast = recommend.recommend(n_per_class=200, compute="cpu", latency_ms=15, zoo=zoo, top=50,
                               measured={"resnet50": 9.0})
    r50 = next(r for r in fast if r.model == "resnet50")
    assert r50.facts["measured"] and r50.facts["ms"] == 9.0 and "measured" in r50.reasons[1]
    none = recommend.recommend(n_per_class=200, compute="cpu", latency_ms=0.5, zoo=zoo)
    assert len(none) == 1 and "nothing fits" in none[0].reasons[0]


def test_mobile_keeps_mobile_families_and_bad_answers_are_refused(zoo):
    rows = recommend.recommend(n_per_class=300, compute="mobile", zoo=zoo, top=50)
    assert rows and all(zoo.loc[r.model, "family"] in recommend.MOBILE_FAMILIES for r in rows)
    assert "vgg16" not in [r.model for r in rows]
    with pytest.raises(CourseLibError, match="classification"):
        recommend.recommend(task="captioning")
    with pytest.raises(CourseLibError, match="cpu"):
        recommend.recommend(compute="tpu")
    with pytest.raises(CourseLibError, match="fps"):
        recommend.recommend(realtime=True, fps=0)
    with pytest.raises(CourseLibError):
        recommend.recommend(n_per_class=0)


@pytest.mark.parametrize("n,regime,start", [(5, "tiny", "feature extraction first"),
                                            (99, "tiny", "feature extraction first"),
                                            (100, "medium", "feature extraction as the baseline"),
                                            (1000, "large", "fine-tuning of the whole network")])
def test_strategy_follows_the_data_size(n, regime, start):
    assert recommend.data_regime(n) == regime
    assert recommend.strategy_for(n).startswith(start)


# ----------------------------------------------------------------------------- constraints and the Pareto front
def test_shortlist_applies_every_constraint_and_fps_as_a_budget(timed):
    assert list(recommend.shortlist(timed).index) == ["untimed", "d", "b", "a", "c"]
    assert list(recommend.shortlist(timed, max_ms=10).index) == ["a", "c"]          # untimed cannot be checked
    assert list(recommend.shortlist(timed, fps=60).index) == ["a", "c"]             # 16.7 ms per frame
    assert list(recommend.shortlist(timed, fps=30, max_ms=6).index) == ["a"]        # the stricter budget wins
    assert list(recommend.shortlist(timed, max_mb=45, min_top1=70).index) == ["untimed", "b", "a"]
    with pytest.raises(CourseLibError):
        recommend.shortlist(timed, fps=0)
    assert recommend.Constraints(max_ms=50, fps=25).budget_ms == 40


def test_pareto_front_marks_the_non_dominated_models(timed):
    front = recommend.pareto_front(timed, "ms_bs1")
    assert front.to_dict() == {"a": True, "b": True, "c": False, "d": True, "untimed": False}
    by_size = recommend.pareto_front(timed, "file_mb")
    assert by_size.to_dict() == {"a": True, "b": False, "c": False, "d": False, "untimed": True}
    tie = pd.DataFrame({"ms_bs1": [5.0, 5.0], "top1": [70.0, 70.0]}, index=["x", "y"])
    assert recommend.pareto_front(tie, "ms_bs1").all()  # equal models do not dominate each other


def test_constraint_panel_builds_headless_and_draws_the_default_once(timed, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: drawn.append(True))
    panel = recommend.constraint_panel(timed, max_ms=10, max_mb=100, min_top1=60, fps=0)
    assert len(drawn) == 1 and list(panel.result.index) == ["a", "c"]
    panel.children[3].value = 120.0  # fps slider: 8.3 ms per frame
    assert list(panel.result.index) == ["a"] and len(drawn) == 2
    plt.close("all")


def test_recommend_form_builds_headless(zoo):
    form = recommend.recommend_form(zoo=zoo, n_per_class=20, realtime=True, fps=30)
    assert form.result and form.result[0].strategy.startswith("feature extraction first")
    table = recommend.recommendation_table(form.result)
    assert {"score", "reasons", "strategy"} <= set(table.columns)


def test_plot_pareto_draws_the_front(timed):
    import matplotlib.pyplot as plt

    ax = recommend.plot_pareto(timed, "ms_bs1", highlight=["a"], budget=10)
    assert ax.get_xscale() == "log" and "Pareto front" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


# ----------------------------------------------------------------------------- quoted figures
def test_fact_check_compares_quotes_with_torchvision_metadata():
    t = recommend.fact_check()
    r50 = t[t.model == "resnet50"].set_index("weights")
    assert r50.loc["IMAGENET1K_V1", "meta_top1"] == pytest.approx(76.13)
    assert r50.loc["IMAGENET1K_V2", "meta_top1"] == pytest.approx(80.858)
    assert r50.loc["IMAGENET1K_V1", "meta_file_mb"] == pytest.approx(97.781)
    assert r50.loc["IMAGENET1K_V1", "d_top1"] == pytest.approx(74.9 - 76.13)
    b0 = t[t.model == "efficientnet_b0"].iloc[0]
    assert b0.meta_top1 == pytest.approx(77.692) and b0.meta_file_mb == pytest.approx(20.451)
    assert round(b0.meta_params_m, 1) == 5.3
    assert b0.float32_mib == pytest.approx(5.288548 * 4 / 1.048576, abs=0.01)
    inc = t[t.model == "inception_v3"].iloc[0]
    assert inc.meta_params_m == pytest.approx(27.161, abs=1e-3)
    assert inc.params_m_without_aux == pytest.approx(23.8, abs=0.1)  # Keras' 24 M: no auxiliary classifier
    vit = t[t.model == "vit_b_16"].set_index("weights")
    assert vit.loc["IMAGENET1K_V1", "meta_top1"] == pytest.approx(81.072)
    assert vit.loc["IMAGENET1K_V1", "meta_params_m"] == pytest.approx(86.568, abs=1e-3)
    assert not t[t.weights == "IMAGENET1K_V1"]["agrees"].any()  # every quote disagrees with the V1 weights somewhere
    notes = recommend.explain_disagreements(t)
    assert len(notes) == 4 and "auxiliary classifier" in notes[2] and "Keras" in notes[0]
    assert "file format" in notes[1]


def test_measure_zoo_times_timm_and_torchvision_names_with_interleaved_repeats():
    t = recommend.measure_zoo(["tf_efficientnet_lite0", "mobilenet_v3_small"], input_size=64,
                              steps={1: 2, 4: 1}, warmup={1: 1, 4: 0}, repeats=2, batch_sizes=(1, 4))
    assert list(t.index) == ["tf_efficientnet_lite0", "mobilenet_v3_small"]
    assert (t["ms_bs1"] > 0).all() and (t["img_s_bs4"] > 0).all() and (t["img_size"] == 64).all()
    assert all(len(v) == 2 for v in t["ms_bs1_all"]) and (t["ms_bs1_spread"] >= 0).all()
    assert t.loc["mobilenet_v3_small", "params_m"] == pytest.approx(2.542856, abs=1e-3)
    assert t.loc["tf_efficientnet_lite0", "top1"] == pytest.approx(75.1)   # as the tensorflow/tpu README prints it
