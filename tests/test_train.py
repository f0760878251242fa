"""Metrics, probes, fine-tuning that trains only what it should, and exact checkpoint/resume, on tiny synthetic data."""
from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from course_lib import models, train
from course_lib.errors import CourseLibError


# --------------------------------------------------------------------------- synthetic data and models
def _images(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random 3x32x32 images, half of them class 1 with a brighter centre."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, :, 10:22, 10:22] += 0.8
    return x, y


class Flipped(Dataset):
    """Random horizontal flips drawn from torch's global RNG, as a torchvision transform would."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i]
        return (img.flip(-1) if torch.rand(()) < 0.5 else img), int(self.y[i])


class InterruptAfter(TensorDataset):
    """Raises KeyboardInterrupt at the `limit`-th item read, like a learner pressing stop."""

    def __init__(self, x, y, limit):
        super().__init__(x, y)
        self.reads, self.limit = 0, limit

    def __getitem__(self, i):
        self.reads += 1
        if self.reads > self.limit:
            raise KeyboardInterrupt
        return super().__getitem__(i)


@pytest.fixture(scope="module")
def data():
    x, y = _images(48, seed=0)
    xv, yv = _images(16, seed=1)
    return TensorDataset(x, y), TensorDataset(xv, yv)


def _lite0(num_classes: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    return models.load_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


FAST = dict(batch_size=16, progress=False, device="cpu")


# --------------------------------------------------------------------------- metrics
def test_evaluate_predictions_hand_case():
    m = train.evaluate_predictions([0, 0, 0, 1], [0, 0, 0, 0], ["cat", "dog"])
    assert m.accuracy == 0.75 and m.balanced_accuracy == 0.5 and m.n == 4
    assert m.per_class_recall == {"cat": 1.0, "dog": 0.0}
    assert m.confusion == [[3, 0], [1, 0]] and m.classes == ["cat", "dog"]
    assert json.loads(json.dumps(m.to_dict()))["confusion"] == [[3, 0], [1, 0]]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.accuracy = 1.0


def test_absent_classes_appear_and_balanced_accuracy_matches_sklearn():
    from sklearn.metrics import balanced_accuracy_score

    m = train.evaluate_predictions([0, 1, 1, 0], [0, 1, 2, 1], ["a", "b", "c"])
    assert m.confusion == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert m.per_class_recall == {"a": 0.5, "b": 0.5, "c": 0.0}
    rng = np.random.default_rng(0)
    yt, yp = rng.integers(0, 4, 200), rng.integers(0, 5, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t, p in (([0, 1, 1, 0], [0, 1, 2, 1]), (yt, yp)):
            expected = balanced_accuracy_score(t, p)
            assert train.evaluate_predictions(t, p, list("abcde")).balanced_accuracy == pytest.approx(expected)
    with pytest.raises(CourseLibError, match="outside"):
        train.evaluate_predictions([0, 3], [0, 1], ["a", "b"])


# --------------------------------------------------------------------------- probes on features
def _separable(n: int, d: int = 1280, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, :8] += np.where(y[:, None] == 1, 3.0, -3.0)
    return X, y


def test_linear_probe_perfect_on_separable_features():
    X, y = _separable(400)
    Xv, yv = _separable(200, seed=1)
    probe = train.fit_linear_probe(X, y, Xv, yv, classes=["ant", "bee"], C=0.5)
    assert probe.metrics.accuracy == 1.0 and probe.metrics.classes == ["ant", "bee"] and probe.metrics.n == 200
    assert probe.seconds > 0  # its speed goal (< 1 s on ~400 vectors) is measured in benchmarks/run.py
    scaler, logreg = probe.model[0], probe.model[-1]
    assert type(scaler).__name__ == "StandardScaler" and logreg.C == 0.5 and logreg.solver == "lbfgs"


def test_linear_probe_on_shuffled_labels_is_near_chance():
    X, y = _separable(400)
    Xv, yv = _separable(200, seed=1)
    rng = np.random.default_rng(3)
    probe = train.fit_linear_probe(X, rng.permutation(y), Xv, rng.permutation(yv))
    assert 0.35 <= probe.metrics.accuracy <= 0.65
    with pytest.raises(CourseLibError, match="single class"):
        train.fit_linear_probe(X, np.zeros(400, int), Xv, yv)


def test_knn_uses_cosine_similarity():
    """Classes differ by direction, not length: cosine k-NN is perfect where Euclidean k-NN is not."""
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)

    def make(n, small_class):
        y = np.arange(n) % 2
        direction = np.where(y[:, None] == 1, [1.0, 0.3], [0.3, 1.0]) + rng.normal(0, 0.02, (n, 2))
        length = np.where(y == small_class, rng.uniform(0.1, 1, n), rng.uniform(10, 100, n))
        return direction * length[:, None], y

    (X, y), (Xv, yv) = make(200, small_class=0), make(100, small_class=1)  # lengths swap between the sets
    assert train.knn_accuracy(X, y, Xv, yv, k=5) == 1.0
    euclid = (KNeighborsClassifier(5).fit(X, y).predict(Xv) == yv).mean()
    assert euclid < 0.5  # the data set does tell the two metrics apart


def test_cross_val_probe_never_splits_a_group(monkeypatch):
    """Each group is one repeated vector with one random label: only leakage across folds could score well."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(0)
    n_groups, per = 40, 8
    groups = np.repeat(np.arange(n_groups), per)
    y = np.repeat(rng.permutation(np.arange(n_groups) % 2), per)
    X = np.repeat(rng.normal(size=(n_groups, 64)), per, axis=0) + rng.normal(0, 0.01, (n_groups * per, 64))

    seen = []
    original = StratifiedGroupKFold.split

    def spy(self, X_, y_=None, groups_=None):
        for tr, va in original(self, X_, y_, groups_):
            seen.append((set(groups_[tr]), set(groups_[va])))
            yield tr, va

    monkeypatch.setattr(StratifiedGroupKFold, "split", spy)
    leaky = train.cross_val_probe(X, y, n_splits=4)
    grouped = train.cross_val_probe(X, y, groups=groups, n_splits=4)
    assert leaky["mean"] > 0.95  # memorised groups: what leakage looks like
    assert grouped["mean"] < 0.8 and len(grouped["scores"]) == 4
    assert grouped["std"] == pytest.approx(np.std(grouped["scores"]))
    assert len(seen) == 4 and all(not (tr & va) for tr, va in seen)
    with pytest.raises(CourseLibError, match="n_splits"):
        train.cross_val_probe(X, y, groups=groups[:8] * 0, n_splits=4)


# --------------------------------------------------------------------------- fine-tuning: what trains
def test_head_only_fine_tune_leaves_backbone_and_its_batchnorm_bit_identical(data):
    model = _lite0()
    before = _snapshot(model)
    res = train.fine_tune(model, *data, epochs=2, unfreeze_stages=0, lr_head=1e-2, **FAST)
    after = model.state_dict()
    head = models.head_name(model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all(k.startswith(head + ".") for k in changed), changed
    assert {f"{head}.weight", f"{head}.bias"} <= set(changed)
    assert res.trainable_params == models.count_parameters(model.get_submodule(head))
    assert res.total_params == models.count_parameters(model) and len(res.history) == 2 and not model.training


def test_unfrozen_last_stage_trains_and_updates_its_batchnorm(data):
    model = _lite0()
    before = _snapshot(model)
    train.fine_tune(model, *data, epochs=1, unfreeze_stages=1, **FAST)
    after = model.state_dict()
    assert not torch.equal(before["bn2.running_mean"], after["bn2.running_mean"])
    assert not torch.equal(before["conv_head.weight"], after["conv_head.weight"])
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("blocks.", "conv_stem", "bn1")))


def test_param_groups_carry_head_and_backbone_learning_rates(data):
    model = models.unfreeze_last(_lite0(), 1)
    opt = train.make_optimizer(model, lr_head=0.03, lr_backbone=0.002, weight_decay=0.01)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["head"]["lr"] == 0.03 and groups["backbone"]["lr"] == 0.002
    assert {id(p) for p in groups["head"]["params"]} == {id(p) for p in model.get_submodule("classifier").parameters()}
    assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)
    head_only = train.make_optimizer(models.freeze(model), lr_head=0.03)
    assert [g["name"] for g in head_only.param_groups] == ["head"]

    res = train.fine_tune(model, *data, epochs=2, unfreeze_stages=1, lr_head=0.03, lr_backbone=0.002, **FAST)
    first, second = res.history
    assert first["lr_head"] == 0.03 and first["lr_backbone"] == 0.002
    assert second["lr_head"] == pytest.approx(0.015) and second["lr_backbone"] == pytest.approx(0.001)  # cosine


def test_nothing_trainable_raises(data):
    model = _lite0()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(CourseLibError, match="frozen"):
        train.fine_tune(model, *data, epochs=1, **FAST)
    with pytest.raises(CourseLibError, match="unfreeze_stages"):
        train.fine_tune(model, *data, epochs=1, unfreeze_stages="some", **FAST)


# --------------------------------------------------------------------------- checkpoint and resume
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path):
    x, y = _images(40, seed=2)
    train_set, val_set = Flipped(x, y), TensorDataset(*_images(16, seed=3))
    kw = dict(epochs=4, unfreeze_stages=2, lr_head=1e-2, lr_backbone=1e-3, seed=7, **FAST)

    whole_model = _lite0()
    start = _snapshot(whole_model)
    whole = train.fine_tune(whole_model, train_set, val_set, checkpoint=tmp_path / "whole.pt", **kw)

    path = tmp_path / "ckpt" / "run.pt"
    first = train.fine_tune(_lite0(), train_set, val_set, checkpoint=path, stop_after_epochs=2, **kw)
    assert first.epochs_run == 2 and train.load_checkpoint(path)["epoch"] == 2
    resumed_model = _lite0()  # the same starting weights (others are another run: tests/test_cache_keys.py)
    torch.manual_seed(123)  # a different global RNG, and untrained weights: the checkpoint must restore both
    resumed = train.fine_tune(resumed_model, train_set, val_set, checkpoint=path, **kw)

    assert resumed.resumed_from == 2 and resumed.epochs_run == 2 and len(resumed.history) == 4
    final, saved = whole_model.state_dict(), train.load_checkpoint(path)
    assert any(not torch.equal(start[k], final[k]) for k in final)  # training did change the weights
    for k, v in resumed_model.state_dict().items():
        assert torch.equal(v, final[k]), f"{k} differs after resume"
    for a, b in zip(whole.history, resumed.history):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert resumed.metrics == whole.metrics and saved["epoch"] == 4
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]  # no temporary files left

    again = train.fine_tune(_lite0(), train_set, val_set, checkpoint=tmp_path / "whole.pt", **kw)
    assert again.epochs_run == 0 and again.resumed_from == 4 and again.metrics == whole.metrics
    frame = again.history_frame()
    assert list(frame.index) == [1, 2, 3, 4] and {"train_loss", "val_acc", "lr_head"} <= set(frame.columns)


def test_checkpoint_write_is_atomic(data, tmp_path, monkeypatch):
    """A save that dies half-way leaves the previous epoch's checkpoint intact and no temporary file."""
    real_save, calls = torch.save, []

    def dying_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dying_save)
    path = tmp_path / "run.pt"
    with pytest.raises(OSError, match="disk full"):
        train.fine_tune(_lite0(), *data, epochs=3, unfreeze_stages=0, checkpoint=path, **FAST)
    assert train.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_keyboard_interrupt_keeps_completed_epochs(tmp_path):
    x, y = _images(32)
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train.fine_tune(_lite0(), InterruptAfter(x, y, limit=32 * 2 + 5), epochs=4, unfreeze_stages=0,
                        checkpoint=path, **FAST)
    assert train.load_checkpoint(path)["epoch"] == 2
    res = train.fine_tune(_lite0(), TensorDataset(x, y), epochs=4, unfreeze_stages=0, checkpoint=path, **FAST)
    assert res.resumed_from == 2 and [h["epoch"] for h in res.history] == [1, 2, 3, 4] and res.metrics is None


def test_corrupt_checkpoint_gives_clear_error(data, tmp_path):
    path = tmp_path / "run.pt"
    kw = dict(epochs=2, unfreeze_stages=0, checkpoint=path, **FAST)
    train.fine_tune(_lite0(), *data, stop_after_epochs=1, **kw)
    raw = path.read_bytes()
    for damaged in (raw[: len(raw) // 2], b"not a checkpoint at all"):
        path.write_bytes(damaged)
        with pytest.raises(CourseLibError, match="truncated or corrupt.*resume=False") as info:
            train.fine_tune(_lite0(), *data, **kw)
        assert info.value.__cause__ is None and info.value.__suppress_context__
    res = train.fine_tune(_lite0(), *data, resume=False, **kw)
    assert res.resumed_from is None and train.load_checkpoint(path)["epoch"] == 2


def test_checkpoint_of_another_run_is_refused(data, tmp_path):
    path = tmp_path / "run.pt"
    kw = dict(unfreeze_stages=0, checkpoint=path, **FAST)
    train.fine_tune(_lite0(), *data, epochs=2, lr_head=1e-2, stop_after_epochs=1, **kw)
    for model, changes in ((_lite0(), dict(epochs=2, lr_head=1e-3)), (_lite0(), dict(epochs=3, lr_head=1e-2)),
                           (_lite0(num_classes=3), dict(epochs=2, lr_head=1e-2))):
        with pytest.raises(CourseLibError, match="different run.*Delete the file, pass resume=False"):
            train.fine_tune(model, *data, **changes, **kw)
    res = train.fine_tune(_lite0(), *data, epochs=2, lr_head=1e-2, **kw)  # the same run still resumes
    assert res.resumed_from == 1 and res.epochs_run == 1


# --------------------------------------------------------------------------- prediction, from scratch
def test_predict_and_evaluate_model(data):
    model = _lite0(num_classes=2)
    model.train()
    y, pred, probs = train.predict(model, data[1], batch_size=5)
    assert model.training, "predict must restore the model's mode"
    assert y.tolist() == data[1].tensors[1].tolist() and probs.shape == (16, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert (pred == probs.argmax(1)).all()
    m = train.evaluate_model(model, data[1], ["ant", "bee"])
    assert m == train.evaluate_predictions(y, pred, ["ant", "bee"])
    with pytest.raises(CourseLibError, match="replace_head"):
        train.evaluate_model(model, data[1], ["a", "b", "c"])


def test_train_from_scratch_trains_every_layer_of_a_torchvision_model(data):
    model, res = train.train_from_scratch("resnet18", *data, num_classes=2, epochs=2, lr=3e-3, **FAST)
    assert models.head_name(model) == "fc" and model.fc.out_features == 2
    assert len(res.history) == 2 and res.epochs_run == 2
    assert res.trainable_params == res.total_params
    assert res.history[0]["lr_head"] == res.history[0]["lr_backbone"] == 3e-3
    assert res.metrics is not None and res.metrics.n == 16
    with pytest.raises(CourseLibError, match="lr="):
        train.train_from_scratch("resnet18", *data, num_classes=2, lr_head=1e-3)


def test_checkpoint_fingerprint_tells_training_sets_apart(tmp_path):
    """Two different training sets of the same size must never resume each other's checkpoint."""
    from course_lib.train.checkpoint import data_identity

    a = torch.utils.data.TensorDataset(torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    b = torch.utils.data.TensorDataset(torch.ones(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    c = torch.utils.data.TensorDataset(torch.zeros(4, 3, 8, 8), torch.tensor([1, 1, 0, 1]))
    assert len({data_identity(a), data_identity(b), data_identity(c)}) == 3
    assert data_identity(a) == data_identity(torch.utils.data.TensorDataset(torch.zeros(4, 3, 8, 8),
                                                                          torch.tensor([0, 1, 0, 1])))
    assert data_identity(torch.utils.data.Subset(a, [0, 1])) != data_identity(torch.utils.data.Subset(a, [2, 3]))
