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
ENSEMBLE_VERDICTS = {"hymenoptera": "inconclusive", "eurosat": "inconclusive"}    # as section 4b's text reads them


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
    return pd.DataFrame({"gflops": [0.06, 0.22, 0.20, 4.1, 0.30], "ms_bs1": [4.0, 9.0, 6.0, 30.0, 12.0],
                         "top1": [67.7, 75.3, 74.9, 80.9, 72.0]},
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
@pytest.fixture()
def compat():
    """Section 6's table, shaped as the lab builds it: X-rays where raw pixels tie the best, EuroSAT where a mid stage
    is within 2 points of the best (pooled) and the random network far below."""
    rows = []
    for data, acc in {"chest_xray": {"blocks.2": 0.80, "blocks.3": 0.83, "blocks.4": 0.87, "pooled": 0.83,
                                     "random": 0.90, "raw": 0.90},
                      "eurosat": {"blocks.2": 0.70, "blocks.3": 0.78, "blocks.4": 0.81, "pooled": 0.82,
                                  "random": 0.55, "raw": 0.45}}.items():
        for layer in ("blocks.2", "blocks.3", "blocks.4", "pooled"):
            rows.append({"data": data, "features": "ImageNet Lite0", "layer": layer, "val_acc": acc[layer]})
        rows.append({"data": data, "features": "random-init Lite0", "layer": "pooled", "val_acc": acc["random"]})
        rows.append({"data": data, "features": "raw pixels 16x16", "layer": "-", "val_acc": acc["raw"]})
    return pd.DataFrame(rows)


def test_q4_accepts_the_cheapest_option_near_the_best_and_the_solution(compat):
    right = {"chest_xray": "raw pixels 16x16", "eurosat": "Lite0 blocks.4"}
    assert lab03.first_step_answers(compat) == {k: {v} for k, v in right.items()}
    lab03.FirstStep({"first_step": right, "compat": compat}).assert_check_passed()
    ns = solution_namespace(lab03.FirstStep, compat=compat)
    assert ns["first_step"] == right
    lab03.FirstStep(ns).assert_check_passed()


@pytest.mark.parametrize("answer,reason", [
    ("feature extraction", "does not say which features"),                                  # the old, guessable answer
    ({"chest_xray": "raw pixels 16x16"}, "one option per data set"),
    ({"chest_xray": "raw pixels 16x16", "eurosat": "Lite0 pooled"}, "most accurate, but accuracy alone"),
    ({"chest_xray": "random-init Lite0", "eurosat": "Lite0 blocks.4"}, "'raw pixels 16x16' (0.900) is too"),
    ({"chest_xray": "Lite0 pooled", "eurosat": "Lite0 blocks.4"}, "more than 2 points below"),  # ImageNet by habit
    ({"chest_xray": "raw pixels 16x16", "eurosat": "Lite0 blocks.3"}, "more than 2 points below"),
    ({"chest_xray": "raw pixels", "eurosat": "Lite0 blocks.4"}, "not an option"),
])
def test_q4_rejects_typical_wrong_answers_with_the_measured_reason(compat, answer, reason):
    q = lab03.FirstStep({"first_step": answer, "compat": compat})
    q.assert_check_failed()
    assert reason in q.last.message


def test_q4_equal_costs_tie():
    """Pooled and random-init Lite0 cost the same network: when both qualify and nothing cheaper does, either is right."""
    t = pd.DataFrame([{"data": "d", "features": "ImageNet Lite0", "layer": "blocks.2", "val_acc": 0.5},
                      {"data": "d", "features": "ImageNet Lite0", "layer": "pooled", "val_acc": 0.9},
                      {"data": "d", "features": "random-init Lite0", "layer": "pooled", "val_acc": 0.89},
                      {"data": "d", "features": "raw pixels 16x16", "layer": "-", "val_acc": 0.4}])
    for pick in ("Lite0 pooled", "random-init Lite0"):
        lab03.FirstStep({"first_step": {"d": pick}, "compat": t}).assert_check_passed()


# ----------------------------------------------------------------------------- Q5 reconcile the figures
def test_q5_the_stored_sources_trace_each_quote_to_exactly_one_origin():
    from course_lib import recommend

    table = recommend.figure_origins()
    found = {q.label: recommend.quote_origins(q, table) for q in recommend.TEXT_QUOTES}
    assert found == {"ResNet-50 76.2%": ["resnet50/torchvision V1 (older docs)"],
                     "Inception-v3 78.8%": ["inception_v3/paper"],
                     "MobileNet 17 MB": ["mobilenet_v1/keras float32 weights"]}
    assert table.loc["resnet50/torchvision V1 (older docs)", "value"] == pytest.approx(76.15)
    assert table.loc["resnet50/torchvision V1 (meta)", "value"] == pytest.approx(76.13)     # same weights, 76.1
    assert table.loc["inception_v3/paper", "crop_px"] == 299
    assert table.loc["mobilenet_v2/float32 weights counted here", "value"] == pytest.approx(14.02, abs=0.01)


def test_q5_accepts_the_origins_and_the_solution():
    from course_lib import recommend

    right = {"ResNet-50 76.2%": "resnet50/torchvision V1 (older docs)", "Inception-v3 78.8%": "inception_v3/paper",
             "MobileNet 17 MB": "mobilenet_v1/keras float32 weights"}
    q = lab03.Reconcile({"origins": right})
    q.assert_check_passed()
    assert "IMAGENET1K_V1, 224 px crop" in q.last.message and "299 px crop" in q.last.message
    ns = solution_namespace(lab03.Reconcile)
    assert ns["origins"] == right and ns["table"] is not None and recommend.TEXT_QUOTES
    lab03.Reconcile(ns).assert_check_passed()


@pytest.mark.parametrize("key,value,reason", [
    ("ResNet-50 76.2%", "resnet50/torchvision V1 (meta)", "rounds to 76.1"),     # right weights, wrong evaluation
    ("ResNet-50 76.2%", "resnet50/torchvision V2 (meta)", "newer training recipe"),
    ("ResNet-50 76.2%", "resnet50/keras", "Caffe release"),
    ("Inception-v3 78.8%", "inception_v3/keras", "more than the 0.05"),
    ("Inception-v3 78.8%", "inception_v3/torchvision V1 (meta)", "-1.51 from the quote"),
    ("MobileNet 17 MB", "mobilenet_v1/keras file", "Keras' file"),
    ("MobileNet 17 MB", "mobilenet_v2/float32 weights counted here", "more than the 0.5"),
    ("MobileNet 17 MB", "resnet50/keras", "is a top1 figure of resnet50"),
    ("MobileNet 17 MB", 17.2, "not its value"),
    ("MobileNet 17 MB", "MobileNet v1", "not a row"),
])
def test_q5_rejects_typical_wrong_origins_and_says_why(key, value, reason):
    right = {"ResNet-50 76.2%": "resnet50/torchvision V1 (older docs)", "Inception-v3 78.8%": "inception_v3/paper",
             "MobileNet 17 MB": "mobilenet_v1/keras float32 weights"}
    q = lab03.Reconcile({"origins": {**right, key: value}})
    q.assert_check_failed()
    assert reason in q.last.message


def test_q5_needs_all_three_quotes():
    q = lab03.Reconcile({"origins": {"ResNet-50 76.2%": "resnet50/torchvision V1 (older docs)"}})
    q.assert_check_failed()
    assert "should be a dict with the keys" in q.last.message
    assert lab03.Reconcile({"origins": ____}).outcome().status == "not attempted"


def test_exercises_are_bound_as_q1_to_q6():
    ns: dict = {}
    bound_ = lab03.bind_exercises(ns, lab03.EXERCISES)
    assert [type(b).__name__ for b in bound_] == ["ParetoFront", "NCEByHand", "TauOfLogME", "FirstStep", "Reconcile",
                                                  "ReplyToTheQuote"]
    assert ns["q4"] is bound_[3] and ns["q5"] is bound_[4] and ns["q6"] is bound_[5]


# ----------------------------------------------------------------------------- Q6: the written reply
def _reply_ns(text, shortlist=("mobilenet_v3_large", "tf_efficientnet_lite0")):
    speed = pd.DataFrame({"ms_bs1": [148.6, 12.4, 16.1], "top1": [81.1, 75.3, 75.1]},
                         index=["vit_b_16", "mobilenet_v3_large", "tf_efficientnet_lite0"])
    realtime = pd.DataFrame({"claim": ["realtime_latency", "realtime_latency"], "model": ["vit_b_16", "resnet18"],
                             "verdict": ["contradicted", "supported"]})
    return lab03.ReplyToTheQuote({"reply": text, "speed": speed, "realtime": realtime,
                                  "shortlist_30fps": speed.loc[list(shortlist)]})


REPLY_GOOD = ("86 M is the parameter count of ViT-Base in the ViT paper, but the 85.8% top-1 has no source the lab "
              "could find: torchvision's closest figure belongs to weights pretrained on far more data, at 384 px. "
              "Size aside, 30 fps leaves 33.3 ms per frame, and ViT-B/16 took 148.6 ms at batch 1 on this machine: "
              "the ledger's verdict is contradicted. MobileNet-V3 large fits, at 12.4 ms per frame with a published "
              "top-1 of 75.3%; I would test it on our own images with a linear probe, starting small, before paying "
              "for anything bigger. All of this holds for this CPU at batch 1: a GPU or a phone can order the models "
              "differently, so time the candidates on the app's own hardware before deciding anything at all.")


def test_q6_a_reply_with_this_runs_latency_verdict_and_shortlist_passes():
    _reply_ns(REPLY_GOOD).assert_check_passed()
    _reply_ns(REPLY_GOOD.replace("148.6 ms", "about 149 ms")).assert_check_passed()       # rounded is fine


@pytest.mark.parametrize("text,words", [
    ("Transformers are slow, use a CNN.", "words: a reply that checks both figures"),
    (REPLY_GOOD.replace("148.6 ms", "about 100 ms"), "ViT-B/16's batch-1 latency your run measured"),
    (REPLY_GOOD.replace("MobileNet-V3 large fits", "ResNet-50 fits"), "a model from your run's 30 fps shortlist"),
    (REPLY_GOOD.replace("the ledger's verdict is contradicted", "far too slow"), "real-time verdict"),
    (REPLY_GOOD.replace("All of this holds for this CPU at batch 1: a GPU or a phone can order the models "
                        "differently", "Transformers never work in real time, anywhere").replace("on this machine", "")
     .replace("app's own hardware", "app").replace(" at batch 1", "") + " Trust the published numbers, they are what everyone quotes.",
     "for what the verdict holds"),
])
def test_q6_typical_weak_replies_fail_and_say_what_is_missing(text, words):
    q = _reply_ns(text)
    q.assert_check_failed()
    assert words in q.last.message, q.last.message


def test_q6_an_empty_shortlist_asks_to_say_none_fits():
    q = _reply_ns(REPLY_GOOD, shortlist=())
    q.assert_check_failed()
    assert "shortlist" in q.last.message
    _reply_ns(REPLY_GOOD + " Here no timed model fits.", shortlist=()).assert_check_passed()


# ----------------------------------------------------------------------------- the lab's statements
@pytest.fixture(scope="module")
def results(lab_results):
    return lab_results(LAB)


@pytest.fixture(scope="module")
def ledger(run_lab, results):
    """The claims the lab recorded (its one execution, asserted successful by `results`)."""
    from course_lib import claims

    return claims.load_ledger(claims.ledger_path(run_lab(LAB)["results"]))


def test_lab03_quoted_figures_statements(results, ledger):
    """Section 1: every recorded figure matches its own source (supported); ViT's 85.8% has no source and is not
    recorded; the distances to torchvision's weights the text gives are in the numbers (and in the details)."""
    from course_lib import claims

    q = {e["note"].split(":")[0]: e for e in ledger if e["claim"] == "quoted_figures"}
    keras = ("resnet50", "efficientnet_b0", "inception_v3")
    assert set(q) == {f"{m} {f}" for m in keras for f in ("top1", "file_mb", "params_m")} | {"vit_b_16 params_m"}
    assert {e["verdict"] for e in q.values()} == {claims.SUPPORTED}
    assert all(e["details"]["source_url"] == "https://keras.io/api/applications/" for k, e in q.items()
               if not k.startswith("vit"))
    assert all(claims.figure_verdict(e["quoted"], e["reference"], e["tolerance"]).verdict == e["verdict"]
               for e in q.values())
    assert (q["resnet50 params_m"]["quoted"], q["resnet50 params_m"]["reference"]) == (26.0, 25.6)
    r50 = q["resnet50 top1"]["details"]            # kept as a difference: the kit loads torchvision's V2 weights
    assert r50["kit_weights"].endswith("IMAGENET1K_V2") and round(-r50["difference_from_kit"], 1) == 6.0
    unsourced = [(r["model"], r["figure"], r["quoted"]) for r in results["source_check"] if r["matches"] is None]
    assert unsourced == [("vit_b_16", "top1", 85.8)]

    rows = {(r["model"], r["weights"]): r for r in results["weights_difference"]}
    v1, v2 = rows[("resnet50", "IMAGENET1K_V1")], rows[("resnet50", "IMAGENET1K_V2")]
    assert (v1["meta_top1"], v2["meta_top1"]) == (pytest.approx(76.13), pytest.approx(80.858)) and v2["kit_default"]
    assert (round(-v1["d_top1"], 1), round(-v2["d_top1"], 1)) == (1.2, 6.0)          # "1.2 and 6.0 points above"
    assert (round(v1["meta_file_mb"], 1), round(v1["counted_params_m"], 1)) == (97.8, 25.6)
    b0 = rows[("efficientnet_b0", "IMAGENET1K_V1")]
    assert (round(b0["meta_top1"], 2), round(b0["meta_file_mb"], 1), round(b0["counted_params_m"], 1)) == (77.69, 20.5, 5.3)
    assert round(b0["float32_mib"]) == 20 and b0["quoted_file_mb"] > 1.2 * b0["float32_mib"]   # 29 MB: a file format
    inc = rows[("inception_v3", "IMAGENET1K_V1")]
    assert (round(inc["counted_params_m"], 1), round(inc["meta_file_mb"], 1)) == (27.2, 103.9)
    assert round(inc["params_m_without_aux"], 1) == 23.8 and (round(inc["meta_top1"], 2), inc["input_px"]) == (77.29, 299)
    vit, swag = rows[("vit_b_16", "IMAGENET1K_V1")], rows[("vit_b_16", "IMAGENET1K_SWAG_E2E_V1")]
    assert (round(vit["meta_top1"], 2), round(swag["meta_top1"], 2), swag["input_px"]) == (81.07, 85.30, 384)
    gaps = [abs(r["d_top1"]) for (m, _), r in rows.items() if m in keras]
    assert (round(min(gaps), 1), round(max(gaps), 1)) == (0.6, 6.0)                   # "0.6 to 6.0 points here"


def test_lab03_speed_statements(results):
    """Section 2: the named models timed at their own sizes (transformers and DenseNet-121 at batch 1 only in the fast
    profile: time, and memory), the Pareto front computed, the fastest on it."""
    from course_lib import recommend

    speed = pd.DataFrame(results["speed"]).set_index("name")
    named = set(recommend.REALTIME_CONVNETS) | set(recommend.REALTIME_TRANSFORMERS)
    assert len(speed) == 14 and named | {"tf_efficientnet_lite2"} <= set(speed.index)
    skipped = results["settings"]["bench_skip"]["32"]
    assert set(skipped) == {"vit_b_16", "swin_t", "densenet121"}
    assert (speed["ms_bs1"] > 0).all() and speed.loc[skipped, "img_s_bs32"].isna().all()
    assert (speed.drop(index=skipped)["img_s_bs32"] > 0).all()
    assert speed.loc["tf_efficientnet_lite2", "img_size"] == 260 and (speed["repeats"] == 5).all()
    assert results["fastest"] in results["front_ms"] and set(results["front_ms"]) <= set(speed.index)
    assert set(results["shortlist_30fps"]) <= set(speed.index)
    assert all(speed.loc[m, "ms_bs1"] <= 1000 / 30 for m in results["shortlist_30fps"])
    # ResNet-18's multiply-adds per ms against the MobileNets': a verdict with its interval, printed as computed
    # (a loaded machine can move a timing either way, so its outcome is not asserted)
    macs = {r["model"]: r for r in results["macs_per_ms"]}
    assert set(macs) == {"mobilenet_v2", "mobilenet_v3_large"}
    for m, row in macs.items():
        assert row["low"] <= row["ratio"] <= row["high"] and row["n"] == 5
        assert row["sentence"].endswith(f"({row['verdict']}).") and f"{row['ratio']:.2f}x" in row["sentence"]


def test_lab03_realtime_statements(results, ledger):
    """Section 2, real time: one budget verdict per named model and one speed verdict per named convnet, each from
    the interleaved repeats it names, printed as the ledger recorded it; ViT-B/16 is over the budget on a CPU."""
    from course_lib import claims, recommend

    speed = pd.DataFrame(results["speed"]).set_index("name")
    rt = {e["details"]["model"]: e for e in ledger if e["claim"] == "realtime_latency"}
    cf = {e["details"]["model"]: e for e in ledger if e["claim"] == "convnets_faster_than_transformers"}
    assert set(rt) == set(recommend.REALTIME_CONVNETS) | set(recommend.REALTIME_TRANSFORMERS)
    assert set(cf) == set(recommend.REALTIME_CONVNETS)
    machine = results["realtime"]["machine"]
    assert "cores" in machine and "torch thread" in machine and "cpu" in machine
    for m, e in rt.items():
        assert e["design"] == "independent" and len(e["b"]) == 5 and e["a"] == [pytest.approx(1000 / 30)] * 5
        assert np.median(e["b"]) == pytest.approx(speed.loc[m, "ms_bs1"], abs=2e-3) and machine in e["note"]
        assert claims.paired_verdict(e["a"], e["b"], design="independent").verdict == e["verdict"]
        assert results["realtime"]["sentences"][f"realtime_latency:{m}"].endswith(f"({e['verdict']}).")
    fastest_tf = np.min([rt[t]["b"] for t in recommend.REALTIME_TRANSFORMERS], axis=0)
    for m, e in cf.items():
        assert e["a"] == pytest.approx(fastest_tf.tolist()) and e["b"] == rt[m]["b"] and e["design"] == "independent"
        assert claims.paired_verdict(e["a"], e["b"], design="independent").verdict == e["verdict"]
        assert results["realtime"]["sentences"][f"convnets_faster_than_transformers:{m}"].endswith(f"({e['verdict']}).")
    assert rt["vit_b_16"]["verdict"] == claims.CONTRADICTED     # "on a 2-core CPU ViT-B/16 is far over 33 ms"


def test_lab03_recommend_statements(results):
    """Section 3: the detection case names detectors; the small real-time case stays within its budget."""
    from torchvision.models import detection, list_models

    cases = results["shortlists"]
    assert set(cases["animals with boxes, a GPU"]) <= set(list_models(module=detection))
    speed = pd.DataFrame(results["speed"]).set_index("name")
    for m in cases["ants vs bees, 120 per class, laptop CPU, 30 fps"]:
        if m in speed.index:
            assert speed.loc[m, "ms_bs1"] <= 1000 / 30


def test_lab03_start_small_statements(results, ledger):
    """Section 4: probe and cost at one shared size (128 px); 'no gain' supported on hymenoptera, inconclusive on
    eurosat (power below about -5 points), Lite2 slightly below Lite0 on both; about 1.5x Lite0's multiply-adds."""
    from course_lib import claims

    t = pd.DataFrame(results["start_small"])
    assert set(t["data"]) == {"hymenoptera", "eurosat"} and len(t) == 6 and (t["px"] == 128).all()
    ss = {e["note"].split(",")[0]: e for e in ledger if e["claim"] == "start_small"}
    assert {k: e["verdict"] for k, e in ss.items()} == {"hymenoptera": claims.SUPPORTED, "eurosat": claims.INCONCLUSIVE}
    for name, e in ss.items():
        part = t[t["data"] == name].set_index("model")
        assert e["design"] == "splits" and "Lite2 at 128 px, Lite0 at 128 px" in e["note"]
        assert (e["n_eval"], e["n_train"]) == (part["n_eval"].iloc[0], part["n_train"].iloc[0])
        assert e["n_eval"] + e["n_train"] == {"hymenoptera": 397, "eurosat": 500}[name] and len(e["a"]) == 5
        assert np.mean(e["a"]) == pytest.approx(part.loc["tf_efficientnet_lite2", "probe_acc"])
        assert np.mean(e["b"]) == pytest.approx(part.loc["tf_efficientnet_lite0", "probe_acc"])
        again = claims.paired_verdict(e["a"], e["b"], 0.02, "no_gain", design="splits", n_eval=e["n_eval"],
                                      n_train=e["n_train"])
        assert again.verdict == e["verdict"] and e["diff"] < 0                 # "slightly below Lite0 on average"
    assert ss["hymenoptera"]["high"] < 0.02                                    # "the whole interval below 2 points"
    assert -0.07 < ss["eurosat"]["power"] < -0.03                              # "below about -5 points"
    lite2 = t[t["model"] == "tf_efficientnet_lite2"]
    assert (lite2["gmacs_vs_lite0"].round(1) == 1.5).all()                     # "about 1.5x the multiply-adds"


def test_lab03_ensemble_statements(results, ledger):
    """Section 4b: per data set, the Lite0 + Lite1 ensemble against Lite2 on the start-small folds, recorded with a
    paired verdict; the ensemble's latency is the sum of its two measured members, printed beside Lite2's."""
    from course_lib import claims

    t = pd.DataFrame(results["ensemble"])
    ss = pd.DataFrame(results["start_small"])
    assert set(t["data"]) == {"hymenoptera", "eurosat"} and len(t) == 8 and (t["px"] == 128).all()
    ens = {e["details"]["data"]: e for e in ledger if e["claim"] == "ensemble_equal_latency"}
    assert set(ens) == {"hymenoptera", "eurosat"}
    for name, e in ens.items():
        part = t[t["data"] == name].set_index("model")
        lites = ss[ss["data"] == name].set_index("model")
        assert e["design"] == "splits" and len(e["a"]) == len(e["b"]) == 5
        assert (e["n_eval"], e["n_train"]) == (lites["n_eval"].iloc[0], lites["n_train"].iloc[0])
        # the single model's probe is section 4's, fold by fold; the members' too
        start_small = next(x for x in ledger if x["claim"] == "start_small" and x["note"].startswith(name))
        assert e["b"] == pytest.approx(start_small["a"])
        for m in ("Lite0", "Lite1", "Lite2"):
            assert part.loc[m, "probe_acc"] == pytest.approx(lites.loc[f"tf_efficientnet_{m.lower()}", "probe_acc"])
        assert np.mean(e["a"]) == pytest.approx(part.loc["Lite0 + Lite1", "probe_acc"])
        # latency: the median over repeats of the two members' summed measured latencies, beside Lite2's
        d = e["details"]
        assert d["ensemble_ms"] == pytest.approx(part.loc["Lite0 + Lite1", "ms_bs1"])
        assert d["single_ms"] == pytest.approx(lites.loc["tf_efficientnet_lite2", "ms_bs1"])
        assert d["latency_ratio"] == pytest.approx(d["ensemble_ms"] / d["single_ms"])
        again = claims.paired_verdict(e["a"], e["b"], design="splits", n_eval=e["n_eval"], n_train=e["n_train"])
        assert again.verdict == e["verdict"]
        assert 0 < e["diff"] < 0.05 and e["low"] < 0          # "above Lite2 on average, by a few points at most"
        gmacs = lites["gmacs"]                                 # "together more multiply-adds than Lite2"
        assert gmacs["tf_efficientnet_lite0"] + gmacs["tf_efficientnet_lite1"] > gmacs["tf_efficientnet_lite2"]
    assert {k: e["verdict"] for k, e in ens.items()} == ENSEMBLE_VERDICTS


def test_lab03_transferability_statements(results):
    """Section 5: pretrained beats random init after fine-tuning, and every score ranks random init last.
    Not asserted: any tau value (the perfect-score reference says why); duplicate copies leave LogME unchanged."""
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
    ref = hym["perfect_reference"]
    assert ref["low"] <= ref["tau"] <= ref["high"] and (ref["n_seeds"], ref["n_candidates"]) == (2, 10)
    d = hym["duplicates"]   # copies dropped: LogME as without them; near copies kept (tol=0): higher
    assert d["logme_with_copies"] == pytest.approx(d["logme"], abs=1e-12) and d["logme_near_copies_kept"] > d["logme"]
    c = hym["costs"]
    # "a fraction of fine-tuning every candidate once": measured 4.8-15x in one run; a warm cache keeps the cold
    # extraction time of an earlier run (measured 1.04x when that run shared the cores with other jobs), so only the
    # direction is asserted
    assert c["fine_tune_all_s"] > c["extract_features_s"] + c["LogME_s"]


def test_lab03_compatibility_statements(results):
    """Section 6: X-ray NORMAL vs PNEUMONIA: raw pixels reach 85% or more, as well as ImageNet features or better, and
    random features within two of the 30 images or better; bacterial vs viral reaches 75% with no kind of feature; on
    eurosat ImageNet features beat random ones by at least 20 points and raw pixels by at least 30, and a mid-level
    stage matches the final features within 2 points or beats them."""
    c = results["compatibility"]
    x = c["chest_xray"]
    assert x["raw_pixels"] >= 0.85 and x["raw_pixels"] >= x["pretrained"]
    assert x["random"] >= x["pretrained"] - 2 / 30 - 1e-9
    assert len(c["bacteria_vs_virus"]) == 4 and all(v < 0.75 for v in c["bacteria_vs_virus"].values())
    e = c["eurosat"]
    assert e["pretrained"] - e["random"] >= 0.2 and e["pretrained"] - e["raw_pixels"] >= 0.3
    assert max(e["stages"]["blocks.3"], e["stages"]["blocks.4"]) >= e["stages"]["pooled"] - 0.02


def test_lab03_negative_transfer_statements(results, ledger):
    """Section 6b: the X-ray-adapted source really moved (its target probe falls well below ImageNet's), the matched
    source wins with a supported verdict, and both verdicts are in the ledger with the numbers the lab saved."""
    neg = results["negative_transfer"]
    means = neg["means"]
    assert means["ImageNet"] > means["X-ray-adapted"] + 0.10
    assert means["ImageNet"] > neg["majority"] + 0.2                     # photos to photos: the features work
    assert neg["adaptation"]["val_accuracy"] > 0.5                       # the source did learn its X-ray task
    entries = {e["claim"]: e for e in ledger if e["claim"] in ("source_match", "negative_transfer")}
    assert set(entries) == {"source_match", "negative_transfer"}
    assert entries["source_match"]["verdict"] == "supported" == neg["source_match"]
    assert entries["negative_transfer"]["verdict"] == neg["negative_transfer"]
    assert entries["negative_transfer"]["mean_b"] == pytest.approx(means["X-ray-adapted"])
