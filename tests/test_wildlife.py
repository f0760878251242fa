"""course_lib.wildlife and course_lib.cct: boxes, the COCO Camera Traps loader and its round trip, leak-free event
splits, the metrics of lab 04 on hand-made cases, detectors with random weights, and the cost helpers."""
from __future__ import annotations

import hashlib
import json
import math
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from course_lib import cct, data, wildlife
from course_lib.errors import CourseLibError, DataError, WeightsUnavailableError

SERENGETI_JSON = "metadata/snapshot_serengeti_context_rcnn_demo_metadata.json"


@pytest.fixture(scope="module")
def species(shared_datasets):
    return data.load_dataset("camera_traps", task="species")


@pytest.fixture(scope="module")
def root(shared_datasets):
    return data.dataset_root("camera_traps")


# ----------------------------------------------------------------------------- boxes
def test_parse_boxes_reads_labels_csv_format_and_refuses_bad_boxes():
    assert wildlife.parse_boxes("").shape == (0, 4)
    assert wildlife.parse_boxes(float("nan")).shape == (0, 4)
    assert wildlife.parse_boxes(None).shape == (0, 4)
    two = wildlife.parse_boxes("0.1 0.2 0.3 0.4; 0.5 0.5 0.2 0.25")
    np.testing.assert_allclose(two, [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.2, 0.25]])
    np.testing.assert_allclose(wildlife.parse_boxes(wildlife.format_boxes(two)), two)
    with pytest.raises(DataError, match="has 3 numbers"):
        wildlife.parse_boxes("0.1 0.2 0.3")
    with pytest.raises(DataError, match="absolute pixels"):
        wildlife.parse_boxes("614.9 476.2 685.6 374.2")
    with pytest.raises(DataError, match="not four numbers"):
        wildlife.parse_boxes("a b c d")


def test_table_boxes_are_the_four_hippo_frames(species):
    boxes = wildlife.table_boxes(species)
    boxed = [species.paths[i].name for i, b in enumerate(boxes) if len(b)]
    assert sorted(boxed) == [f"S1_E03_R3_PICT00{n}.jpeg" for n in (38, 39, 40, 41)]
    assert all(len(b) in (0, 1) for b in boxes)


def test_crop_box_pads_squares_and_clips():
    im = Image.new("RGB", (200, 100))
    assert wildlife.crop_box(im, (0.25, 0.25, 0.5, 0.5), pad=0.0, square=False).size == (100, 50)
    assert wildlife.crop_box(im, (0.25, 0.25, 0.5, 0.5), pad=0.0, square=True).size == (100, 100)
    # a box at the corner, grown by padding, stays inside the image
    corner = wildlife.crop_box(im, (0.0, 0.0, 0.1, 0.2), pad=0.5, square=True)
    assert corner.size[0] <= 200 and corner.size[1] <= 100 and min(corner.size) > 0
    assert wildlife.to_pixels((0.1, 0.2, 0.3, 0.4), 200, 100) == (20, 20, 80, 60)


def test_frames_long_tail_and_kinds_match_the_data_card(species):
    tail = wildlife.long_tail(species)
    assert (tail["n_images"], tail["n_classes"]) == (94, 27)
    assert (tail["largest_class"], tail["largest_count"]) == ("leopard_cat", 26)
    assert tail["singletons"] == 20 and tail["imbalance_ratio"] == 26
    kinds = wildlife.frame_kinds(species).value_counts().to_dict()
    assert kinds == {"animal, count unknown": 86, "one animal": 4, "empty": 3, "several animals": 1}


# ----------------------------------------------------------------------------- COCO Camera Traps
def test_cct_loader_reads_the_shipped_serengeti_metadata(root, species):
    table = cct.load_cct(root / SERENGETI_JSON, root / "images", match="basename")
    assert len(table) == 4 and table.classes == ["hippopotamus"]
    assert all(p.is_file() for p in table.paths)
    assert list(table.frame["count"]) == [1, 1, 1, 1]
    assert set(table.groups) == {"E03"}                                   # location, the default unit
    by_seq = cct.load_cct(root / SERENGETI_JSON, root / "images", match="basename", group_by="seq_id")
    assert sorted(set(by_seq.groups)) == ["ASG0003041", "ASG0003042"]
    # the same boxes as labels.csv (absolute 2048x1536 pixels there, normalised here)
    truth = {p.name: b for p, b in zip(species.paths, wildlife.table_boxes(species)) if len(b)}
    for p, b in zip(table.paths, wildlife.table_boxes(table)):
        np.testing.assert_allclose(b, truth[p.name], atol=1e-3)


def test_cct_loader_says_when_images_are_missing(root):
    with pytest.raises(DataError, match="not under"):
        cct.load_cct(root / SERENGETI_JSON, root / "images")             # file_name is a source-repo path
    meta_only = cct.load_cct(root / SERENGETI_JSON, root / "images", require_images=False)
    assert len(meta_only) == 4 and not any(p.exists() for p in meta_only.paths)
    with pytest.raises(DataError, match="group_by"):
        cct.load_cct(root / SERENGETI_JSON, require_images=False, group_by="camera")


def test_round_trip_labels_csv_to_cct_and_back(species, root, tmp_path):
    out = tmp_path / "sample.json"
    meta = cct.write_cct(species, out, locations=wildlife.stations(species))
    assert {c["name"]: c["id"] for c in meta["categories"]}["empty"] == 0
    boxed = [a for a in meta["annotations"] if "bbox" in a]
    assert len(boxed) == 4 and all(a["bbox"][2] > 1 for a in boxed)        # absolute pixels in the file
    back = cct.load_cct(out, root, group_by="seq_id")
    assert [p.name for p in back.paths] == [p.name for p in species.paths]
    assert back.classes == species.classes and (back.labels == species.labels).all()
    assert (back.groups == species.groups).all()
    assert (back.split == species.split).all()
    for a, b in zip(wildlife.table_boxes(species), wildlife.table_boxes(back)):
        np.testing.assert_allclose(a, b, atol=1e-4)
    as_floats = lambda t: t.frame["count"].astype("Float64").fillna(-1)
    assert as_floats(back).equals(as_floats(species))
    by_location = cct.load_cct(out, root)
    assert set(by_location.groups) == set(wildlife.stations(species))


def _toy_cct(tmp_path, **image_extra):
    img = tmp_path / "imgs" / "a.jpg"
    img.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (400, 200)).save(img)
    for name in ("b.jpg", "c.jpg", "d.jpg"):
        Image.new("RGB", (400, 200)).save(img.parent / name)
    meta = {
        "images": [{"id": "a", "file_name": "a.jpg", "width": 400, "height": 200, "location": "L1", "seq_id": "s1",
                    **image_extra},
                   {"id": "b", "file_name": "b.jpg", "width": 400, "height": 200, "location": "L2", "seq_id": "s2"},
                   {"id": "c", "file_name": "c.jpg", "width": 400, "height": 200, "seq_id": "s3"},
                   {"id": "d", "file_name": "d.jpg", "width": 400, "height": 200, "location": "L1"}],
        "annotations": [
            {"id": 1, "image_id": "a", "category_id": 1, "bbox": [0, 0, 100, 50]},
            {"id": 2, "image_id": "a", "category_id": 1, "bbox": [200, 100, 100, 50]},
            {"id": 3, "image_id": "a", "category_id": 2, "bbox": [300, 0, 40, 40]},
            {"id": 4, "image_id": "b", "category_id": 0},
            {"id": 5, "image_id": "c", "category_id": 2, "count": "11-50"},
            {"id": 6, "image_id": "d", "category_id": 3, "count": "2"},
        ],
        "categories": [{"id": 0, "name": "empty"}, {"id": 1, "name": "zebra"}, {"id": 2, "name": "wildebeest"},
                       {"id": 3, "name": "human"}],
    }
    return meta, img.parent


def test_cct_several_animals_counts_and_fallback_groups(tmp_path):
    meta, images = _toy_cct(tmp_path)
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(meta))
    t = cct.load_cct(path, images)
    f = t.frame.set_index("image_id")
    assert f.loc["a", "species"] == "zebra" and f.loc["a", "species_all"] == "wildebeest;zebra"
    assert f.loc["a", "count"] == 3                                        # three boxes
    np.testing.assert_allclose(wildlife.parse_boxes(f.loc["a", "bbox_xywh_norm"])[1], [0.5, 0.5, 0.25, 0.25])
    assert f.loc["b", "count"] == 0 and f.loc["b", "species"] == "empty"
    assert pd.isna(f.loc["c", "count"])                                    # "11-50" is a range, not a count
    assert f.loc["d", "count"] == 2
    assert list(t.groups) == ["L1", "L2", "seq_id:s3", "L1"]             # no location: the sequence, marked
    eva = cct.load_cct(path, images, task="empty_vs_animal")
    assert eva.classes == ["animal", "empty"] and len(eva) == 3            # the human frame is left out
    zipped = tmp_path / "toy.json.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("toy.json", json.dumps(meta))
    assert len(cct.load_cct(zipped, images)) == 4


def test_cct_inconsistent_files_are_refused(tmp_path):
    meta, images = _toy_cct(tmp_path)
    bad = json.loads(json.dumps(meta))
    bad["annotations"][0]["category_id"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="category 99"):
        cct.load_cct(tmp_path / "bad.json", images)
    nosize = json.loads(json.dumps(meta))
    del nosize["images"][0]["width"]
    (tmp_path / "nosize.json").write_text(json.dumps(nosize))
    with pytest.raises(DataError, match="width/height"):
        cct.load_cct(tmp_path / "nosize.json", images)
    (tmp_path / "notcct.json").write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match="not a COCO Camera Traps"):
        cct.read_cct(tmp_path / "notcct.json")


def test_fetch_cct_verifies_the_checksum_like_fetch_dataset(tmp_path, monkeypatch):
    meta, _ = _toy_cct(tmp_path)
    src = tmp_path / "src" / "toy.json.zip"
    src.parent.mkdir()
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("toy.json", json.dumps(meta))
    url = src.as_uri()
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="checksum"):
        cct.fetch_cct(url, tmp_path / "dest")
    with pytest.raises(DataError, match="mismatch"):
        cct.fetch_cct(url, tmp_path / "dest", checksum="sha256:" + "0" * 64)
    assert not (tmp_path / "dest" / "toy.json").exists()
    assert not [p for p in (tmp_path / "dest").iterdir() if p.name.startswith(".fetch")]
    got = cct.fetch_cct(url, tmp_path / "dest", checksum=f"sha256:{sha}")
    assert got.name == "toy.json" and cct.read_cct(got)["categories"][1]["name"] == "zebra"
    assert cct.fetch_cct(url, tmp_path / "dest", checksum="sha256:" + "0" * 64) == got   # already there: no-op
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DataError, match="offline"):
        cct.fetch_cct("https://example.org/x.json", tmp_path / "dest2", trust_unverified=True)


def test_fetch_cct_images_checks_each_file_by_decoding(tmp_path):
    meta, images = _toy_cct(tmp_path)
    (tmp_path / "toy.json").write_text(json.dumps(meta))
    table = cct.load_cct(tmp_path / "toy.json", tmp_path / "new", require_images=False)
    got = cct.fetch_cct_images(table, images.as_uri(), tmp_path / "new", limit=2)
    assert [p.name for p in got] == ["a.jpg", "b.jpg"] and all(p.is_file() for p in got)
    (images / "c.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(Exception, match="cannot decode|truncated|corrupt"):
        cct.fetch_cct_images(table, images.as_uri(), tmp_path / "new")
    assert not (tmp_path / "new" / "c.jpg").exists()


# ----------------------------------------------------------------------------- groups and splits
def test_event_groups_chain_bursts_of_one_visit(species):
    ev = dict(zip([p.name for p in species.paths], wildlife.event_groups(species, gap_minutes=5)))
    macaques = [f"StationB__2009-04-28__17-{m}-00({k}).JPG" for m, k in (("47", 1), ("48", 2), ("49", 3))]
    assert len({ev[n] for n in macaques}) == 1                         # 17:47-17:49: one visit
    assert ev["StationB__2009-04-15__07-21-00(1).JPG"] != ev[macaques[0]]
    assert ev["StationA__2009-04-22__20-19-00(1).JPG"] == ev["StationA__2009-04-22__20-21-00(1).JPG"]
    assert ev["StationA__2009-04-22__20-19-00(1).JPG"] != \
        dict(zip([p.name for p in species.paths], wildlife.event_groups(species, gap_minutes=1)))[
            "StationA__2009-04-22__20-21-00(1).JPG"]
    assert len(set(ev.values())) < len(set(species.groups))


def test_event_split_has_no_leak_and_random_or_shipped_splits_do(species, shared_datasets):
    for seed in range(3):
        tr, va = wildlife.event_split(species, seed=seed)
        data.assert_no_leak(tr, va)
        assert wildlife.shared_events(tr, va) == []
        assert len(tr) + len(va) == len(species) and 0.1 < len(va) / len(species) < 0.4
    own_tr, own_va = data.load_dataset("camera_traps", split="train"), data.load_dataset("camera_traps", split="val")
    assert len(wildlife.shared_events(own_tr, own_va)) > 0               # bursts kept, visits split
    camtrap = species.drop_rare(5)
    leaky = [len(wildlife.shared_events(*data.stratified_split(camtrap, seed=s))) for s in range(3)]
    assert min(leaky) > 0


def test_station_baseline_is_the_quoted_43_75_percent(shared_datasets):
    tr, va = data.load_dataset("camera_traps", split="train"), data.load_dataset("camera_traps", split="val")
    keep = set(tr.class_counts()[tr.class_counts() >= 3].index)
    sub = lambda t: t.subset([t.classes[y] in keep and "camtrapR" in str(p) for p, y in zip(t.paths, t.labels)])
    assert len(sub(va)) == 16
    assert wildlife.station_baseline(sub(tr), sub(va)) == pytest.approx(7 / 16)


def test_random_vs_grouped_cv_on_planted_duplicates():
    """Each group is a cluster of near-copies with a random label: only a split that leaks the copies scores well."""
    rng = np.random.default_rng(0)
    centres, labels = rng.normal(size=(30, 64)), np.arange(30) % 3
    X = np.repeat(centres, 4, axis=0) + 0.01 * rng.normal(size=(120, 64))
    y, groups = np.repeat(labels, 4), np.repeat(np.arange(30), 4)
    cv = wildlife.random_vs_grouped_cv(X, y, groups, seeds=range(3))
    assert (cv["random"] > 0.9).all() and (cv["grouped"] < 0.6).all() and (cv["gap"] > 0.3).all(), cv


def test_out_of_fold_never_names_a_class_its_fold_did_not_train_on():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 5)), np.array([0] * 19 + [1] * 20 + [2])
    X[y == 1] += 3
    groups = np.arange(40) // 2
    p = wildlife.out_of_fold_proba(X, y, groups, 3, n_splits=4)
    assert p.shape == (40, 3) and np.allclose(p.sum(1), 1)
    assert p[-1, 2] == 0.0                                                # the singleton class is never predicted


# ----------------------------------------------------------------------------- pretrained vs scratch, on equal terms
def test_optimizer_steps_and_majority_floor():
    assert wildlife.optimizer_steps(73, 4, 32) == 12                      # 32 + 32 + 9: three batches per epoch
    assert wildlife.optimizer_steps(65, 4, 32) == 8                       # a last batch of one is dropped
    assert wildlife.optimizer_steps(64, 1, 32) == 2 and wildlife.optimizer_steps(5, 3, 32) == 3
    t = lambda labels: data.ImageTable("t", "species", [f"{i}.jpg" for i in range(len(labels))], np.array(labels),
                                       ["a", "b", "c"], None, None, pd.DataFrame())
    assert wildlife.majority_accuracy(t([0, 0, 1, 2]), t([0, 1, 1, 0, 2])) == pytest.approx(2 / 5)


def _inputs_mean(model, layer: str, dataset) -> torch.Tensor:
    """Per-channel mean of what `layer` receives, over `dataset` in one batch, the model in eval mode."""
    seen = []
    hook = model.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.append(i[0].mean(dim=(0, 2, 3))))
    model.eval()
    with torch.no_grad():
        model(torch.stack([dataset[i][0] for i in range(len(dataset))]))
    hook.remove()
    return seen[0]


@pytest.fixture
def one_torch_thread():
    """Tiny training runs: on a busy 2-core machine two torch threads wait for each other (measured here: 23 s
    instead of 4 s for the same scratch run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_split(species):
    five = species.drop_rare(5)
    train_idx = np.concatenate([np.flatnonzero(five.labels == c)[:3] for c in range(len(five.classes))])
    val_idx = np.concatenate([np.flatnonzero(five.labels == c)[3:5] for c in range(len(five.classes))])
    return five.subset(train_idx), five.subset(val_idx)


def test_train_arm_gives_both_arms_the_same_steps_and_batchnorm_treatment(tiny_split, one_torch_thread):
    """Fine-tune and scratch: same optimiser steps; every trainable BatchNorm layer holds the statistics of the
    training images when scored, the frozen ones keep ImageNet's; both scores are reported."""
    from course_lib import models

    tr, va = tiny_split
    kw = dict(epochs=2, seed=0, batch_size=32, checkpoint=False)
    ft = wildlife.train_arm("fine-tune", "tf_efficientnet_lite0", tr, va, 64, **kw)
    sc = wildlife.train_arm("scratch", "tf_efficientnet_lite0", tr, va, 64, **kw)
    assert ft["steps"] == sc["steps"] == 2 and ft["epochs"] == sc["epochs"] == 2
    assert len(ft["result"].history) == len(sc["result"].history) == 2
    train_eval = data.ImageDataset(tr, data.eval_transform(ft["model"], 64))
    # scratch: every BatchNorm layer trained, so every one was re-estimated; the first one sees the images directly
    assert torch.allclose(sc["model"].bn1.running_mean, _inputs_mean(sc["model"], "bn1", train_eval), atol=1e-4)
    # fine-tune: the trained last stages were re-estimated, the frozen stem keeps the ImageNet statistics
    assert torch.allclose(ft["model"].get_submodule("blocks.6.0.bn1").running_mean,
                          _inputs_mean(ft["model"], "blocks.6.0.bn1", train_eval), atol=1e-4)
    assert torch.equal(ft["model"].bn1.running_mean, models.load_model("tf_efficientnet_lite0").bn1.running_mean)
    for arm in (ft, sc):
        assert arm["proba"].shape == (len(va), len(va.classes)) and np.allclose(arm["proba"].sum(1), 1, atol=1e-5)
        assert arm["accuracy"] == pytest.approx(float((arm["proba"].argmax(1) == va.labels).mean()))
        assert arm["accuracy_stale_bn"] == arm["result"].metrics.accuracy
    again = wildlife.train_arm("scratch", "tf_efficientnet_lite0", tr, va, 64, **kw)
    np.testing.assert_allclose(again["proba"], sc["proba"], atol=1e-6)                    # a seed, the same numbers
    with pytest.raises(CourseLibError, match="unknown arm"):
        wildlife.train_arm("probe", "tf_efficientnet_lite0", tr, va, 64, **kw)


def test_split_row_and_compare_reuse_the_main_split(tiny_split):
    tr, va = tiny_split
    arms = {"fine-tune": {"accuracy": 0.6, "accuracy_stale_bn": 0.5, "steps": 12},
            "scratch": {"accuracy": 0.3, "accuracy_stale_bn": 0.1, "steps": 12}}
    row = wildlife.split_row(7, tr, va, 0.7, arms)
    assert row == {"seed": 7, "n_train": 15, "n_val": 10, "steps": 12, "pretrained probe": 0.7,
                   "pretrained fine-tune": 0.6, "scratch": 0.3, "fine-tune, stale BN": 0.5, "scratch, stale BN": 0.1,
                   "majority": wildlife.majority_accuracy(tr, va), "steps_fine_tune": 12}
    table = wildlife.compare_on_splits(tr, np.zeros((len(tr), 4)), "tf_efficientnet_lite0", 64, [7], epochs=1,
                                       first=row)
    assert table.to_dict("records") == [row]                              # nothing trained twice


# ----------------------------------------------------------------------------- metrics
def test_coverage_curve_on_a_constructed_case():
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.3, 0.7], [0.6, 0.4], [0.52, 0.48]])
    y = np.array([0, 1, 1, 0, 1])                                        # wrong at 0.85 and 0.52
    curve = wildlife.coverage_curve(probs, y, thresholds=[0.0, 0.6, 0.9, 0.99])
    assert curve["coverage"].tolist() == [1.0, 0.8, 0.2, 0.0]
    assert curve["accuracy"].iloc[0] == pytest.approx(3 / 5)
    assert curve["accuracy"].iloc[1] == pytest.approx(3 / 4)             # 0.6 itself is handled
    assert curve["accuracy"].iloc[2] == 1.0 and math.isnan(curve["accuracy"].iloc[3])
    assert wildlife.share_handled(probs, 0.6) == 0.8
    assert wildlife.threshold_for(curve, 0.99) == {"threshold": 0.9, "coverage": 0.2, "accuracy": 1.0}
    assert wildlife.threshold_for(curve.iloc[:2], 0.99) is None
    full = wildlife.coverage_curve(probs, y)
    assert full["coverage"].is_monotonic_decreasing


def test_top_k_macro_f1_and_report():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4], [0.1, 0.2, 0.7]])
    y = np.array([0, 2, 2, 2])
    assert wildlife.top_k_accuracy(probs, y, 1) == 0.5
    assert wildlife.top_k_accuracy(probs, y, 2) == 1.0
    # class 0: 1 TP, 1 FP -> F1 2/3; class 2: 1 TP of 3 -> F1 0.5; class 1 absent from y_true: left out
    assert wildlife.macro_f1(y, probs.argmax(1)) == pytest.approx((2 / 3 + 0.5) / 2)
    r = wildlife.report(y, probs, ["a", "b", "c"], k=2)
    assert r["per_class_recall"] == {"a": 1.0, "c": pytest.approx(1 / 3)} and r["top2"] == 1.0
    assert r["confusion"][2] == [1, 1, 1]


def test_multilabel_and_count_metrics_on_hand_cases():
    truth = [{"zebra", "wildebeest"}, {"elephant"}, set()]
    single = [{"zebra"}, {"elephant"}, set()]
    m = wildlife.multilabel_metrics(truth, single)
    assert m["exact_match"] == pytest.approx(2 / 3) and m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert m["per_species_recall"] == {"elephant": 1.0, "wildebeest": 0.0, "zebra": 1.0}
    extra = wildlife.multilabel_metrics(truth, [{"zebra", "wildebeest"}, {"elephant"}, {"elephant"}])
    assert extra["recall"] == 1.0 and extra["precision"] == pytest.approx(3 / 4)
    c = wildlife.count_metrics([5, 3, 0, None, float("nan")], [1, 3, 1, 2, 0])
    assert (c["n"], c["n_unknown"]) == (3, 2)
    assert c["mae"] == pytest.approx(5 / 3) and c["exact"] == pytest.approx(1 / 3)
    assert c["within_one"] == pytest.approx(2 / 3)
    with pytest.raises(CourseLibError):
        wildlife.multilabel_metrics(truth, single[:2])
    lo, hi = wildlife.clopper_pearson(3, 3)
    assert hi == 1.0 and 0.25 < lo < 0.35


# ----------------------------------------------------------------------------- detectors and cost
def test_detector_offline_error_and_random_weight_shapes(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert wildlife.detector_status("ssdlite320_mobilenet_v3_large").startswith("download needed")
    with pytest.raises(WeightsUnavailableError, match="ssdlite320_mobilenet_v3_large_coco-.*pretrained=False"):
        wildlife.load_detector("ssdlite320_mobilenet_v3_large", pretrained=True)
    with pytest.raises(Exception, match="Did you mean"):
        wildlife.load_detector("ssdlite", pretrained=False)
    torch.manual_seed(0)
    det = wildlife.load_detector("ssdlite320_mobilenet_v3_large", pretrained=False)
    im = Image.fromarray((np.random.default_rng(0).random((256, 341, 3)) * 255).astype(np.uint8))
    out = wildlife.detect(det, [im], score_threshold=0.0)[0]
    assert out["boxes"].shape[1] == 4 and len(out["boxes"]) == len(out["scores"]) == len(out["kinds"]) > 0
    assert (out["boxes"][:, :2] >= -1e-6).all() and (out["boxes"][:, :2] + out["boxes"][:, 2:] <= 1 + 1e-6).all()
    assert set(out["kinds"]) <= {"animal", "person", "vehicle", "other"}
    assert wildlife.coco_kind("zebra") == "animal" and wildlife.coco_kind("truck") == "vehicle"


def test_standin_detections_and_crops(species, tmp_path):
    dets = wildlife.standin_detections(species)
    sources = pd.Series([d["source"] for d in dets]).value_counts().to_dict()
    assert sources == {"whole frame (no box drawn)": 87, "labels.csv box": 4, "empty (count 0)": 3}
    crops = wildlife.write_crops(species.paths, dets, out_dir=tmp_path)
    assert len(crops) == 91                                               # no row for the 3 empty frames
    written = [c for c in crops["crop"] if c.startswith(str(tmp_path))]
    assert len(written) == 4 and all(Image.open(c).size[0] > 0 for c in written)
    again = wildlife.write_crops(species.paths, dets, out_dir=tmp_path)
    assert list(again["crop"]) == list(crops["crop"])                      # content-named: reused


def test_cost_helpers_and_pick_pipeline():
    assert wildlife.hours_per_million(3.6) == pytest.approx(1.0)
    table = pd.DataFrame({"pipeline": ["clf", "scratch", "detector"], "accuracy": [0.80, 0.30, 0.84],
                          "hours_per_million": [3.0, 3.0, 40.0]})
    assert wildlife.pick_pipeline(table, 100) == "detector"
    assert wildlife.pick_pipeline(table, 24) == "clf"
    assert wildlife.pick_pipeline(table, 100, tie=0.05) == "clf"            # within one error: the cheaper
    with pytest.raises(CourseLibError, match="no pipeline fits"):
        wildlife.pick_pipeline(table, 1)


def test_pipeline_latency_adds_detector_and_crops():
    torch.manual_seed(0)
    clf = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    det = wildlife.load_detector("ssdlite320_mobilenet_v3_large", pretrained=False)
    only = wildlife.pipeline_latency(clf, input_size=64, steps=2)
    both = wildlife.pipeline_latency(clf, det, input_size=64, crops_per_frame=2, steps=2)
    assert only["ms_detector"] == 0 and only["ms_per_frame"] == pytest.approx(only["ms_classifier"])
    assert both["ms_detector"] > 0
    assert both["ms_per_frame"] == pytest.approx(both["ms_detector"] + both["ms_classifier"])
    assert both["hours_per_million"] == pytest.approx(wildlife.hours_per_million(both["ms_per_frame"]))


def test_browse_predictions_draws_the_default_frame_headless_and_builds_the_widget_live(species, monkeypatch):
    import matplotlib.pyplot as plt

    from course_lib.widgets import StaticPanel

    n = 6
    probs = np.full((n, len(species.classes)), 0.01)
    probs[np.arange(n), species.labels[:n]] = 0.9
    probs[0] = np.roll(probs[0], 1)                                        # one error, listed first
    plt.close("all")
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")                           # headless (papermill, pytest)
    static = wildlife.browse_predictions(species.paths[:n], species.labels[:n], probs, species.classes)
    assert isinstance(static, StaticPanel) and static.kwargs == {"frame": 0}
    assert len(plt.get_fignums()) == 1 and static.result is plt.gcf()     # the default frame, drawn once
    monkeypatch.setenv("COURSE_NO_WIDGETS", "0")                           # a live front end
    live = wildlife.browse_predictions(species.paths[:n], species.labels[:n], probs, species.classes)
    dropdown = live.children[0]
    assert len(dropdown.options) == n and dropdown.options[0][0].startswith("ERROR") and dropdown.value == 0
    dropdown.value = dropdown.options[1][1]                                # another frame is drawn
    assert live.result is not static.result and len(plt.get_fignums()) == 3
    plt.close("all")


# ----------------------------------------------------------------------------- the budget as a control
def _measured(**kw):
    base = dict(ms_classifier=8.0, ms_detector=60.0, ms_swin_224=90.0, s_train_fine_tune=0.02, s_train_scratch=0.04,
                input_size=128, accuracy={"probe": 0.60, "fine-tune": 0.62, "scratch": 0.30,
                                          "detect+crop (stand-in)": 0.66})
    return wildlife.MeasuredCosts(**{**base, **kw})


def test_route_costs_add_up_and_scale_with_the_data():
    m = _measured()
    t = wildlife.route_costs(m, 1_000_000, 20_000, "this CPU").set_index("route")
    clf = t.loc["classifier: pretrained features + probe"]
    assert clf["run_h"] == pytest.approx(1e6 * 8e-3 / 3600) and clf["train_h"] == pytest.approx(2e4 * 8e-3 / 3600)
    assert np.allclose(t["total_h"], t["train_h"] + t["run_h"])
    light = t.loc["detect + crop + classify: light detector"]
    assert light["run_h"] == pytest.approx(1e6 * (60 + 2 * 8) * 1e-3 / 3600)
    scratch = t.loc["from scratch, same network"]
    assert scratch["train_h"] == pytest.approx(2e4 * 15 * 3 * 0.04 / 3600)        # the published x3 schedule
    double = wildlife.route_costs(m, 2_000_000, 20_000, "this CPU").set_index("route")
    assert np.allclose(double["run_h"], 2 * t["run_h"])


def test_estimates_are_flagged_and_measured_numbers_are_not():
    m = _measured()
    cpu = wildlife.route_costs(m, 10_000, 1_000, "this CPU").set_index("route")
    gpu = wildlife.route_costs(m, 10_000, 1_000, "GPU node").set_index("route")
    measured_here = ["classifier: pretrained features + probe", "classifier: fine-tuned",
                     "detect + crop + classify: light detector"]
    assert not cpu.loc[measured_here, "cost_estimated"].any()
    assert cpu.loc["detect + crop + classify: Swin-T COCO (HPC answer)", "cost_estimated"]
    assert cpu.loc["from scratch, same network", "cost_estimated"]                   # its schedule is published
    assert gpu["cost_estimated"].all() and gpu["cost_basis"].str.contains("estimate").all()
    assert cpu.loc["detect + crop + classify: Swin-T COCO (HPC answer)", "accuracy_estimated"]
    assert not cpu.loc[measured_here, "accuracy_estimated"].any()
    assert not cpu.loc["from scratch, same network", "accuracy_estimated"]           # small data: measured
    big = wildlife.route_costs(m, 10_000, 50_000, "this CPU").set_index("route")
    assert big.loc["from scratch, same network", "accuracy_estimated"]                # enough data: estimated
    assert (gpu["total_h"] < cpu["total_h"]).all()
    up = wildlife.gpu_speedups(m)
    assert up["classifier"] == pytest.approx(8e-3 * (224 / 128) ** 2 * wildlife.PUBLISHED["classifier_gpu"]["value"])
    assert all(v["source"] for v in wildlife.PUBLISHED.values())
    with pytest.raises(ValueError):
        wildlife.route_costs(m, 10, 10, "TPU")


def test_route_for_budget_is_monotone_in_the_budget_and_excludes_what_does_not_fit():
    m = _measured()
    budgets = np.logspace(-2, 5, 40)
    tables = [wildlife.route_for_budget(m, b, 1_000_000, 20_000, "this CPU", tie=0.01) for b in budgets]
    fit_sets = [set(t.loc[t["fits"], "route"]) for t in tables]
    assert all(a <= b for a, b in zip(fit_sets, fit_sets[1:]))                      # more budget, never fewer
    best = [t.loc[t["fits"], "accuracy"].max() if t["fits"].any() else -1 for t in tables]
    assert all(a <= b for a, b in zip(best, best[1:]))
    assert wildlife.winner(tables[0]) is None and not tables[0]["expected_winner"].any()   # nothing fits: no winner
    assert set(tables[-1]["route"]) == fit_sets[-1]
    for t, b in zip(tables, budgets):
        assert (t.loc[t["fits"], "total_h"] <= b).all() and (t.loc[~t["fits"], "total_h"] > b).all()
        w = wildlife.winner(t)
        assert w is None or w in set(t.loc[t["fits"], "route"])
        assert t["expected_winner"].sum() == (1 if w else 0)


def test_route_for_budget_ties_go_to_measured_then_cheaper():
    m = _measured()
    t = wildlife.route_for_budget(m, 1e6, 1_000_000, 20_000, "this CPU", tie=0.0)
    assert wildlife.winner(t) == "detect + crop + classify: light detector"          # measured 0.66 beats estimated 0.66
    t = wildlife.route_for_budget(m, 1e6, 1_000_000, 20_000, "this CPU", tie=0.1)
    assert wildlife.winner(t) == "classifier: pretrained features + probe"           # all tie: the cheapest
    fig = wildlife.draw_budget(t)
    assert fig.axes and len(fig.axes[0].patches) == len(t)
    panel = wildlife.budget_panel(m, 1_000_000, 20_000, budget_hours=5.0)
    assert panel.kwargs == {"budget_hours": 5.0, "device": "this CPU"} and wildlife.winner(panel.result["table"])
    assert panel.result["figure"].axes


def test_scenes_paste_frames_at_their_resolution(tmp_path):
    bg, frame = Image.new("RGB", (40, 30), (0, 0, 0)), Image.new("RGB", (100, 75), (255, 255, 255))
    pic, boxes = wildlife.paste(bg, [frame], 0.25, [(0.5, 0.5)])
    assert pic.size == (200, 150) and np.allclose(boxes, [[0.25, 0.25, 0.5, 0.5]], atol=0.01)
    assert np.asarray(pic)[75, 100].tolist() == [255, 255, 255] and np.asarray(pic)[2, 2].tolist() == [0, 0, 0]
    two, boxes = wildlife.paste(bg, [frame, frame], 0.25, [(0.25, 0.3), (0.75, 0.7)])
    assert len(boxes) == 2 and (boxes[:, 0] + boxes[:, 2] <= 1).all()
    paths = wildlife.save_images([pic, pic, two], tmp_path)
    assert paths[0] == paths[1] != paths[2]
    pairs = wildlife.animal_pairs([0, 0, 1, 2], 5, seed=0)
    assert pairs and all(i < j for i, j in pairs) and all([0, 0, 1, 2][i] != [0, 0, 1, 2][j] for i, j in pairs)
    with pytest.raises(ValueError):
        wildlife.paste(bg, [frame], 0.0, [(0.5, 0.5)])


def test_a_pipeline_frame_takes_its_most_confident_crop_or_is_empty():
    crop_proba = np.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0], [0.3, 0.3, 0.4]])
    out = wildlife.frames_from_crops(crop_proba, [0, 0, 2], n_frames=3, empty=2)
    assert out.tolist() == [[0.1, 0.9, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]]


def test_the_set_and_count_table_has_one_column_per_answer():
    t = wildlife.set_and_count_table([{"zebra"}, set()], [2, 0], {"right": ([{"zebra"}, set()], [2, 0]),
                                                                  "wrong": ([set(), {"zebra"}], [0, 1])})
    assert list(t.index) == wildlife.SET_COLUMNS and list(t.columns) == ["right", "wrong"]
    assert t.loc["exact_match", "right"] == 1.0 and t.loc["exact_match", "wrong"] == 0.0 and t.loc["mae", "right"] == 0
