"""Lab 02 (feature extraction vs fine-tuning): the strategies on tiny inputs, the exercises' checks, and the claims
the lab's text makes, asserted on the numbers the lab measured (one fast-profile run per session)."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib import checks, models, strategies
from course_lib.errors import CourseLibError
from course_lib.exercises import lab02

LAB = "02_feature_extraction_vs_finetuning"


# --------------------------------------------------------------------------- strategies on constructed inputs
def _sweep(curves: dict, seeds=(0, 1, 2), spread: float = 0.0, dataset: str = "near") -> pd.DataFrame:
    """A sweep DataFrame: curves = {strategy: {size: mean accuracy}}; seeds add +-spread around each mean."""
    rows = []
    for strategy, points in curves.items():
        for size, acc in points.items():
            n = 40.0 if size == "all" else float(size)
            for i, seed in enumerate(seeds):
                rows.append({"dataset": dataset, "strategy": strategy, "size": str(size), "n_per_class": n,
                             "n_train": int(2 * n), "seed": seed, "seconds": 1.0,
                             "accuracy": acc + spread * (i - (len(seeds) - 1) / 2)})
    return pd.DataFrame(rows)


def test_summarize_gives_mean_std_and_seeds():
    s = strategies.summarize(_sweep({"probe": {5: 0.8, "all": 0.9}}, spread=0.02))
    row = s[(s["strategy"] == "probe") & (s["size"] == "5")].iloc[0]
    assert row["mean"] == pytest.approx(0.8) and row["std"] == pytest.approx(0.02) and row["n_seeds"] == 3
    assert list(s["size"]) == ["5", "all"]  # sorted by images per class


def test_crossing_point_is_interpolated_in_log_size():
    summary = strategies.summarize(_sweep({"probe": {5: 0.80, 20: 0.85, "all": 0.86},
                                           "full_ft": {5: 0.60, 20: 0.85, "all": 0.95}}))
    # probe ahead by 0.2 at 5, tied at 20 (a touch, reported once), full_ft ahead by 0.09 at 40
    found = strategies.crossing_points(summary, "near", "probe", "full_ft")
    assert len(found) == 1 and found[0]["n_per_class"] == pytest.approx(20.0)
    assert found[0]["ahead_before"] == "probe" and found[0]["ahead_after"] == "full_ft"
    summary = strategies.summarize(_sweep({"probe": {10: 0.8, 40: 0.8}, "full_ft": {10: 0.6, 40: 1.0}}))
    (c,) = strategies.crossing_points(summary, "near", "probe", "full_ft")
    assert c["n_per_class"] == pytest.approx(20.0)  # halfway in log space between 10 and 40 is their geometric mean
    assert c["between"] == [10.0, 40.0]


def test_no_crossing_names_the_leader_and_pairs_are_reported_once():
    summary = strategies.summarize(_sweep({"probe": {5: 0.8, 20: 0.9, "all": 0.95},
                                           "scratch": {5: 0.5, 20: 0.55, "all": 0.6},
                                           "last_k": {5: 0.7, 20: 0.92, "all": 0.9}}))
    assert strategies.crossing_points(summary, "near", "probe", "scratch") == []
    assert strategies.leader(summary, "near", "probe", "scratch") == "probe"
    assert strategies.leader(summary, "near", "probe", "last_k") is None
    crossings = strategies.all_crossings(summary)
    pairs = [(c["a"], c["b"]) for c in crossings]
    assert ("probe", "scratch") in pairs and ("scratch", "probe") not in pairs
    probe_last_k = [c for c in crossings if (c["a"], c["b"]) == ("probe", "last_k")]
    assert len(probe_last_k) == 2  # ahead, behind at 20, ahead again at 40


def test_decision_table_picks_the_cheapest_strategy_within_tolerance():
    near = _sweep({"probe": {5: 0.80, "all": 0.90}, "last_k": {5: 0.70, "all": 0.91},
                   "full_ft": {5: 0.60, "all": 0.97}, "scratch": {5: 0.5, "all": 0.6}}, dataset="ants")
    far = _sweep({"probe": {5: 0.60, "all": 0.80}, "last_k": {5: 0.61, "all": 0.85},
                  "full_ft": {5: 0.45, "all": 0.84}, "scratch": {5: 0.3, "all": 0.5}}, dataset="sat")
    summary = strategies.summarize(pd.concat([near, far]))
    table = strategies.decision_table(summary, {"ants": "near", "sat": "far"}, tolerance=0.02)
    assert list(table.index) == ["5", "all"] and list(table.columns) == ["near (ants)", "far (sat)"]
    assert table.loc["5", "near (ants)"].startswith("probe")      # clear winner
    assert table.loc["all", "near (ants)"].startswith("full_ft")  # 6 points ahead: worth its cost
    assert table.loc["5", "far (sat)"].startswith("probe")        # last_k is 1 point ahead: a tie, probe is cheaper
    assert table.loc["all", "far (sat)"].startswith("last_k")     # full_ft ties with last_k, which costs less
    d = strategies.decision_dict(summary, {"ants": "near", "sat": "far"})
    assert d["far"]["5"]["strategy"] == "probe" and d["far"]["5"]["ties"] == ["probe", "last_k"]
    assert strategies.best_strategies(summary, "ants", 5) == ["probe"]
    with pytest.raises(CourseLibError, match="sizes run"):
        strategies.best_strategies(summary, "ants", 7)


def test_spread_widens_the_tie():
    noisy = strategies.summarize(_sweep({"probe": {5: 0.80}, "full_ft": {5: 0.84}}, spread=0.06))
    assert strategies.best_strategies(noisy, "near", 5) == ["probe", "full_ft"]  # 4 points apart, seeds spread 6


def test_paired_values_and_sweep_dict():
    sweep = _sweep({"probe": {5: 0.8, 10: 0.85}, "scratch": {5: 0.5}}, spread=0.01)
    a, b = strategies.paired(sweep, "near", "probe", "scratch")
    assert len(a) == len(b) == 3 and all(x - y == pytest.approx(0.3) for x, y in zip(a, b))
    assert strategies.paired(sweep, "near", "probe", "missing") == ([], [])
    d = strategies.sweep_to_dict(sweep)
    cell = d["near"]["probe"]["5"]
    assert cell["n_seeds"] == 3 and cell["mean"] == pytest.approx(0.8) and cell["std"] == pytest.approx(0.01)
    assert cell["seeds"] == [0, 1, 2] and len(cell["values"]) == 3


def test_study_helpers_tabulate_and_record_the_sweep():
    """The lab's bookkeeping (strategies.study): tables, LP-FT pairs, the learning-rate record, cost ratios."""
    sweep = _sweep({"probe": {5: 0.8, "all": 0.9}, "full_ft": {5: 0.6}, "lp_ft": {5: 0.7}}, spread=0.02)
    sweep["weight_change"] = np.where(sweep["strategy"] == "lp_ft", 0.1, 0.3)
    summary = strategies.summarize(sweep)
    table = strategies.accuracy_table(summary, sizes=[5, 10, "all"])
    assert list(table.columns) == ["5", "all"] and table.loc[("near", "probe"), "5"] == "80.0 ± 2.0"
    assert strategies.probe_at(summary, "near", "all") == pytest.approx(0.9)
    lp = strategies.lp_ft_facts(sweep, ["near"], ["5"])
    r = lp["by_dataset"]["near"]
    assert r["pairs"] == 3 and r["wins"] == 3 and r["ties"] == 0
    assert r["lp_ft_minus_full_ft"]["mean"] == pytest.approx(0.1)
    assert lp["weight_change"]["lp_ft"]["near"] == pytest.approx(0.1)
    assert "+10.0 points" in strategies.lp_ft_line("near", r)
    lr_rows = pd.DataFrame({"lr": [1e-4, 1e-4, 1e-2, 1e-2], "seed": [1, 0, 0, 1], "accuracy": [0.9, 0.8, 0.5, 0.4],
                            "weight_change": [0.01, 0.01, 0.2, 0.2], "reused": [True, True, False, False]})
    rec = strategies.lr_facts(lr_rows, "near", "all", 1e-2, 0.85)
    assert rec["reused_from_sweep"] == 2 and rec["by_lr"]["0.0001"]["values"] == [0.8, 0.9]
    assert strategies.lr_summary(lr_rows).loc[1e-2, "accuracy"] == pytest.approx(0.45)
    costs = pd.DataFrame({"strategy": ["probe", "last_k", "full_ft"], "k": [0, 0, 9],
                          "trainable_params": [10, 20, 2000], "seconds_per_epoch": [0.5, 1.0, 4.0],
                          "peak_memory_mb": [0.0, 0.5, 300.0]})
    assert strategies.cost_ratios(costs) == {"param_ratio_full_vs_head": 100.0, "epoch_ratio_full_vs_head": 4.0,
                                             "memory_ratio_full_vs_head": 300.0}
    assert "100x the parameters" in strategies.cost_line(costs)


def test_schedule_epochs_guarantees_optimiser_steps():
    assert strategies.schedule_epochs(10, 3, batch_size=32, min_steps=10) == 10     # one step per epoch
    assert strategies.schedule_epochs(40, 3, batch_size=32, min_steps=10) == 5      # two steps per epoch
    assert strategies.schedule_epochs(244, 3, batch_size=32, min_steps=10) == 3     # 8 steps x 3 epochs
    assert strategies.schedule_epochs(244, 3, batch_size=32, min_steps=0) == 3


def test_optimiser_steps_per_epoch_counts_the_batches_fine_tune_runs():
    from course_lib import train

    for n, batch in ((10, 32), (32, 32), (33, 32), (34, 32), (65, 32), (1, 32), (200, 32)):
        steps = strategies.optimiser_steps_per_epoch(n, batch)
        ds = torch.utils.data.TensorDataset(torch.zeros(n, 1), torch.zeros(n, dtype=torch.long))
        net = nn.Linear(1, 2)
        seen = []
        net.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
        train.fine_tune(net, ds, epochs=1, batch_size=batch, unfreeze_stages=None, progress=False, device="cpu",
                        channels_last=False)
        assert steps == len(seen), (n, batch, steps, seen)


def test_claim_pairs_aligns_accuracies_and_per_image_results():
    rows = []
    for strategy, base in (("probe", [1, 1, 0, 1]), ("scratch", [0, 1, 0, 0])):
        for size in ("5", "20"):
            for seed in (0, 1):
                correct = list(base)
                correct[seed] = 1 - correct[seed]          # each run differs: pairs must not be mixed up
                rows.append({"dataset": "near", "strategy": strategy, "size": size, "seed": seed,
                             "accuracy": float(np.mean(correct)), "correct": correct})
    sweep = pd.DataFrame(rows[::-1])                       # order in the frame must not matter
    p = strategies.claim_pairs(sweep, "near", "probe", "scratch", ["5", "20"])
    assert p["n_eval"] == 4 and len(p["a"]) == len(p["b"]) == len(p["correct_a"]) == 4
    for acc, correct in ((p["a"], p["correct_a"]), (p["b"], p["correct_b"])):
        assert acc == [float(np.mean(c)) for c in correct]
    assert p["correct_a"][0] == [0, 1, 0, 1] and p["correct_b"][0] == [1, 1, 0, 0]  # size 5, seed 0 on both sides
    assert strategies.claim_pairs(sweep, "near", "probe", "scratch", ["5"])["a"] == p["a"][:2]
    assert strategies.claim_pairs(sweep, "near", "probe", "missing")["a"] == []
    twice = pd.concat([sweep, sweep.iloc[[0]].assign(accuracy=0.0)], ignore_index=True)   # e.g. another learning rate
    with pytest.raises(CourseLibError, match="several runs"):
        strategies.claim_pairs(twice, "near", "probe", "scratch")
    sweep.loc[0, "correct"] = [1, 0, 1]                    # a run scored on another validation set
    with pytest.raises(CourseLibError, match="different numbers"):
        strategies.claim_pairs(sweep, "near", "probe", "scratch")


def test_concat_tables_joins_disjoint_tables_with_the_same_classes(shared_datasets, lite0):
    from course_lib import data

    small, more = data.load_dataset("eurosat", split="train"), data.load_dataset("eurosat_more")
    both = strategies.concat_tables(small, more)
    assert both.name == "eurosat+eurosat_more" and len(both) == len(small) + len(more)
    assert both.class_counts().tolist() == [185] * 10
    assert [str(p) for p in both.paths[:len(small)]] == [str(p) for p in small.paths]
    assert both.labels.tolist() == small.labels.tolist() + more.labels.tolist()
    data.assert_no_leak(both, data.load_dataset("eurosat", split="val"))
    with pytest.raises(CourseLibError, match="in both"):
        strategies.concat_tables(small, small)
    with pytest.raises(CourseLibError, match="classes differ"):
        strategies.concat_tables(small, data.load_dataset("hymenoptera", split="train"))
    with pytest.raises(CourseLibError, match="file name"):   # the same images again, e.g. from another folder
        strategies.prepare_task(lite0, "eurosat", 32, extra_train=["eurosat"])


def test_probe_parameters_and_mean_std():
    assert strategies.probe_parameters(1280, 2) == 1281
    assert strategies.probe_parameters(1280, 10) == 12810
    assert strategies.mean_std([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert strategies.mean_std([1, 3])["std"] == pytest.approx(np.sqrt(2))


def test_array_transform_matches_torchvision(lite0):
    from PIL import Image

    from course_lib import data

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (150, 200, 3), dtype=np.uint8))
    reference = data.eval_transform(lite0, input_size=64)
    fast = data.FastTransform(reference)
    assert torch.allclose(fast(image), reference(image), atol=1e-5)
    assert repr(fast) == repr(reference) and "CenterCrop" in repr(fast)   # caches keyed on it are shared
    assert data.FastTransform(fast).base is reference                      # wrapping twice changes nothing
    with pytest.raises(CourseLibError, match="ToTensor"):
        data.FastTransform(lambda x: x)


def test_head_from_probe_reproduces_the_probe(lite0):
    from course_lib import train

    rng = np.random.default_rng(0)
    for n_classes in (2, 3):
        X = rng.normal(2.0, 3.0, size=(60, 1280)).astype(np.float32)
        y = np.arange(60) % n_classes
        X[np.arange(60), y] += 4.0
        probe = train.fit_linear_probe(X, y, X, y)
        net = models.replace_head(copy.deepcopy(lite0), n_classes)
        head = strategies.head_from_probe(probe.model, net.get_classifier())
        with torch.no_grad():
            probs = head(torch.from_numpy(X)).double().softmax(1).numpy()
        assert np.abs(probs - probe.model.predict_proba(X)).max() < 1e-4
    with pytest.raises(CourseLibError, match="outputs"):
        strategies.head_from_probe(probe.model, nn.Linear(1280, 5))
    # the lab's own probe has no scaler: a bare LogisticRegression, or a pipeline of one step, copies straight in
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    for fitted in (LogisticRegression(max_iter=2000).fit(X, y), make_pipeline(LogisticRegression(max_iter=2000)).fit(X, y)):
        head = strategies.head_from_probe(fitted, nn.Linear(1280, 3))
        with torch.no_grad():
            probs = head(torch.from_numpy(X)).double().softmax(1).numpy()
        assert np.abs(probs - fitted.predict_proba(X)).max() < 1e-4


def test_weight_change_ignores_the_head_and_measures_the_backbone(lite0):
    moved = models.replace_head(copy.deepcopy(lite0), 2)
    assert strategies.weight_change(moved, lite0) == 0.0  # a new head alone is not a change of the backbone
    with torch.no_grad():
        for p in moved.parameters():
            p.mul_(1.1)
    assert strategies.weight_change(moved, lite0) == pytest.approx(0.1, rel=1e-4)


def test_recalibrate_batchnorm_sets_the_statistics_of_the_data():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).eval()
    x = torch.randn(32, 3, 4, 4) * 3 + 5
    ds = torch.utils.data.TensorDataset(x, torch.zeros(32, dtype=torch.long))
    strategies.recalibrate_batchnorm(net, ds, batch_size=8)
    with torch.no_grad():
        act = net[0](x)
    assert torch.allclose(net[1].running_mean, act.mean(dim=(0, 2, 3)), atol=1e-4)
    assert net[1].momentum == 0.1 and not net.training  # momentum and eval mode restored


def test_usable_sizes_drops_sizes_the_data_cannot_give():
    class T:
        max_per_class = 35
    assert strategies.usable_sizes(T(), [5, 10, 20, 50, "all"]) == [5, 10, 20, "all"]
    assert strategies.usable_sizes(T(), [5, 35, None]) == [5, "all"]
    assert strategies.usable_sizes(T(), [5, 35]) == [5, 35]


# --------------------------------------------------------------------------- exercises: right answers pass, typical wrong ones fail
@pytest.fixture
def two_class_net(lite0):
    return models.replace_head(copy.deepcopy(lite0), 2)


def _bind(ns: dict, cls):
    (q,) = checks.bind_exercises(ns, [cls])
    return q


def test_q1_freeze_backbone(two_class_net):
    ns = {"frozen_net": checks.____}
    q = _bind(ns, lab02.FreezeBackbone)
    assert q.outcome().status == "not attempted"
    ns["frozen_net"] = two_class_net                       # nothing frozen
    q.assert_check_failed()
    assert "backbone tensors" in q.last.message
    for p in two_class_net.parameters():                   # everything frozen, the head too
        p.requires_grad = False
    q.assert_check_failed()
    assert "head" in q.last.message
    models.freeze(two_class_net, until="blocks.5")         # only the top frozen partly: still wrong
    q.assert_check_failed()
    for p in two_class_net.parameters():
        p.requires_grad = False
    for p in two_class_net.get_classifier().parameters():
        p.requires_grad = True
    q.assert_check_passed()
    assert "2,562" in q.last.message
    assert all(p.grad is None for p in two_class_net.parameters())  # the check leaves no gradients behind
    ns["frozen_net"] = "a model"
    q.assert_check_failed()


def test_q2_backbone_learning_rate(two_class_net):
    head = models.head_name(two_class_net)
    hp = [p for n, p in two_class_net.named_parameters() if n.startswith(head + ".")]
    bp = [p for n, p in two_class_net.named_parameters() if not n.startswith(head + ".")]
    ns = {"ft_net": two_class_net, "optimizer": checks.____}
    q = _bind(ns, lab02.BackboneLearningRate)
    assert q.outcome().status == "not attempted"
    ns["optimizer"] = torch.optim.AdamW([{"params": hp, "lr": 1e-3}, {"params": bp, "lr": 1e-4}])
    q.assert_check_passed()
    ns["optimizer"] = torch.optim.SGD([{"params": hp, "lr": 0.05}, {"params": bp, "lr": 0.005}])
    q.assert_check_passed()                                   # any head rate, backbone 10x smaller
    ns["optimizer"] = torch.optim.AdamW(two_class_net.parameters(), lr=1e-3)   # one rate for all
    q.assert_check_failed()
    assert "ratio of 1" in q.last.message
    ns["optimizer"] = torch.optim.AdamW([{"params": hp, "lr": 1e-4}, {"params": bp, "lr": 1e-3}])
    q.assert_check_failed()
    assert "swapped" in q.last.message
    ns["optimizer"] = torch.optim.AdamW([{"params": hp, "lr": 1e-3}])          # backbone forgotten
    q.assert_check_failed()
    assert "in no group" in q.last.message
    ns["optimizer"] = torch.optim.AdamW([{"params": hp, "lr": 1e-3}, {"params": bp, "lr": 1e-5}])
    q.assert_check_failed()
    assert "ratio of 100" in q.last.message
    ns["optimizer"] = "adam"
    q.assert_check_failed()


def _right_rule(summary, dataset, size, tolerance=0.02):
    cell = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
    best = cell.loc[cell["mean"].idxmax()]
    close = set(cell.loc[cell["mean"] >= best["mean"] - max(tolerance, best["std"]), "strategy"])
    return next(s for s in strategies.COST_ORDER if s in close)


def test_q3_the_decision_rule_right_answers_pass():
    summary = strategies.summarize(_sweep({"probe": {10: 0.85, 20: 0.8}, "last_k": {10: 0.84, 20: 0.9},
                                           "full_ft": {20: 0.70}}, spread=0.01, dataset="hymenoptera"))
    ns = {"pick_strategy": checks.____}
    q = _bind(ns, lab02.PickStrategy)
    assert q.outcome().status == "not attempted"

    def stub(summary, dataset, size):
        return checks.____
    ns["pick_strategy"] = stub                              # the student copy's body: still not attempted
    assert q.outcome().status == "not attempted"
    ns["pick_strategy"] = _right_rule
    q.assert_check_passed()                                 # made-up cells only: no sweep yet
    assert "Run the sweep" in q.last.message
    ns["summary"] = summary
    q.assert_check_passed()
    assert "'probe'" in q.last.message                      # near domain at 10 per class, from the lab's summary
    ns["pick_strategy"] = lambda summary, dataset, size: strategies.best_strategies(summary, dataset, size)[0]
    q.assert_check_passed()                                 # the kit's own function is a right answer too


@pytest.mark.parametrize("slip, rule, words", [
    ("most accurate", lambda c, tol: c.loc[c["mean"].idxmax(), "strategy"], "most accurate"),
    ("cheapest", lambda c, tol: next(s for s in strategies.COST_ORDER if s in set(c["strategy"])), "cheapest strategy"),
    ("2 points only", lambda c, tol: _within(c, tol), "2 points only"),
    ("spread only", lambda c, tol: _within(c, c.loc[c["mean"].idxmax(), "std"]), "seeds' spread only"),
    ("own spread", lambda c, tol: _within(c, np.maximum(tol, c["std"].to_numpy())), "own spread"),
])
def test_q3_typical_wrong_rules_fail_with_their_explanation(slip, rule, words):
    ns = {}
    q = _bind(ns, lab02.PickStrategy)

    def pick_strategy(summary, dataset, size):
        cell = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
        return rule(cell, 0.02)
    ns["pick_strategy"] = pick_strategy
    q.assert_check_failed()
    assert words in q.last.message and "the table's rule picks" in q.last.message, q.last.message


def _within(cell, margin):
    best = cell["mean"].max()
    close = set(cell.loc[cell["mean"] >= best - margin, "strategy"])
    return next(s for s in strategies.COST_ORDER if s in close)


def test_q3_other_wrong_answers_fail_with_a_reason():
    ns = {}
    q = _bind(ns, lab02.PickStrategy)
    ns["pick_strategy"] = lambda summary, dataset, size: _right_rule(summary, "near", size)   # ignores the data set
    ns["summary"] = strategies.summarize(_sweep({"probe": {10: 0.85}}, dataset="hymenoptera"))
    q.assert_check_failed()
    assert "raised" in q.last.message                        # no 'near' rows in the lab's summary

    def every_data_set(summary, dataset, size):               # the data set's rows are not selected
        cell = summary[summary["size"] == str(size)]
        return _right_rule(cell.assign(dataset=dataset), dataset, size)
    ns["pick_strategy"] = every_data_set
    q.assert_check_failed()
    assert "other data sets" in q.last.message
    ns["pick_strategy"] = lambda summary, dataset, size: _right_rule(
        summary[summary["size"] == size].assign(size=str(size)), dataset, size)   # int size against string sizes
    q.assert_check_failed()
    assert "holds strings" in q.last.message
    ns["pick_strategy"] = lambda summary, dataset, size: strategies.best_strategies(summary, dataset, size)
    q.assert_check_failed()
    assert "return one strategy name" in q.last.message
    ns["pick_strategy"] = "probe"
    q.assert_check_failed()
    assert "function" in q.last.message
    # the answer follows the measurement: a rule hard-coded to the lab's answer fails the made-up cells
    ns["pick_strategy"] = lambda summary, dataset, size: "probe"
    q.assert_check_failed()


def test_q3_cases_each_catch_a_slip_and_sit_off_the_margins():
    for what, curves, others in lab02.PickStrategy.CASES:
        summary = lab02._cell_summary(curves, others=others)
        cell = summary[(summary["dataset"] == "near") & (summary["size"] == "10")]
        want = strategies.best_strategies(summary, "near", 10)[0]
        best = cell.loc[cell["mean"].idxmax()]
        edge = best["mean"] - max(0.02, best["std"])
        assert (cell["mean"] - edge).abs().min() > 1e-3, what
    caught = set()
    for what, curves, others in lab02.PickStrategy.CASES:
        summary = lab02._cell_summary(curves, others=others)
        cell = summary[(summary["dataset"] == "near") & (summary["size"] == "10")]
        want = strategies.best_strategies(summary, "near", 10)[0]
        caught |= {why for why, got in lab02._wrong_rules(cell, 0.02).items() if got != want}
    assert len(caught) == 5                                  # every slip fails on at least one made-up cell


def test_q4_head_from_probe(two_class_net):
    from course_lib import train

    rng = np.random.default_rng(1)
    X = rng.normal(1.0, 2.0, size=(40, 1280)).astype(np.float32)
    y = np.arange(40) % 2
    X[y == 1, :8] += 3.0
    probe = train.fit_linear_probe(X, y, X, y)
    ns = {"lp_net": checks.____, "probe": probe, "val_features": X}
    q = _bind(ns, lab02.HeadFromProbe)
    assert q.outcome().status == "not attempted"
    ns["lp_net"] = two_class_net                           # random head
    q.assert_check_failed()
    scaler, clf = probe.model[0], probe.model[-1]
    with torch.no_grad():                                  # scaler not folded in
        two_class_net.get_classifier().weight.copy_(torch.from_numpy(np.vstack([0 * clf.coef_, clf.coef_])))
        two_class_net.get_classifier().bias.copy_(torch.from_numpy(np.r_[0.0, clf.intercept_]))
    q.assert_check_failed()
    assert "scaler" in q.last.message
    w = clf.coef_ / scaler.scale_                          # (0, z) logits: as right as (-z/2, z/2)
    b = clf.intercept_ - w @ scaler.mean_
    with torch.no_grad():
        two_class_net.get_classifier().weight.copy_(torch.from_numpy(np.vstack([0 * w, w])))
        two_class_net.get_classifier().bias.copy_(torch.from_numpy(np.r_[0.0, b]))
    q.assert_check_passed()
    ns["lp_net"] = models.replace_head(copy.deepcopy(two_class_net), 3)
    q.assert_check_failed()
    assert "outputs" in q.last.message


def test_exercise_module_exports_what_the_lab_imports():
    assert [c.__name__ for c in lab02.EXERCISES] == ["FreezeBackbone", "BackboneLearningRate", "PickStrategy",
                                                     "HeadFromProbe", "AdviseAColleague"]
    ns: dict = {}
    bound = lab02.bind_exercises(ns, lab02.EXERCISES)
    assert [ns[f"q{i}"] for i in range(1, 6)] == bound
    assert all(q.outcome().status == "not attempted" for q in bound)  # a fresh notebook: nothing attempted


# --------------------------------------------------------------------------- the lab's claims, on its own measurements
@pytest.fixture(scope="module")
def lab(lab_results):
    return lab_results(LAB)


def _cell(r, dataset, strategy, size):
    return r["sweep"][dataset][strategy][str(size)]


@pytest.mark.notebooks
def test_lab_records_every_strategy_with_spread(lab):
    assert lab["profile"] == "fast" and len(lab["seeds"]) >= 3
    for dataset in ("hymenoptera", "eurosat"):
        sweep = lab["sweep"][dataset]
        assert set(sweep) == {"probe", "last_k", "full_ft", "scratch", "lp_ft"}
        assert {"5", "10", "20", "all"} <= set(sweep["probe"]) and {"5", "10", "20", "all"} <= set(sweep["last_k"])
        for strategy, cells in sweep.items():
            assert len(cells) >= (1 if strategy == "lp_ft" else 2), strategy
            for cell in cells.values():
                assert cell["n_seeds"] >= 3 and len(cell["values"]) == cell["n_seeds"]
                assert cell["std"] == pytest.approx(np.std(cell["values"], ddof=1))
    assert (lab["datasets"]["hymenoptera"]["closeness"], lab["datasets"]["eurosat"]["closeness"]) == ("near", "far")


@pytest.fixture(scope="module")
def verdicts(run_lab, lab):
    """The lab's ledger entries by (claim, data set)."""
    from course_lib import claims

    entries = claims.load_ledger(claims.ledger_path(run_lab(LAB)["results"]))
    out = {(e["claim"], e["note"].split(",")[0]): e for e in entries}
    assert len(out) == len(entries), "one entry per claim and data set"
    return out


FAR_MORE = "eurosat+eurosat_more"


@pytest.mark.notebooks
def test_claims_are_recorded_as_seeds_on_one_validation_set_with_their_power(lab, verdicts):
    """Text: each pair is two strategies with the same seed and images, scored on the same validation images
    (design "seeds"); every entry states its power."""
    n_val = {"hymenoptera": lab["datasets"]["hymenoptera"]["n_val"], "eurosat": lab["datasets"]["eurosat"]["n_val"],
             FAR_MORE: lab["more_data"][FAR_MORE]["n_val"]}
    assert set(verdicts) == {("small_data_extraction", "hymenoptera"), ("small_data_extraction", "eurosat"),
                             ("pretrained_beats_scratch", "hymenoptera"), ("pretrained_beats_scratch", "eurosat"),
                             ("more_data_finetune", "hymenoptera"), ("more_data_finetune", FAR_MORE),
                             ("bigger_overfits", "hymenoptera")}
    assert n_val[FAR_MORE] == n_val["eurosat"] == 150                 # scored on eurosat's own validation images
    for (claim, dataset), e in verdicts.items():
        assert e["design"] == "seeds" and e["n_eval"] == n_val[dataset], (claim, dataset)
        assert e["n"] >= len(lab["seeds"]) and e["power"] is not None and e["low"] <= e["diff"] <= e["high"]
    pbs = verdicts[("pretrained_beats_scratch", "eurosat")]
    sweep = lab["sweep"]["eurosat"]                                   # the pairs are the sweep's own runs
    assert sorted(pbs["a"]) == sorted(sweep["full_ft"]["5"]["values"] + sweep["full_ft"]["20"]["values"])
    assert sorted(pbs["b"]) == sorted(sweep["scratch"]["5"]["values"] + sweep["scratch"]["20"]["values"])


@pytest.mark.notebooks
def test_scratch_gets_the_same_optimiser_steps_as_the_fine_tuning_it_is_compared_with(lab):
    """Text: scratch takes exactly the optimiser steps of full fine-tuning at every size and seed."""
    budget = lab["scratch_budget"]
    cells = {(d, s) for d in ("hymenoptera", "eurosat") for s in ("5", "20")}
    assert {(r["dataset"], r["size"]) for r in budget} == cells
    assert len(budget) == 4 * len(lab["seeds"])
    assert all(r["scratch"] == r["full_ft"] >= lab["settings"]["min_steps"] for r in budget)


@pytest.mark.notebooks
def test_pretrained_beats_scratch_supported_far_inconclusive_near(lab, verdicts):
    """Text: with the same steps, full fine-tuning is ahead of scratch by more than 20 points on average over 5 and 20
    images per class and by at least 10 at each size, on both domains; supported on eurosat (the interval clears the
    20-point margin), inconclusive on hymenoptera."""
    for dataset, verdict in (("hymenoptera", "inconclusive"), ("eurosat", "supported")):
        e = verdicts[("pretrained_beats_scratch", dataset)]
        assert e["verdict"] == verdict and e["diff"] > 0.20, (dataset, e["verdict"], e["diff"])
        for size in ("5", "20"):
            gap = _cell(lab, dataset, "full_ft", size)["mean"] - _cell(lab, dataset, "scratch", size)["mean"]
            assert gap >= 0.10, (dataset, size, gap)
    assert verdicts[("pretrained_beats_scratch", "eurosat")]["low"] > 0.20


@pytest.mark.notebooks
def test_small_data_extraction_supported_far_inconclusive_near(verdicts):
    """Text: at 5 images per class the probe's lead over full fine-tuning is under 5 points on average on the near
    domain and inside the noise (inconclusive); on the far domain the interval is clear of zero (supported)."""
    near, far = verdicts[("small_data_extraction", "hymenoptera")], verdicts[("small_data_extraction", "eurosat")]
    assert near["verdict"] == "inconclusive" and 0 < near["diff"] < 0.05, near["diff"]
    assert far["verdict"] == "supported" and far["low"] > 0


@pytest.mark.notebooks
def test_more_data_finetune_inconclusive_near_not_supported_far(lab, verdicts):
    """Text: with all 122 images per class the chosen fine-tuning ties with the probe (within 3 points):
    inconclusive; with 185 per class on the far domain it is still behind the probe on average: not supported."""
    near, far = verdicts[("more_data_finetune", "hymenoptera")], verdicts[("more_data_finetune", FAR_MORE)]
    assert near["verdict"] == "inconclusive" and abs(near["diff"]) <= 0.03, near["diff"]
    assert far["verdict"] in ("inconclusive", "contradicted") and far["diff"] < 0, (far["verdict"], far["diff"])
    for (claim, dataset), e in verdicts.items():
        if claim == "more_data_finetune":
            chosen = lab["more_data"][dataset]["winner"]
            assert e["details"]["chosen"] == chosen and "chosen on an inner split" in e["note"]
            assert sorted(e["a"]) == sorted(lab["more_data_sweep"][dataset][chosen]["all"]["values"])


@pytest.mark.notebooks
def test_more_data_variant_is_chosen_on_an_inner_split_of_the_training_images(lab):
    """Text: each candidate trains on 75% of the training images and is scored on the other 25%; the best (the
    cheaper on a tie) is chosen; the far domain trains on 185 images per class and keeps eurosat's 150 val images."""
    more = lab["more_data"]
    assert set(more) == {"hymenoptera", FAR_MORE}
    assert more[FAR_MORE]["per_class"] == 185 and more[FAR_MORE]["n_train"] == 1850
    assert more["hymenoptera"]["per_class"] == pytest.approx(122)
    for dataset, m in more.items():
        assert m["candidates"] == ["last_k", "full_ft"] and set(m["scores"]) == set(m["candidates"])
        assert m["n_inner_train"] + m["n_inner_val"] == m["n_train"]
        assert m["n_inner_val"] == pytest.approx(0.25 * m["n_train"], abs=1)
        best = max(m["scores"].values())
        order = [s for s in strategies.COST_ORDER if s in m["scores"]]
        assert m["winner"] == next(s for s in order if m["scores"][s] >= best)   # the cheaper one on a tie
        assert set(lab["more_data_sweep"][dataset]) == {"probe", m["winner"]}    # only the chosen variant faces val


@pytest.mark.notebooks
def test_with_five_images_fine_tuning_from_a_random_head_does_not_beat_the_probe(lab):
    """Text: at 5 images per class, last_k and full_ft at best tie with the probe on the near domain (within 3 points)
    and are at least 5 points behind it on the far domain."""
    for dataset, margin in (("hymenoptera", -0.03), ("eurosat", 0.05)):
        probe = _cell(lab, dataset, "probe", 5)["mean"]
        for strategy in ("last_k", "full_ft"):
            assert probe - _cell(lab, dataset, strategy, 5)["mean"] >= margin, (dataset, strategy)


@pytest.mark.notebooks
def test_near_domain_fine_tuning_catches_up_with_all_images_far_domain_does_not(lab):
    """Text: with all images, fine-tuning the top comes within 3 points of the probe on the near domain; on the far
    domain the probe stays ahead of fine-tuning at every size of the sweep, even with all 35 images per class."""
    near = lab["sweep"]["hymenoptera"]
    assert near["last_k"]["all"]["mean"] >= near["probe"]["all"]["mean"] - 0.03
    far = lab["sweep"]["eurosat"]
    for strategy in ("last_k", "full_ft"):
        for size, cell in far[strategy].items():
            assert far["probe"][size]["mean"] > cell["mean"], (strategy, size)


@pytest.mark.notebooks
def test_large_backbone_learning_rate_destroys_pretraining(lab):
    """Text: backbone lr 1e-2 (and already 1e-3) scores at least 10 points below 1e-4 and below the probe, and moves
    the backbone's weights more than five times further."""
    lr = lab["lr_experiment"]
    by = lr["by_lr"]
    small = by["0.0001"]
    for big in ("0.001", "0.01"):
        assert by[big]["mean"] + 0.10 <= small["mean"], big
        assert by[big]["mean"] < lr["probe_accuracy"], big
        assert by[big]["weight_change"]["mean"] > 5 * small["weight_change"]["mean"], big
    assert all(v["n"] >= 3 for v in by.values())
    assert lr["reused_from_sweep"] == len(lab["seeds"])  # the 1e-4 runs are the sweep's own


@pytest.mark.notebooks
def test_lp_ft_beats_fine_tuning_from_a_random_head_and_stays_near_the_probe(lab):
    """Text: LP-FT scored at least as well as fine-tuning from a random head on both domains, at least 5 points
    better on the far one, and ended within 5 points of the probe it started from."""
    by = lab["lp_ft"]["by_dataset"]
    for dataset, margin in (("hymenoptera", 0.0), ("eurosat", 0.05)):
        r = by[dataset]
        assert r["pairs"] >= 3 and r["lp_ft_minus_full_ft"]["mean"] >= margin, dataset
        for size in lab["lp_ft"]["sizes"]:
            assert abs(_cell(lab, dataset, "lp_ft", size)["mean"] - _cell(lab, dataset, "probe", size)["mean"]) <= 0.05


@pytest.mark.notebooks
def test_frozen_backbone_trains_far_fewer_parameters_and_its_epoch_is_faster(lab):
    """Text: the head has a few thousand parameters, the network about 3.3 million, the last two stages 30% of the
    weights. (How much faster the frozen epoch is depends on the machine: printed, never asserted.)"""
    c = lab["costs"]
    rows = {(r["strategy"], r["k"]): r for r in c["rows"]}
    assert rows[("head", 0)]["trainable_params"] == 2562
    assert 3.3e6 < rows[("full_ft", 9)]["trainable_params"] < 3.4e6
    assert c["param_ratio_full_vs_head"] > 1000
    params = [r["trainable_params"] for r in c["rows"] if r["strategy"] != "probe"]
    assert params == sorted(params)  # unfreezing more stages never trains fewer parameters
    assert abs(rows[("last_k", 2)]["trainable_params"] / rows[("full_ft", 9)]["trainable_params"] - 0.30) < 0.01


@pytest.mark.notebooks
def test_recipe_on_lite0_learns_like_the_probe(lab):
    """Text: the frozen-backbone recipe (Adam, lr 1e-3) works: at least 80%, at most 8 points below the probe on the
    same features; ResNet-50's weights are not available offline and load_model says so."""
    r = lab["recipe"]
    assert r["trainable_params"] == 2562
    assert r["accuracy"] >= 0.80 and r["accuracy"] >= r["probe_accuracy"] - 0.08
    assert lab["resnet50_error"] and "resnet50" in lab["resnet50_error"]


@pytest.mark.notebooks
def test_decision_table_and_crossings_come_from_the_sweep(lab):
    """Text: close to the pretraining data and with few images, the frozen backbone is enough."""
    d = lab["decision_table"]
    assert set(d) == {"near", "far"}
    for closeness, cells in d.items():
        dataset = "hymenoptera" if closeness == "near" else "eurosat"
        for size, cell in cells.items():
            best = max((s[size] for s in lab["sweep"][dataset].values() if size in s), key=lambda c: c["mean"])
            margin = max(0.02, best["std"])  # the table's rule: within 2 points or the best's seed spread
            assert cell["strategy"] in cell["ties"] and cell["accuracy"] >= best["mean"] - margin - 1e-9
    assert "probe" in d["near"]["5"]["ties"] and "probe" in d["near"]["10"]["ties"]
    assert all(set(c) >= {"dataset", "a", "b", "n_per_class"} for c in lab["crossings"])


@pytest.fixture(scope="module")
def xray_task(lite0, tmp_path_factory):
    """chest_xray's own split at 32 px (120 small images): a real task that trains in seconds."""
    import os

    before = os.environ.get("COURSE_CACHE_DIR")
    os.environ["COURSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("xray-cache"))
    try:
        yield strategies.prepare_task(lite0, "chest_xray", input_size=32, task="normal_vs_pneumonia")
    finally:
        if before is None:
            os.environ.pop("COURSE_CACHE_DIR", None)
        else:
            os.environ["COURSE_CACHE_DIR"] = before


def test_inner_task_splits_the_training_images_only(xray_task):
    task = xray_task
    inner = strategies.inner_task(task, 0.25, seed=0)
    tr, va = [str(p) for p in inner.train.paths], [str(p) for p in inner.val.paths]
    assert not set(tr) & set(va) and sorted(tr + va) == sorted(str(p) for p in task.train.paths)
    assert not set(tr + va) & {str(p) for p in task.val.paths}
    assert len(va) == pytest.approx(0.25 * len(task.train), abs=1)
    share = task.train.class_counts() / len(task.train)                   # stratified: the class shares are kept
    assert np.allclose(inner.val.class_counts() / len(va), share, atol=0.05)
    where = {str(p): i for i, p in enumerate(task.train.paths)}
    assert np.array_equal(inner.train_X, task.train_X[[where[p] for p in tr]])
    assert np.array_equal(inner.val_X, task.train_X[[where[p] for p in va]])
    assert len(inner.images) == len(tr) and len(inner.val_set) == len(va) and inner.name == f"{task.name}.inner"
    assert [str(p) for p in strategies.inner_task(task, 0.25, seed=0).val.paths] == va   # the same split again


def test_choice_on_the_inner_split_never_reads_the_validation_set(xray_task, monkeypatch):
    import dataclasses

    blind = dataclasses.replace(xray_task, val=None, val_set=None, val_X=None)   # any use of val would fail
    pick = strategies.choose_on_inner_split(blind, ["probe", "head"], [0, 1], epochs=1, min_steps=1, batch_size=8)
    assert set(pick["scores"]) == {"probe", "head"} and len(pick["rows"]) == 4
    assert pick["scores"][pick["winner"]] == max(pick["scores"].values())
    assert pick["n_inner_train"] + pick["n_inner_val"] == len(xray_task.train)
    assert all(r["dataset"] == "chest_xray.inner" for r in pick["rows"])
    fixed = strategies.choose_on_inner_split(blind, ["last_k"], [0])
    assert fixed["winner"] == "last_k" and fixed["rows"] == [] and fixed["scores"] == {}   # one candidate: no runs
    # ties go to the cheaper strategy; a clear winner wins whatever it costs
    for accs, want in (({"full_ft": 0.8, "last_k": 0.8, "lp_ft": 0.7}, "last_k"),
                       ({"full_ft": 0.9, "last_k": 0.8, "lp_ft": 0.7}, "full_ft")):
        monkeypatch.setattr(strategies.run, "run_strategy",
                            lambda name, task, n, seed, epochs, **kw: {"strategy": name, "accuracy": accs[name]})
        assert strategies.choose_on_inner_split(blind, ["lp_ft", "full_ft", "last_k"], [0, 1])["winner"] == want


def test_finished_runs_are_cached_and_a_changed_input_runs_again(lite0, tmp_path, monkeypatch):
    """A second identical run returns the first one's row from disk; another seed, size or setting trains anew."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    task = strategies.prepare_task(lite0, "chest_xray", input_size=32, task="normal_vs_pneumonia")  # 120 small images
    run = dict(epochs=1, min_steps=1, batch_size=8)
    first = strategies.run_strategy("last_k", task, 2, seed=0, **run)
    again = strategies.run_strategy("last_k", task, 2, seed=0, **run)
    assert not first["from_cache"] and again["from_cache"]
    assert len(first["correct"]) == len(task.val) and np.mean(first["correct"]) == pytest.approx(first["accuracy"])
    assert first["steps"] == first["epochs"] * strategies.optimiser_steps_per_epoch(first["n_train"], 8)
    assert {k: v for k, v in again.items() if k != "from_cache"} == {k: v for k, v in first.items() if k != "from_cache"}
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1 and not list((tmp_path / "runs").glob(".tmp-*"))
    for changed in (dict(seed=1), dict(n_per_class=3), dict(lr_backbone=1e-3)):
        args = {"seed": 0, "n_per_class": 2, **run, **changed}
        n = args.pop("n_per_class")
        assert not strategies.run_strategy("last_k", task, n, **args)["from_cache"], changed
    assert not strategies.run_strategy("last_k", task, 2, seed=0, cache=False, **run)["from_cache"]
    assert "model" in strategies.run_strategy("last_k", task, 2, seed=0, keep_model=True, **run)  # never cached


def test_lab02_four_steps_and_where_the_head_lives(lab):
    """The snippet ran as written, and the head's module name differs by family (why replace_head exists)."""
    assert lab["head_names"] == {"resnet18": "fc", "tf_efficientnet_lite0": "classifier",
                                 "mobilenet_v3_large": "classifier.3", "vit_b_16": "heads.head"}


# --------------------------------------------------------------------------- section 5b: network size and overfitting
def test_train_accuracy_scores_the_training_images_without_augmentation(xray_task):
    net_row = strategies.run_strategy("head", xray_task, 3, seed=0, epochs=1, min_steps=1, batch_size=8,
                                      score_train=True, keep_model=True)
    idx = xray_task.subset(3, 0)
    y, pred, _ = __import__("course_lib").train.predict(net_row["model"], xray_task.train_set(idx, xray_task.eval_transform))
    assert net_row["train_accuracy"] == pytest.approx(float(np.mean(pred == y)))
    probe_row = strategies.run_strategy("probe", xray_task, 3, seed=0, score_train=True, keep_model=True)
    want = float(np.mean(probe_row["model"].predict(xray_task.train_X[idx]) == xray_task.train.labels[idx]))
    assert probe_row["train_accuracy"] == pytest.approx(want)
    assert "train_accuracy" not in strategies.run_strategy("probe", xray_task, 3, seed=0, cache=False)


def test_task_for_model_keeps_the_pixels_and_swaps_the_network(xray_task, lite0):
    other = models.replace_head(copy.deepcopy(lite0), 7)
    t = strategies.task_for_model(xray_task, other)
    assert t.model is other and t.val_set is xray_task.val_set and t.images is xray_task.images
    assert t.train_transform is xray_task.train_transform and t.input_size == xray_task.input_size
    assert t.train_X.shape == (len(xray_task.train), 0) and xray_task.model is not other   # the original is untouched
    assert t.fresh_model().get_classifier().out_features == xray_task.num_classes
    odd = copy.deepcopy(lite0)
    odd.pretrained_cfg = {**odd.pretrained_cfg, "mean": (0.485, 0.456, 0.406)}
    with pytest.raises(CourseLibError, match="normalises"):
        strategies.task_for_model(xray_task, odd)


def _capacity_rows(monkeypatch, task, gaps):
    """capacity_study with run_strategy replaced: gaps = {network: [(train, val, correct), ...] per seed}."""
    tasks = {n: strategies.task_for_model(task, task.model) for n in gaps}
    calls = []

    def fake(name, t, n, seed, epochs, **kw):
        label = next(k for k, v in tasks.items() if v is t)
        train_acc, val_acc, correct = gaps[label][seed]
        calls.append((label, name, n, seed, epochs, kw))
        return {"strategy": name, "seed": seed, "n_train": 2 * n, "accuracy": val_acc, "train_accuracy": train_acc,
                "correct": correct, "from_cache": False}
    monkeypatch.setattr(strategies.run, "run_strategy", fake)
    return strategies.capacity_study(tasks, 5, [0, 1, 2], epochs=2, lr_head=0.1), calls


def test_capacity_study_gives_every_network_the_same_runs_and_the_gap(xray_task, monkeypatch):
    gaps = {"small": [(1.0, 0.8, [1, 1, 0, 1]), (0.9, 0.8, [1, 0, 1, 1]), (1.0, 0.75, [1, 1, 0, 0])],
            "big": [(1.0, 0.6, [0, 1, 0, 1]), (1.0, 0.7, [1, 0, 0, 1]), (0.95, 0.5, [0, 0, 1, 1])]}
    rows, calls = _capacity_rows(monkeypatch, xray_task, gaps)
    assert rows["gap"].tolist() == pytest.approx([t - v for s in range(3) for n in gaps for t, v, _ in [gaps[n][s]]])
    assert all(c[1:3] == ("full_ft", 5) and c[4] == 2 and c[5] == {"score_train": True, "lr_head": 0.1} for c in calls)
    assert [(c[0], c[3]) for c in calls] == [(n, s) for s in range(3) for n in gaps]   # every network, every seed
    assert len(calls) == 6 and set(rows["params"]) == {models.count_parameters(xray_task.model)}
    s = strategies.gap_summary(rows)
    assert list(s) == ["small", "big"] and s["big"]["gap"]["values"] == pytest.approx([0.4, 0.3, 0.45])
    assert s["small"]["train"]["mean"] == pytest.approx(np.mean([1.0, 0.9, 1.0]))
    assert s["big"]["gap"]["mean"] == pytest.approx(s["big"]["train"]["mean"] - s["big"]["val"]["mean"])
    p = strategies.gap_pairs(rows, "big", "small")
    assert p["a"] == pytest.approx([0.4, 0.3, 0.45]) and p["b"] == pytest.approx([0.2, 0.1, 0.25])
    assert p["correct_a"][1] == [1, 0, 0, 1] and p["correct_b"][2] == [1, 1, 0, 0] and p["n_eval"] == 4
    from course_lib import claims
    v = claims.paired_verdict(p["a"], p["b"], design="seeds", **{k: p[k] for k in ("n_eval", "correct_a", "correct_b")})
    assert v.diff == pytest.approx(0.2)
    with pytest.raises(CourseLibError, match="no runs"):
        strategies.gap_pairs(rows, "huge", "small")


def test_capacity_study_refuses_networks_on_other_images(xray_task, lite0):
    import dataclasses

    other = dataclasses.replace(xray_task, val_set=copy.copy(xray_task.val_set))
    with pytest.raises(CourseLibError, match="other training or validation images"):
        strategies.capacity_study({"a": xray_task, "b": other}, 3, [0])


def test_plot_capacity_draws_train_and_val_by_size(xray_task, monkeypatch):
    import matplotlib.pyplot as plt

    rows, _ = _capacity_rows(monkeypatch, xray_task, {"small": [(1.0, 0.8, [1, 0])] * 3, "big": [(1.0, 0.7, [1, 0])] * 3})
    rows.loc[rows["network"] == "big", "params"] = 2 * rows["params"].iloc[0]
    fig = strategies.plot_capacity(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training images (no augmentation)", "validation images"]
    plt.close(fig)


@pytest.mark.notebooks
def test_capacity_study_is_fair_and_its_gaps_are_train_minus_val(lab):
    """Text: the three networks train on the same images, with the same epochs and optimiser steps, over the lab's
    seeds; each run's gap is its training accuracy minus its validation accuracy."""
    c = lab["capacity"]
    assert list(c["networks"]) == ["Lite0", "Lite1", "Lite2"] and c["seeds"] == lab["seeds"]
    params = [v["params"] for v in c["networks"].values()]
    assert params == sorted(params) and 4.6e6 < params[0] < 4.7e6 and 6.0e6 < params[-1] < 6.2e6
    runs = c["runs"]
    assert len(runs) == 3 * len(lab["seeds"])
    assert len({(r["n_train"], r["epochs"], r["steps"]) for r in runs}) == 1          # the same budget for every run
    assert runs[0]["n_train"] == 2 * c["n_per_class"]
    for r in runs:
        assert r["gap"] == pytest.approx(r["train_accuracy"] - r["accuracy"])
        assert r["accuracy"] == pytest.approx(np.mean(r["correct"]))
    for name, v in c["networks"].items():
        mine = sorted((r for r in runs if r["network"] == name), key=lambda r: r["seed"])
        assert v["gap"]["values"] == pytest.approx([r["gap"] for r in mine])
        assert v["gap"]["mean"] == pytest.approx(v["train"]["mean"] - v["val"]["mean"])
        assert v["train"]["mean"] > v["val"]["mean"], name          # text: every network overfits to some degree


@pytest.mark.notebooks
def test_bigger_overfits_verdict_follows_the_measured_gaps(lab, verdicts):
    """The ledger entry pairs Lite2's gap with Lite0's by seed; its interval and verdict are what the rule gives."""
    from course_lib import claims

    c, e = lab["capacity"], verdicts[("bigger_overfits", "hymenoptera")]
    by = {(r["network"], r["seed"]): r for r in c["runs"]}
    seeds = sorted(c["seeds"])
    assert e["a"] == pytest.approx([by[("Lite2", s)]["gap"] for s in seeds])
    assert e["b"] == pytest.approx([by[("Lite0", s)]["gap"] for s in seeds])
    assert e["design"] == "seeds" and e["n_eval"] == lab["datasets"]["hymenoptera"]["n_val"]
    v = claims.paired_verdict(e["a"], e["b"], design="seeds", n_eval=e["n_eval"],
                              correct_a=[by[("Lite2", s)]["correct"] for s in seeds],
                              correct_b=[by[("Lite0", s)]["correct"] for s in seeds])
    assert (v.verdict, v.low, v.high) == (e["verdict"], pytest.approx(e["low"]), pytest.approx(e["high"]))
    want = "supported" if e["low"] > 0 else "contradicted" if e["high"] < 0 else "inconclusive"
    assert e["verdict"] == want == c["claim"]["verdict"]
    assert e["diff"] == pytest.approx(c["networks"]["Lite2"]["gap"]["mean"] - c["networks"]["Lite0"]["gap"]["mean"])


# ----------------------------------------------------------------------------- Q5 advise a colleague (written)
ADVICE = ("Start with a linear probe on frozen Lite0 features. On eurosat, our far domain, the probe reached 0.742 "
          "(seed spread 0.021) at 20 images per class, and the decision table keeps the cheap route near that size "
          "unless fine-tuning is ahead by more than the seeds' spread. Second, if the probe is not enough, try LP-FT, "
          "or the last 2 stages with a backbone learning rate 10x lower than the head's, chosen on an inner split as "
          "this lab did. The least certain measurement in my ledger is more_data_finetune: it came out inconclusive, "
          "and more seeds, more epochs or the full profile on a GPU would settle it. These numbers come from two data "
          "sets and one small model, so before deciding, measure a probe with paired folds on their own microscopy "
          "images, against random-init features and raw pixels as shortcuts, and only then pay for fine-tuning.")


@pytest.fixture()
def advice_ns(tmp_path):
    import json
    from types import SimpleNamespace

    ledger = tmp_path / "02.claims.json"
    ledger.write_text(json.dumps([{"claim": "more_data_finetune", "verdict": "inconclusive"},
                                  {"claim": "small_data_extraction", "verdict": "supported"}]))
    summary = pd.DataFrame({"dataset": ["eurosat", "eurosat", "hymenoptera"], "strategy": ["probe", "full_ft", "probe"],
                            "size": ["20", "20", "20"], "mean": [0.742, 0.701, 0.913], "std": [0.021, 0.03, 0.01]})
    return {"summary": summary, "run": SimpleNamespace(ledger=ledger)}


def test_q5_advice_with_this_runs_numbers_passes(advice_ns):
    _bind({**advice_ns, "advice": ADVICE}, lab02.AdviseAColleague).assert_check_passed()


@pytest.mark.parametrize("text, words", [
    ("Use a probe. " * 20, "120"),
    (ADVICE.replace("more_data_finetune", "the fine-tuning result"), "inconclusive, by name"),
    (ADVICE.replace("0.742", "0.913"), "far domain"),                        # the near domain's number
    (ADVICE.replace("their own microscopy images", "a bigger model"), "own images"),
    (ADVICE.replace("LP-FT, or the last 2 stages with a backbone learning rate 10x lower than the head's",
                    "something else").replace("inner split", "hunch"), "concrete setting"),
])
def test_q5_weak_advice_fails_and_says_what_is_missing(advice_ns, text, words):
    q = _bind({**advice_ns, "advice": text}, lab02.AdviseAColleague)
    q.assert_check_failed()
    assert words in q.last.message, q.last.message
