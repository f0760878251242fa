"""The device policy (workers, pinned memory, precision): its CUDA choices from fake device descriptions, the CPU
path unchanged, and the autocast path run for real on the CPU in bfloat16 (and float16 with a GradScaler)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from course_lib import accel, features, models, train
from course_lib.accel import DeviceInfo, choose_policy
from course_lib.errors import CourseLibError
from course_lib.train import metrics

T4 = DeviceInfo("cuda", cores=2, bf16=False)   # Colab's free GPU: compute capability 7.5, two CPU cores
A100 = DeviceInfo("cuda", cores=12, bf16=True)
FAST = dict(batch_size=16, progress=False, device="cpu")


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, :, 10:22, 10:22] += 0.8
    return x, y


def _lite0(seed: int = 0):
    torch.manual_seed(seed)
    return models.load_model("tf_efficientnet_lite0", pretrained=False, num_classes=2)


# --------------------------------------------------------------------------- the policy, as a pure function
def test_cpu_policy_is_the_old_path():
    p = choose_policy(DeviceInfo("cpu", cores=64, bf16=True))
    assert (p.num_workers, p.pin_memory, p.non_blocking, p.precision, p.mixed, p.dtype, p.grad_scaler) == \
        (0, False, False, "fp32", False, None, False)
    assert choose_policy(DeviceInfo("mps", cores=8)).precision == "fp32"
    assert choose_policy(DeviceInfo("mps", cores=8)).num_workers == 0


def test_cuda_policy_t4_uses_fp16_with_a_scaler_and_a100_bf16_without():
    t4 = choose_policy(T4)
    assert (t4.num_workers, t4.pin_memory, t4.non_blocking, t4.precision, t4.dtype, t4.grad_scaler) == \
        (2, True, True, "fp16", torch.float16, True)
    a100 = choose_policy(A100)
    assert (a100.num_workers, a100.precision, a100.dtype, a100.grad_scaler) == (4, "bf16", torch.bfloat16, False)
    assert choose_policy(A100, "fp32").mixed is False and choose_policy(T4, "bf16").grad_scaler is False
    assert choose_policy(DeviceInfo("cpu"), "bf16").precision == "bf16"  # forced on a CPU (the test path below)
    with pytest.raises(CourseLibError, match="precision"):
        choose_policy(T4, "half")


def test_loader_on_a_fake_t4_pins_memory_and_uses_no_more_workers_than_batches(monkeypatch):
    monkeypatch.setattr(accel, "describe", lambda device: T4)
    dataset = TensorDataset(*_images(40, seed=0))
    many = accel.loader(dataset, 8, "cuda", persistent=True)
    assert (many.num_workers, many.pin_memory, many.persistent_workers) == (2, True, True)
    assert many.worker_init_fn is accel.seed_worker
    one = accel.loader(dataset, 64, "cuda")
    assert one.num_workers == 1
    assert accel.precision_key("cuda") == {"precision": "fp16"}


def test_cpu_loader_autocast_and_scaler_are_the_plain_ones(monkeypatch):
    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    dl = accel.loader(TensorDataset(*_images(10, seed=0)), 4, "cpu")
    assert (dl.num_workers, dl.pin_memory, dl.worker_init_fn) == (0, False, None)
    assert accel.grad_scaler("cpu") is None and accel.precision_key("cpu") == {}
    with accel.autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    x = torch.rand(2, 3, 4, 4)
    assert accel.to_device(x, "cpu") is x


# --------------------------------------------------------------------------- the autocast path, run on the CPU
@pytest.fixture()
def few_images(shared_datasets, tmp_path):
    src = sorted((shared_datasets / "hymenoptera/train/ants").glob("*.jpg"))[:3] + \
        sorted((shared_datasets / "hymenoptera/train/bees").glob("*.jpg"))[:3]
    for p in src:
        shutil.copy(p, tmp_path / p.name)
    return [tmp_path / p.name for p in src]


def test_bf16_features_are_float32_close_and_cached_apart(lite0, few_images, tmp_path, monkeypatch):
    kw = dict(layers=["pooled", "blocks.3"], input_size=96, batch_size=4, cache_dir=tmp_path / "c", progress=False,
              device="cpu")
    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    full = features.extract_features(lite0, few_images, **kw)
    monkeypatch.setenv("COURSE_PRECISION", "bf16")
    half = features.extract_features(lite0, few_images, **kw)
    assert not half.from_cache and half.key != full.key  # never read back as float32 features
    for name, X in half.layers.items():
        assert X.dtype == np.float32 and np.isfinite(X).all()
        r = np.corrcoef(X.ravel(), full.layers[name].ravel())[0, 1]
        assert r > 0.98, (name, r)
        assert not np.array_equal(X, full.layers[name])  # autocast did run
    assert features.extract_features(lite0, few_images, **kw).from_cache
    monkeypatch.setenv("COURSE_PRECISION", "fp32")  # the float32 key is the one made before mixed precision existed
    assert features.extract_features(lite0, few_images, **kw).key == full.key


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_fine_tune_under_autocast_learns_and_resumes(precision, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PRECISION", precision)
    train_set, val_set = TensorDataset(*_images(48, seed=0)), TensorDataset(*_images(16, seed=1))
    kw = dict(epochs=4, unfreeze_stages=2, lr_head=1e-2, lr_backbone=1e-3, seed=0, **FAST)
    model = _lite0()
    result = train.fine_tune(model, train_set, val_set, checkpoint=tmp_path / "run.pt", **kw)
    losses = [h["train_loss"] for h in result.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast casts activations, not weights
    saved = train.load_checkpoint(tmp_path / "run.pt")
    assert ("scaler" in saved) == (precision == "fp16") and saved["settings"]["precision"] == precision
    y, logits = metrics.labels_and_logits(model, val_set, 8, "cpu")
    assert logits.dtype == torch.float32 and y.shape == (16,)
    again = train.fine_tune(_lite0(), train_set, val_set, checkpoint=tmp_path / "run.pt", **kw)
    assert again.epochs_run == 0 and again.metrics == result.metrics
    monkeypatch.setenv("COURSE_PRECISION", "fp32")  # a float32 run never resumes a mixed-precision checkpoint
    with pytest.raises(CourseLibError, match="different run"):
        train.fine_tune(_lite0(), train_set, val_set, checkpoint=tmp_path / "run.pt", **kw)
