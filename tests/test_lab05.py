"""Lab 05 (the capstone): every statement its text makes, asserted from what its fast profile measured."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from course_lib import choose, claims

LAB = "05_choose_for_your_data"


@pytest.fixture(scope="module")
def r(lab_results):
    return lab_results(LAB)


@pytest.fixture(scope="module")
def entry(run_lab, r):
    mine = [e for e in claims.load_ledger(claims.ledger_path(run_lab(LAB)["results"]))
            if e["claim"] == "imagenet_features_beat_shortcuts"]
    assert len(mine) == 1
    return mine[0]


def test_the_folder_is_read_in_one_call_without_warnings(r):
    """eurosat_more read as plain class folders: 1,500 tiles, 150 per class, nothing skipped or flagged."""
    t = r["folder_table"]
    assert (t["images"], t["skipped"], t["warnings"]) == (1500, 0, [])
    assert set(t["classes"].values()) == {150} and len(t["classes"]) == 10
    assert r["risks"]["images"] == 300 and r["risks"]["duplicate_files"] == 0 and r["risks"]["leak"] is None


def test_imagenet_features_beat_every_shortcut_supported(r, entry):
    """'the chosen features against the best of random weights, 16x16 raw pixels and the image's size and shape is
    supported (the ledger records it)'"""
    shortcut = r["verdicts"]["chosen vs the best shortcut"]
    assert entry["verdict"] == claims.SUPPORTED and entry["low"] > 0 and entry["design"] == "splits"
    assert entry["a"] == pytest.approx(r["folds"][r["chosen"]]) and entry["b"] == pytest.approx(r["folds"][shortcut["b"]])
    best_shortcut = max(["Lite0 random", *choose.SHORTCUTS], key=lambda k: np.mean(r["folds"][k]))
    assert shortcut["b"] == best_shortcut and r["claims"] == {"imagenet_features_beat_shortcuts": "supported"}
    again = claims.paired_verdict(entry["a"], entry["b"], design="splits", n_eval=entry["n_eval"],
                                  n_train=entry["n_train"])
    assert again.verdict == entry["verdict"] and (entry["n_eval"], entry["n_train"]) == (60, 240)


def test_size_and_shape_score_the_majority_class_because_every_tile_is_64_px(r):
    assert r["risks"]["distinct_sizes"] == 1
    assert np.mean(r["folds"]["image size and shape"]) == pytest.approx(r["risks"]["majority"]) == pytest.approx(0.1)


def test_the_costlier_finalist_is_not_shown_better_so_the_cheaper_is_kept(r):
    """'The two finalists are within a few points of each other, and the costlier one is not better with a verdict
    the folds can show: the rule keeps the cheaper network.'"""
    [(what, v)] = [(k, v) for k, v in r["verdicts"].items() if k != "chosen vs the best shortcut"]
    costs = {c["name"]: c for c in r["costs"]}
    cheaper, costlier = sorted([v["a"], v["b"]], key=lambda n: costs[n]["gmacs"])
    assert (v["a"], v["b"]) == (costlier, cheaper) and r["chosen"] == cheaper
    assert v["verdict"] != claims.SUPPORTED and abs(v["diff"]) < 0.05
    assert "@blocks.5" in v["a"] and "@blocks.5" in v["b"]               # 'both networks cut after stage 5'


def test_the_report_is_written_with_the_choice_and_its_evidence(r):
    text = Path(r["report"]).read_text()
    assert Path(r["report"]).parent.name == "eurosat_more" and (Path(r["report"]).parent / "choice.png").is_file()
    assert f"**Choice: {r['chosen']}**" in text and "## Ruled out, and why" in text and "## Risks found" in text
    chosen = next(e for e in r["evidence"] if e["features"] == r["chosen"])
    assert f"cross-validated accuracy {chosen['cv_accuracy']:.3f}" in text
    assert r["fine_tuned"] is None and "## Fine-tuning the choice" in text and "Not run: with 30 images" in text


def test_half_the_data_widens_the_intervals(r, run_lab):
    """Q2's worked answer is 'wider': with 15 instead of 30 images per class the intervals are more than 1.1x as wide
    (1/sqrt(n) predicts about 1.41x), averaged over 5 draws; the instructor copy's guard asserts its check passes."""
    h = r["half"]
    assert (h["per_class"], h["draws"]) == (15, 5) and h["ratio"] > 1.1
    widths = {row["features"]: row for row in h["table"]}
    assert "image size and shape" not in widths                  # no width: stuck at the majority class
    assert r["chosen"] in widths and "raw pixels 16x16" in widths
    nb = json.loads(Path(run_lab(LAB)["executed"]).read_text())
    guard = [c for c in nb["cells"] if c.get("id") == "lab05-assert-checks"]
    assert guard and not any(o.get("output_type") == "error" for o in guard[0]["outputs"])


def test_the_interview_answer_names_five_factors_with_evidence(r, run_lab):
    """Section 7 prints the assembled answer after Q4 (never above it), one entry per factor."""
    from course_lib import choose

    assert r["interview_factors"] == list(choose.FACTORS)
    nb = json.loads(Path(run_lab(LAB)["executed"]).read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    at = next(i for i, s in enumerate(sources) if "choose.interview_answer(" in s)
    assert at > next(i for i, s in enumerate(sources) if s.startswith("**Q4."))
    shown = "".join(o.get("data", {}).get("text/markdown", "") if isinstance(o.get("data", {}).get("text/markdown", ""), str)
                    else "".join(o["data"]["text/markdown"]) for o in nb["cells"][at]["outputs"])
    assert "How do you choose a pre-trained model?" in shown
    assert all(f.capitalize() in shown for f in choose.FACTORS) and shown.count("this run:") == 5
