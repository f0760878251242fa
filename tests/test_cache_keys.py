"""Caches that cannot return stale results: features, fine_tune checkpoints and lab 02's run cache key on the
weights' content and on everything else their numbers depend on."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_lib import _digest, data, features, models, strategies, train
from course_lib.errors import CourseLibError

LITE0 = "tf_efficientnet_lite0"
FAST = dict(input_size=64, progress=False, device="cpu")


@pytest.fixture(scope="module")
def images(shared_datasets):
    """Six ant/bee photos (read only)."""
    root = shared_datasets / "hymenoptera/train"
    return sorted((root / "ants").glob("*.jpg"))[:3] + sorted((root / "bees").glob("*.jpg"))[:3]


def _random_lite0(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return models.load_model(LITE0, pretrained=False)


# --------------------------------------------------------------------------- the digest itself
def test_weights_digest_sees_every_parameter_and_buffer_and_ignores_layout():
    model = _random_lite0(0)
    base = _digest.weights_digest(model)
    assert base == _digest.weights_digest(copy.deepcopy(model)) == _digest.weights_digest(model.state_dict())
    assert base == _digest.weights_digest(copy.deepcopy(model).to(memory_format=torch.channels_last))
    with torch.no_grad():
        model.conv_stem.weight[0, 0, 0, 0] += 1e-3  # one parameter element
    moved = _digest.weights_digest(model)
    model.bn1.running_var[0] += 1e-3  # one buffer element (BatchNorm statistics are not parameters)
    assert len({base, moved, _digest.weights_digest(model)}) == 3
    assert _digest.weights_digest(_random_lite0(1)) != base  # a label ("random") is not an identity


# --------------------------------------------------------------------------- features cache
def test_random_init_features_differ_by_seed_and_are_cached_separately(images, tmp_path):
    m0, m1 = _random_lite0(0), _random_lite0(1)
    assert m0.course_weights == m1.course_weights == "random"  # the label the old key trusted
    f0 = features.extract_features(m0, images, cache_dir=tmp_path, **FAST)
    f1 = features.extract_features(m1, images, cache_dir=tmp_path, **FAST)
    assert not f0.from_cache and not f1.from_cache and f0.key != f1.key
    assert not np.allclose(f0.X, f1.X, atol=1e-3)
    assert len(list(tmp_path.rglob("*.npz"))) == 2
    # The same seed draws the same weights: a fresh model of seed 1 reads seed 1's entry back, not seed 0's.
    again = features.extract_features(_random_lite0(1), images, cache_dir=tmp_path, **FAST)
    assert again.from_cache and again.key == f1.key
    np.testing.assert_array_equal(again.X, f1.X)


def test_same_model_twice_hits_the_cache(lite0, images, tmp_path):
    first = features.extract_features(lite0, images, cache_dir=tmp_path, **FAST)
    second = features.extract_features(lite0, images, cache_dir=tmp_path, **FAST)
    reloaded = features.extract_features(models.load_model(LITE0), images, cache_dir=tmp_path, **FAST)
    assert not first.from_cache and second.from_cache and reloaded.from_cache
    assert first.key == second.key == reloaded.key and first.meta["weights_digest"] == _digest.weights_digest(lite0)
    np.testing.assert_array_equal(first.X, reloaded.X)


def test_in_place_weight_change_is_recomputed(lite0, images, tmp_path):
    model = copy.deepcopy(lite0)
    saved = copy.deepcopy(model.state_dict())
    before = features.extract_features(model, images, cache_dir=tmp_path, **FAST)
    with torch.no_grad():
        model.conv_stem.weight.add_(0.1)  # what a fine-tune does to the module, its label untouched
    after = features.extract_features(model, images, cache_dir=tmp_path, **FAST)
    fresh = features.extract_features(model, images, cache=False, **FAST)
    assert not after.from_cache and after.key != before.key
    assert np.abs(after.X - before.X).max() > 0.1
    np.testing.assert_array_equal(after.X, fresh.X)

    model.load_state_dict(saved)  # back to the original weights: the original entry answers again
    model.blocks[6][0].bn2.running_mean.add_(0.5)  # ...unless a buffer changed (BatchNorm statistics)
    buffers = features.extract_features(model, images, cache_dir=tmp_path, **FAST)
    assert not buffers.from_cache and not np.allclose(buffers.X, before.X, atol=1e-4)
    model.load_state_dict(saved)
    restored = features.extract_features(model, images, cache_dir=tmp_path, **FAST)
    assert restored.from_cache and restored.key == before.key
    np.testing.assert_array_equal(restored.X, before.X)


def test_features_key_names_memory_format_and_versions(lite0, images, tmp_path, monkeypatch):
    kw = dict(cache_dir=tmp_path, **FAST)
    model = copy.deepcopy(lite0)
    base = features.extract_features(model, images, channels_last=True, **kw)
    contiguous = features.extract_features(model, images, channels_last=False, **kw)  # other float rounding
    assert not contiguous.from_cache and contiguous.key != base.key
    for module in (torch, np, __import__("timm"), __import__("torchvision"), __import__("PIL")):
        with monkeypatch.context() as m:
            m.setattr(module, "__version__", "0.0.0-test")
            other = features.extract_features(model, images, channels_last=True, **kw)
            assert not other.from_cache and other.key != base.key, module.__name__
    assert features.extract_features(model, images, channels_last=True, **kw).from_cache


# --------------------------------------------------------------------------- fine_tune checkpoints
def _toy_data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(24, 3, 32, 32, generator=g), torch.arange(24) % 2
    x[y == 1, :, 8:24, 8:24] += 0.8
    return TensorDataset(x, y)


def _lite0_head(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return models.load_model(LITE0, pretrained=False, num_classes=2)


TRAIN = dict(epochs=1, unfreeze_stages=0, lr_head=1e-2, batch_size=8, progress=False, device="cpu")


def test_second_phase_from_trained_weights_does_not_resume_the_first(tmp_path, monkeypatch):
    """LP-FT by hand: phase 2 starts from phase 1's weights with the same settings; it is a new run."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    ds = _toy_data()
    model = _lite0_head()
    phase1 = train.fine_tune(model, ds, checkpoint=True, **TRAIN)
    phase2 = train.fine_tune(model, ds, checkpoint=True, **TRAIN)
    assert phase1.epochs_run == 1 and phase2.resumed_from is None and phase2.epochs_run == 1
    assert phase2.checkpoint != phase1.checkpoint
    again = train.fine_tune(_lite0_head(), ds, checkpoint=True, **TRAIN)  # phase 1's start again: resumes it
    assert again.checkpoint == phase1.checkpoint and again.resumed_from == 1 and again.epochs_run == 0


def test_checkpoint_from_other_starting_weights_is_refused(tmp_path):
    ds, path = _toy_data(), tmp_path / "run.pt"
    train.fine_tune(_lite0_head(seed=0), ds, checkpoint=path, **{**TRAIN, "epochs": 2}, stop_after_epochs=1)
    with pytest.raises(CourseLibError, match="different run.*start_weights"):
        train.fine_tune(_lite0_head(seed=1), ds, checkpoint=path, **{**TRAIN, "epochs": 2})
    same = train.fine_tune(_lite0_head(seed=0), ds, checkpoint=path, **{**TRAIN, "epochs": 2})
    assert same.resumed_from == 1 and same.epochs_run == 1


# --------------------------------------------------------------------------- lab 02's run cache
@pytest.fixture(scope="module")
def task(shared_datasets):
    """A Task with just what the run-cache key reads (tables, transforms, a small model), no images decoded."""
    tr = data.load_dataset("hymenoptera", split="train")
    va = data.load_dataset("hymenoptera", split="val")
    model = nn.Linear(4, 2)
    torch.nn.init.constant_(model.weight, 0.5)
    return strategies.Task(name="hymenoptera", model_name="toy", input_size=64, model=model, train=tr, val=va,
                           train_transform="train-tf", eval_transform="eval-tf", images=[], val_set=None,
                           train_X=np.zeros((len(tr), 4)), val_X=np.zeros((len(va), 4)))


def _key(task, n_per_class=5, seed=0):
    return strategies.run._run_cache_path("last_k", task, n_per_class, seed, 3, dict(k=2, lr_head=1e-2)).name


def test_run_key_is_stable_and_follows_the_weights_content(task):
    base = _key(task)
    assert _key(task) == base and _key(task, seed=1) != base and _key(task, n_per_class=6) != base
    with torch.no_grad():
        task.model.weight[0, 0] += 1.0  # same label, same name: other weights
    try:
        assert _key(task) != base
    finally:
        with torch.no_grad():
            task.model.weight[0, 0] -= 1.0
    assert _key(task) == base


def test_run_key_follows_subsample_per_class(task, monkeypatch):
    base, picked = _key(task), task.subset(5, 0)
    original = data.subsample_per_class

    def same_picks_new_source(table, n_per_class, seed=0):  # identical output, different code
        return original(table, n_per_class, seed=seed)

    monkeypatch.setattr(data, "subsample_per_class", same_picks_new_source)
    np.testing.assert_array_equal(task.subset(5, 0), picked)
    new_source = _key(task)
    assert new_source != base

    def other_picks(table, n_per_class, seed=0):  # a changed sampler that picks other images
        return original(table, n_per_class, seed=seed + 100)

    monkeypatch.setattr(data, "subsample_per_class", other_picks)
    assert not np.array_equal(task.subset(5, 0), picked) and _key(task) not in (base, new_source)
    monkeypatch.setattr(data, "subsample_per_class", original)
    assert _key(task) == base


@pytest.mark.parametrize("module_name", ["torch", "timm", "numpy", "sklearn", "torchvision", "PIL"])
def test_run_key_follows_library_versions(task, monkeypatch, module_name):
    import importlib

    base = _key(task)
    monkeypatch.setattr(importlib.import_module(module_name), "__version__", "0.0.0-test")
    assert _key(task) != base


def test_run_key_follows_the_kit_training_code_including_models_stages(task, monkeypatch, tmp_path):
    from course_lib.models import stages

    base = _key(task)
    edited = tmp_path / "stages.py"
    edited.write_bytes(open(stages.__file__, "rb").read() + b"\n# an edit\n")
    monkeypatch.setattr(stages, "__file__", str(edited))
    strategies.run._training_code_digest.cache_clear()
    try:
        assert _key(task) != base
    finally:
        monkeypatch.undo()
        strategies.run._training_code_digest.cache_clear()
    assert _key(task) == base
