"""Choosing a model for a folder of images: risk checks, the paired folds, the choice rule, the report, the command."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from course_lib import choose, claims, cli, data


def _folder(root, per_class=12, size=48, classes=("red", "green", "blue")):
    """Images whose class is their dominant colour, with noise (a task any feature can learn, fast to extract)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            img[..., k] = rng.integers(150, 255, (size, size), dtype=np.uint8)
            Image.fromarray(img).save(root / name / f"{name}_{i:02d}.png")
    return root


def test_risk_checks_name_imbalance_duplicates_conflicts_tiny_images_and_leaks(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=4)
    for i in range(8):                                                  # 'red' becomes 3x the smallest class
        Image.fromarray(np.full((48, 48, 3), 200 + i, np.uint8)).save(root / "red" / f"extra_{i}.png")
    (root / "green" / "copy.png").write_bytes((root / "green" / "green_00.png").read_bytes())
    (root / "blue" / "conflict.png").write_bytes((root / "green" / "green_01.png").read_bytes())
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "blue" / "tiny.png")
    with pytest.warns(data.ImageFolderWarning):
        table = data.image_folder(root)
    r = choose.risk_checks(table)
    assert r["classes"] == {"blue": 6, "green": 5, "red": 12} and r["imbalance"] == pytest.approx(12 / 5)
    assert (r["duplicate_groups"], r["duplicate_files"], r["duplicate_label_conflicts"]) == (2, 2, 1)
    assert r["small_images"] == 1 and r["groups"] is None and r["leak"] is None
    text = " ".join(r["warnings"])
    assert "2 duplicate file(s) in 2 group(s), 1 with different labels" in text and "under 32 px" in text
    n = len(table)                                    # pairs of images share a group, one in train, one in val
    leaky = data.ImageTable("x", "t", table.paths, table.labels, table.classes,
                            np.array([f"g{i // 2}" for i in range(n)], dtype=object),
                            np.array(["train", "val"] * (n // 2) + ["train"] * (n % 2), dtype=object), table.frame)
    r = choose.risk_checks(leaky)
    assert r["leak"] == n // 2 and r["groups"] == (n + 1) // 2 and "on both sides" in " ".join(r["warnings"])


def test_cross_validate_pairs_every_feature_set_on_the_same_folds():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    good = y[:, None] + 0.3 * rng.standard_normal((40, 3))
    noise = rng.standard_normal((40, 3))
    folds = choose.cross_validate({"good": good, "noise": noise, "good again": good.copy()}, y, n_splits=5,
                                  repeats=2, seed=0)
    assert {k: len(v) for k, v in folds.items()} == {"good": 10, "noise": 10, "good again": 10}
    assert folds["good"] == folds["good again"]                 # the same folds: identical features, same scores
    assert np.mean(folds["good"]) > 0.9 > 0.7 > np.mean(folds["noise"])
    assert folds == choose.cross_validate({"good": good, "noise": noise, "good again": good}, y, n_splits=5,
                                          repeats=2, seed=0)
    groups = np.repeat(np.arange(10), 4)
    grouped = choose.cross_validate({"good": good}, y, groups=groups, n_splits=5, repeats=1, seed=0)
    assert len(grouped["good"]) == 5


def test_pick_keeps_the_cheaper_finalist_unless_the_costlier_is_shown_better():
    rng = np.random.default_rng(2)
    cheap = list(0.80 + 0.01 * rng.standard_normal(10))
    close = list(np.array(cheap) + 0.005 + 0.02 * rng.standard_normal(10))
    clearly = list(np.array(cheap) + 0.10 + 0.005 * rng.standard_normal(10))
    cost = {"small": 1.0, "big": 2.0}
    chosen, v = choose.pick(["big", "small"], {"small": cheap, "big": close}, cost, n=300, n_splits=5)
    assert chosen == "small" and v["big vs small"]["verdict"] == claims.INCONCLUSIVE
    chosen, v = choose.pick(["big", "small"], {"small": cheap, "big": clearly}, cost, n=300, n_splits=5)
    assert chosen == "big" and v["big vs small"]["verdict"] == claims.SUPPORTED
    assert v["big vs small"]["low"] > 0 and (v["big vs small"]["a"], v["big vs small"]["b"]) == ("big", "small")


def test_shortcut_features_know_only_size_shape_and_pixels(tmp_path):
    table = data.image_folder(_folder(tmp_path / "imgs", per_class=3, size=36))
    s = choose.shortcut_features(table)
    assert set(s) == set(choose.SHORTCUTS)
    assert s["image size and shape"].shape == (9, 3) and s["raw pixels 16x16"].shape == (9, 16 * 16 * 3)


@pytest.fixture(scope="module")
def small_choice(tmp_path_factory):
    table = data.image_folder(_folder(tmp_path_factory.mktemp("colours") / "colours"))
    question = choose.Question(domain="near", input_size=64, n_splits=3, repeats=2, stages=("blocks.4",))
    return choose.choose(table, question)


def test_choose_measures_candidates_finalists_shortcuts_and_writes_the_report(small_choice, tmp_path):
    c = small_choice
    assert c.chosen in c.costs.index and c.chosen in c.folds and len(c.folds) == 2 + 1 + len(choose.SHORTCUTS)
    assert set(c.scores.columns) >= {"LogME", "k-NN", "linear probe"} and len(c.scores) == 3 * 2 + 1
    assert all(len(v) == 2 * 3 for v in c.folds.values())
    assert (c.costs["ms_bs1"] > 0).all() and (c.costs["gmacs"] > 0).all() and (c.costs["peak_mem_mb"] > 0).all()
    finalists = [k for k in c.folds if k in c.costs.index]
    assert len(finalists) == 2 and c.chosen in finalists
    assert np.mean(c.folds[c.chosen]) > 0.9                              # colour is easy for ImageNet features
    shortcut = c.verdicts["chosen vs the best shortcut"]
    assert shortcut["a"] == c.chosen and shortcut["b"] in ("Lite0 random", *choose.SHORTCUTS)
    t = choose.accuracy_table(c)
    assert (t["low"] <= t["cv_accuracy"]).all() and (t["cv_accuracy"] <= t["high"]).all()
    report = choose.write_report(c, tmp_path / "report")
    text = report.read_text()
    assert text.startswith("# Which pretrained model for `colours`?") and f"**Choice: {c.chosen}**" in text
    for section in ("## Evidence", "## Ruled out, and why", "## Risks found", "## What next", "choice.png"):
        assert section in text
    assert (tmp_path / "report" / "choice.png").stat().st_size > 1000
    assert c.n_eval + c.n_train == 36 and c.risks["duplicate_files"] == 0


def test_findings_are_sentences_made_from_the_run_s_numbers(small_choice):
    c = small_choice
    lines = choose.findings(c)
    shortcut = c.verdicts["chosen vs the best shortcut"]
    assert lines[0].startswith(f"- {c.chosen} against the best shortcut ({shortcut['b']}): {shortcut['diff']:+.3f}")
    assert f"**{shortcut['verdict']}**" in lines[0]
    # every image in the colour folder has the same size: the shape carries no label, and the line says so
    assert any("size and shape alone" in line and "no better" in line for line in lines)
    finalists = [k for k in c.folds if k in c.costs.index]
    for f in finalists:
        assert f"{f} ({'whole' if '@' not in f else 'cut after ' + f.split('@')[1]})" in lines[2]
    assert f"chosen: **{c.chosen}**" in lines[-1]


def test_the_interview_answer_brings_this_run_and_the_ledgers_verdicts(small_choice):
    entries = [{"claim": "start_small", "verdict": "supported", "diff": -0.005, "details": {"dataset": "hymenoptera"}},
               {"claim": "source_match", "verdict": "supported", "diff": 0.29, "details": {}, "note": "hymenoptera"},
               {"claim": "hierarchy", "verdict": "inconclusive", "diff": None, "details": {}}]
    text = choose.interview_answer(small_choice, entries)
    assert text.count("this run:") == 5 and all(f.capitalize() in text for f in choose.FACTORS)
    assert "`start_small` on hymenoptera: **supported** (-0.005)" in text
    assert "`source_match` on hymenoptera: **supported** (+0.290)" in text and "`hierarchy`: **inconclusive**" in text
    # a factor with no ledger entry names the lab measurement that would fill it
    assert "run the lab that measures `wildlife_little_compute`" in text
    assert small_choice.chosen in text


def test_choose_refuses_what_it_cannot_compare(tmp_path):
    table = data.image_folder(_folder(tmp_path / "imgs", per_class=3, size=36))
    with pytest.raises(Exception, match="recommend.recommend"):
        choose.choose(table, choose.Question(task="detection"))


def test_command_line_writes_the_report_and_names_the_choice(tmp_path, capsys):
    root = _folder(tmp_path / "mine", per_class=10)
    out = tmp_path / "rep"
    code = cli.main(["choose", str(root), "--input-size", "64", "--repeats", "1", "--out", str(out),
                     "--models", "tf_efficientnet_lite0", "tf_efficientnet_lite1"])
    said = capsys.readouterr().out
    assert code == 0 and "[3/3] chosen:" in said and str(out / "REPORT.md") in said
    assert (out / "REPORT.md").read_text().startswith("# Which pretrained model for `mine`?")
    assert cli.main(["choose", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err


def test_fine_tuning_runs_only_where_it_pays_or_when_asked(tmp_path):
    q = choose.Question()
    assert not choose.should_fine_tune(q, 200) and choose.should_fine_tune(q, 1000)
    assert choose.should_fine_tune(choose.Question(fine_tune="always"), 5)
    assert not choose.should_fine_tune(choose.Question(fine_tune="never"), 5000)
    with pytest.raises(Exception, match="auto"):
        choose.should_fine_tune(choose.Question(fine_tune="maybe"), 10)
    table = data.image_folder(_folder(tmp_path / "ft", per_class=8))
    c = choose.choose(table, choose.Question(input_size=64, n_splits=3, repeats=1, stages=(), finalists=1,
                                             models=("tf_efficientnet_lite0",), fine_tune="always",
                                             fine_tune_epochs=1))
    f = c.fine_tuned
    assert f["n_train"] + f["n_val"] == 24 and f["epochs"] == 1 and f["input_size"] == 64
    assert 0 <= f["fine_tuned"] <= 1 and f["probe"] > 0.5 and f["train_seconds"] > 0
    assert "fine_tune" in c.seconds
    text = choose.report_markdown(c)
    assert f"fine-tuned (1 epochs at 64 px" in text and f"{f['probe']:.3f}" in text
