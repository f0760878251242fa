"""Lab 03: its exercises accept right answers and reject the typical wrong ones with the right reason; the lab's
statements hold for the numbers it measured (fast profile, stable things only)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from course_lib import transfer
from course_lib.checks import ____
from course_lib.exercises import lab03

LAB = "03_model_comparison"


def bound(cls, **names):
    problem = cls({**names})
    return problem


def solution_namespace(cls, **names) -> dict:
    """Execute the problem's own solution code in a namespace with the lab's imports and `names`."""
    from course_lib import recommend

    ns = {"np": np, "pd": pd, "recommend": recommend, "transfer": transfer, **names}
    exec(cls.solution_code, ns)
    return ns


# ----------------------------------------------------------------------------- Q1 Pareto front
@pytest.fixture()
def speed():
    return pd.DataFrame({"ms_bs1": [4.0, 9.0, 6.0, 30.0, 12.0], "top1": [67.7, 75.3, 74.9, 80.9, 72.0]},
                        index=["mnv3_small", "mnv3_large", "lite0", "resnet50", "mnv2"])


def test_q1_accepts_the_front_in_any_order_and_the_solution(speed):
    q = lab03.ParetoFront({"front": ["resnet50", "mnv3_small", "lite0", "mnv3_large"], "speed": speed})
    q.assert_check_passed()
    ns = solution_namespace(lab03.ParetoFront, speed=speed)
    assert sorted(ns["front"]) == ["lite0", "mnv3_large", "mnv3_small", "resnet50"]
    lab03.ParetoFront(ns).assert_check_passed()


@pytest.mark.parametrize("front,reason", [
    (["mnv3_small", "lite0", "mnv3_large", "resnet50", "mnv2"], "'mnv2' is dominated: 'mnv3_large'"),
    (["mnv3_small", "lite0", "resnet50"], "'mnv3_large' is missing"),
    (["resnet50"], "is missing"),                     # only the most accurate one
    (["mnv3_small", "lite0", "ResNet-50"], "not rows of `speed`"),
    ("resnet50", "list of model names"),
])
def test_q1_rejects_typical_wrong_fronts(speed, front, reason):
    q = lab03.ParetoFront({"front": front, "speed": speed})
    q.assert_check_failed()
    assert reason in q.last.message


def test_q1_blank_is_not_attempted(speed):
    q = lab03.ParetoFront({"front": ____, "speed": speed})
    assert q.outcome().status == "not attempted"


# ----------------------------------------------------------------------------- Q2 NCE by hand
def test_q2_accepts_the_solution_and_a_vectorised_version():
    ns = solution_namespace(lab03.NCEByHand)
    lab03.NCEByHand(ns).assert_check_passed()

    def vectorised(source_labels, target_labels):
        return transfer.nce(np.asarray(source_labels), np.asarray(target_labels))

    lab03.NCEByHand({"my_nce": vectorised}).assert_check_passed()


def _entropy_like(sign=1.0, log=np.log, rename_sensitive=False):
    def fn(source_labels, target_labels):
        z, y = np.asarray(source_labels), np.asarray(target_labels)
        total = 0.0
        for zi in np.unique(z):
            for yi in np.unique(y):
                p_yz = np.mean((z == zi) & (y == yi))
                if p_yz > 0:
                    total += p_yz * log(p_yz / np.mean(z == zi))
        if rename_sensitive:
            total += 1e-3 * float(np.mean(z))  # depends on the source ids themselves
        return sign * total
    return fn


@pytest.mark.parametrize("fn,reason", [
    (_entropy_like(sign=-1.0), "sign is flipped"),
    (_entropy_like(log=np.log2), "in bits"),
    (_entropy_like(rename_sensitive=True), "expected"),
    (lambda z, y: None, "forget a `return`"),
    ("not a function", "should be a function"),
])
def test_q2_rejects_typical_wrong_functions(fn, reason):
    q = lab03.NCEByHand({"my_nce": fn})
    q.assert_check_failed()
    assert reason in q.last.message


def test_q2_renaming_check_catches_a_function_right_on_the_fixed_cases():
    cases = {tuple(z): transfer.nce(np.array(z), np.array(y)) for _, z, y in lab03.NCEByHand.cases()}

    def memorised(z, y):
        return cases.get(tuple(z), 0.5)  # right on the four cases, wrong on anything else

    q = lab03.NCEByHand({"my_nce": memorised})
    q.assert_check_failed()
    assert "renaming the source classes" in q.last.message


def test_q2_stub_is_not_attempted():
    ns: dict = {"____": ____}
    exec("def my_nce(source_labels, target_labels):\n    ____\n", ns)
    assert lab03.NCEByHand(ns).outcome().status == "not attempted"


# ----------------------------------------------------------------------------- Q3 tau of LogME
@pytest.fixture()
def tables():
    names = ["Lite0@blocks.4", "Lite0", "Lite1", "Lite2", "Lite0 random"]
    scores = {"hymenoptera": pd.DataFrame({"LogME": [-0.30, -0.25, -0.20, -0.28, -0.69]}, index=names)}
    # truth in a different candidate order than the scores, as a groupby might leave it
    truth = {"hymenoptera": pd.Series({"Lite2": 0.93, "Lite0 random": 0.60, "Lite1": 0.92, "Lite0": 0.94,
                                       "Lite0@blocks.4": 0.90})}
    return scores, truth


def test_q3_accepts_kendalls_tau_and_the_solution(tables):
    scores, truth = tables
    from scipy.stats import kendalltau

    s = scores["hymenoptera"]["LogME"]
    want = kendalltau(s, truth["hymenoptera"].loc[s.index]).statistic
    lab03.TauOfLogME({"tau_logme": want, "scores": scores, "truth": truth}).assert_check_passed()
    ns = solution_namespace(lab03.TauOfLogME, scores=scores, truth=truth)
    assert ns["tau_logme"] == pytest.approx(want)
    lab03.TauOfLogME(ns).assert_check_passed()


def test_q3_rejects_spearman_pearson_and_misaligned_candidates(tables):
    from scipy.stats import kendalltau, pearsonr, spearmanr

    scores, truth = tables
    s, t = scores["hymenoptera"]["LogME"], truth["hymenoptera"]
    aligned = t.loc[s.index]
    for value, reason in [(spearmanr(s, aligned).statistic, "Spearman"), (pearsonr(s, aligned).statistic, "Pearson"),
                          (kendalltau(s.to_numpy(), t.to_numpy()).statistic, "not lined up"), (0.123, "expected")]:
        q = lab03.TauOfLogME({"tau_logme": value, "scores": scores, "truth": truth})
        q.assert_check_failed()
        assert reason in q.last.message
    q = lab03.TauOfLogME({"tau_logme": "high", "scores": scores, "truth": truth})
    q.assert_check_failed()
    assert "should be a number" in q.last.message


# ----------------------------------------------------------------------------- Q4 first step
def test_q4_accepts_feature_extraction_and_explains_the_others():
    lab03.FirstStep({"first_step": "feature extraction"}).assert_check_passed()
    for wrong, reason in [("fine-tune the whole network", "350 images"), ("train from scratch", "random-init"),
                          ("fine-tuning", "must be one of")]:
        q = lab03.FirstStep({"first_step": wrong})
        q.assert_check_failed()
        assert reason in q.last.message


def test_exercises_are_bound_as_q1_to_q4():
    ns: dict = {}
    bound_ = lab03.bind_exercises(ns, lab03.EXERCISES)
    assert [type(b).__name__ for b in bound_] == ["ParetoFront", "NCEByHand", "TauOfLogME", "FirstStep"]
    assert ns["q4"] is bound_[3]


# ----------------------------------------------------------------------------- the lab's statements
@pytest.fixture(scope="module")
def results(lab_results):
    return lab_results(LAB)


def test_lab03_fact_check_statements(results):
    """Section 1: every quote disagrees with the weights it names; the reasons the text gives are in the numbers."""
    rows = {(r["model"], r["weights"]): r for r in results["fact_check"]}
    r50v1, r50v2 = rows[("resnet50", "IMAGENET1K_V1")], rows[("resnet50", "IMAGENET1K_V2")]
    assert (r50v1["meta_top1"], r50v2["meta_top1"]) == (pytest.approx(76.13), pytest.approx(80.858))
    assert abs(r50v1["d_file_mb"]) < 1 and round(r50v1["meta_params_m"]) == 26       # size and params agree
    b0 = rows[("efficientnet_b0", "IMAGENET1K_V1")]
    assert b0["quoted_file_mb"] > 1.2 * b0["float32_mib"]                            # 29 MB > 20 MiB of weights
    inc = rows[("inception_v3", "IMAGENET1K_V1")]
    assert round(inc["params_m_without_aux"]) == 24 and abs(inc["float32_mib"] * 23.834 / inc["meta_params_m"] - 92) < 2
    vit = rows[("vit_b_16", "IMAGENET1K_V1")]
    assert vit["d_top1"] > 4 and abs(vit["d_params_m"]) < 1
    assert not any(r["agrees"] for r in results["fact_check"] if r["weights"] == "IMAGENET1K_V1")


def test_lab03_speed_statements(results):
    """Section 2: at least twelve models timed at their own sizes, the Pareto front computed, the fastest on it."""
    speed = pd.DataFrame(results["speed"]).set_index("name")
    assert len(speed) >= 12 and {"tf_efficientnet_lite0", "tf_efficientnet_lite2", "resnet18"} <= set(speed.index)
    assert (speed["ms_bs1"] > 0).all() and (speed["img_s_bs32"] > 0).all()
    assert speed.loc["tf_efficientnet_lite2", "img_size"] == 260
    assert results["fastest"] in results["front_ms"] and set(results["front_ms"]) <= set(speed.index)
    assert set(results["shortlist_30fps"]) <= set(speed.index)
    assert all(speed.loc[m, "ms_bs1"] <= 1000 / 30 for m in results["shortlist_30fps"])
    # "latency does not follow GFLOPs": dense ResNet-18 does clearly more multiply-adds per ms than the MobileNets
    # (measured 0.35-0.55x their ms per GMAC over five loaded runs, 1 thread)
    per_gmac = speed["ms_bs1"] / speed["gflops"]
    assert per_gmac["resnet18"] < 0.75 * min(per_gmac["mobilenet_v3_large"], per_gmac["mobilenet_v2"])


def test_lab03_recommend_statements(results):
    """Section 3: the detection case names detectors; the small real-time case stays within its budget."""
    from torchvision.models import detection, list_models

    cases = results["shortlists"]
    assert set(cases["animals with boxes, a GPU"]) <= set(list_models(module=detection))
    speed = pd.DataFrame(results["speed"]).set_index("name")
    for m in cases["ants vs bees, 120 per class, laptop CPU, 30 fps"]:
        if m in speed.index:
            assert speed.loc[m, "ms_bs1"] <= 1000 / 30


def test_lab03_start_small_statements(results):
    """Section 4: the bigger Lite models cost more per image, and their probe gain does not clear the fold spread."""
    t = pd.DataFrame(results["start_small"])
    assert set(t["data"]) == {"hymenoptera", "eurosat"} and len(t) == 6
    lite2 = t[t["model"] == "tf_efficientnet_lite2"].set_index("data")
    lite0 = t[t["model"] == "tf_efficientnet_lite0"].set_index("data")
    assert (lite2["latency_vs_lite0"] > 1.2).all()   # measured 1.7-2.4x in five runs
    for big in ("tf_efficientnet_lite1", "tf_efficientnet_lite2"):
        part = t[t["model"] == big].set_index("data")
        for name in ("hymenoptera", "eurosat"):
            spread = max(lite0.loc[name, "probe_std"], part.loc[name, "probe_std"])
            assert part.loc[name, "gain_vs_lite0"] < spread   # measured gains -0.010 to +0.015, spreads 0.015-0.02


def test_lab03_transferability_statements(results):
    """Section 5: pretrained beats random init after fine-tuning, and every score ranks random init last.
    Not asserted: any tau value (the seed-to-seed ceiling says why)."""
    hym = results["transfer"]["hymenoptera"]
    assert hym["pretrained_beats_random"] and hym["pretrained_min_acc"] > hym["random_acc"]
    assert hym["random_acc"] <= hym["majority"] == pytest.approx(83 / 153)   # random init: not even the majority
    assert hym["random_ranked_last"] == {s: True for s in ["LogME", "k-NN", "linear probe", "LEEP", "NCE",
                                                           "ImageNet top-1"]}
    assert len(hym["truth"]) == 10 and len(hym["runs"]) == 20
    g = hym["group_means"]   # whole > cut after stage 5 > cut after stage 4 > random: 4 of 4 seeds ran so
    assert g["whole"] > g["blocks.5"] > g["blocks.4"] > g["random"]
    for score in ("LogME", "k-NN", "linear probe"):   # ... and these scores order the groups the same way
        sg = hym["score_group_means"][score]
        assert sg["whole"] > sg["blocks.5"] > sg["blocks.4"] > sg["random"]
    assert all(math.isfinite(r["LogME"]) for r in hym["scores"])
    c = hym["costs"]
    assert c["fine_tune_all_s"] > 2 * (c["extract_features_s"] + c["LogME_s"])   # measured 4.8-15x, loaded machine


def test_lab03_compatibility_statements(results):
    """Section 6: X-ray NORMAL vs PNEUMONIA: raw pixels score as well as ImageNet features or better, random features
    within two of 30 images; bacterial vs viral
    reaches 75% with no kind of feature; on eurosat ImageNet features beat random ones and raw pixels by a wide
    margin, and a mid-level stage matches or beats the final features."""
    c = results["compatibility"]
    x = c["chest_xray"]
    assert x["raw_pixels"] >= 0.85 and x["raw_pixels"] >= x["pretrained"] and x["random"] >= x["pretrained"] - 0.07
    assert len(c["bacteria_vs_virus"]) == 4 and all(v < 0.75 for v in c["bacteria_vs_virus"].values())
    e = c["eurosat"]
    assert e["pretrained"] - e["random"] >= 0.2 and e["pretrained"] - e["raw_pixels"] >= 0.3
    assert max(e["stages"]["blocks.3"], e["stages"]["blocks.4"]) >= e["stages"]["pooled"] - 0.02
