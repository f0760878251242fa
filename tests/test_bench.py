"""course_lib.bench: counts checked against hand counts, timing mechanics (not speed), memory, table rows."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib import bench, env
from course_lib.errors import CourseLibError, UnknownNameError


def tiny_net(num_classes: int = 5) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes),
    )


class SlowFirstCall(nn.Module):
    """Sleeps 0.3 s on its first call only, like a model whose first step pays for kernel selection."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            time.sleep(0.3)
        return self.lin(x.flatten(1)[:, :4])


class FailsAboveFour(nn.Module):
    """Raises for batches larger than 4, standing in for an out-of-memory error."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 4:
            raise RuntimeError(f"simulated out of memory at batch {x.shape[0]}")
        return self.net(x)


def test_count_parameters_matches_hand_count_and_trainable_only():
    assert bench.count_parameters(nn.Linear(10, 3)) == 33  # 10*3 weights + 3 biases
    model = nn.Sequential(nn.Linear(10, 3), nn.Linear(3, 2))  # 33 + 8
    model[0].requires_grad_(False)
    assert bench.count_parameters(model) == 41
    assert bench.count_parameters(model, trainable_only=True) == 8
    model.requires_grad_(False)
    assert bench.count_parameters(model, trainable_only=True) == 0


def test_count_flops_matches_hand_counts():
    assert bench.count_flops(nn.Linear(10, 3), input_size=(10,)) == 2 * 10 * 3
    conv = nn.Conv2d(3, 8, 3, padding=1)
    expected = 2 * 3 * 8 * 3 * 3 * 16 * 16  # 2 per multiply-add, per output pixel
    assert bench.count_flops(conv, input_size=(3, 16, 16)) == expected
    assert bench.count_flops(conv, input_size=16, batch_size=4) == expected  # per image, int size accepted
    assert bench.gmacs(expected) == pytest.approx(expected / 2e9)
    conv.train()
    bench.count_flops(conv, input_size=(3, 16, 16))
    assert conv.training  # mode restored


def test_flops_scale_with_resolution():
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    small = bench.count_flops(net, input_size=(3, 64, 64))
    large = bench.count_flops(net, input_size=(3, 128, 128))
    assert large / small == pytest.approx(4.0, rel=0.1)  # 4x pixels; the fixed-size head keeps it a bit under 4
    conv_only = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    assert bench.count_flops(conv_only, 64) == 4 * bench.count_flops(conv_only, 32)


def test_measure_latency_fields_are_consistent():
    model = tiny_net().train()
    lat = bench.measure_latency(model, batch_size=4, input_size=(3, 32, 32), warmup=1, steps=5, device="cpu")
    assert (lat.batch_size, lat.img_size, lat.warmup, lat.steps) == (4, 32, 1, 5)
    assert lat.ms_per_image == pytest.approx(lat.ms_per_batch / 4)
    assert lat.images_per_second == pytest.approx(4 / lat.ms_per_batch * 1000)
    assert lat.device == "cpu" and lat.threads == torch.get_num_threads() and lat.channels_last is False
    assert model.training  # train/eval mode restored
    row = lat.to_dict()
    assert set(row) == {f.name for f in dataclasses.fields(bench.Latency)}
    assert all(not isinstance(v, (dict, list)) for v in row.values())
    assert row["ms_per_batch"] == round(lat.ms_per_batch, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lat.steps = 1  # type: ignore[misc]
    rect = bench.measure_latency(model, 1, (3, 24, 32), warmup=0, steps=1, device="cpu", channels_last=True)
    assert rect.img_size == (24, 32) and rect.channels_last is True
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)  # left converted, as documented


class Ticking(nn.Module):
    """Every call advances a fake clock by the next of `durations_ms`, so the timings are known in advance."""

    def __init__(self, durations_ms, clock: dict) -> None:
        super().__init__()
        self.net, self.durations, self.clock = tiny_net(), list(durations_ms), clock

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock["now"] += self.durations.pop(0) / 1e3
        return self.net(x)


def test_latency_is_the_median_and_spread_of_the_timed_steps(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr(bench, "time", type("FakeTime", (), {"perf_counter": staticmethod(lambda: clock["now"])}))
    steps_ms = [12.0, 30.0, 18.0, 25.0, 95.0]
    model = Ticking([500.0, *steps_ms], clock)  # the 500 ms warm-up call must not reach the numbers
    lat = bench.measure_latency(model, batch_size=4, input_size=(3, 32, 32), warmup=1, steps=5, device="cpu")
    assert lat.steps == 5 and not model.durations
    assert lat.ms_per_batch == pytest.approx(float(np.median(steps_ms)))  # 25 ms: the median, not the mean (36)
    assert lat.ms_std == pytest.approx(float(np.std(steps_ms, ddof=1)))  # the sample standard deviation, 33.2 ms
    assert lat.images_per_second == pytest.approx(4 / 25e-3)


def test_channels_last_reaches_the_input():
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
            return x.mean((2, 3))

    bench.measure_latency(Recorder(), 2, 16, warmup=0, steps=1, device="cpu", channels_last=True)
    bench.measure_training_step(nn.Sequential(Recorder(), nn.Linear(3, 2)), 2, 16, warmup=0, steps=1,
                                device="cpu", channels_last=True)
    bench.measure_latency(Recorder(), 2, 16, warmup=0, steps=1, device="cpu")
    assert seen == [True, True, False]


def test_warmup_steps_are_not_timed():
    model = SlowFirstCall()
    lat = bench.measure_latency(model, batch_size=2, input_size=(3, 8, 8), warmup=1, steps=3, device="cpu")
    assert model.calls == 4
    assert lat.ms_per_batch < 100 and lat.ms_std < 50  # the 300 ms first call did not reach the clock
    timed_first = bench.measure_latency(SlowFirstCall(), 2, (3, 8, 8), warmup=0, steps=3, device="cpu")
    assert timed_first.ms_std > 100  # the same call, timed, shows up: the check above can fail


def test_min_seconds_keeps_timing():
    class Sleepy(nn.Module):
        def forward(self, x):
            time.sleep(0.02)
            return x

    lat = bench.measure_latency(Sleepy(), 1, (3, 4, 4), warmup=0, steps=2, device="cpu", min_seconds=0.2)
    assert lat.steps > 2 and lat.steps * lat.ms_per_batch >= 150  # kept going past `steps` for ~0.2 s


def test_training_step_updates_only_trainable_parameters():
    model = tiny_net()
    backbone, head = model[:-1], model[-1]
    backbone.requires_grad_(False)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.eval()
    lat = bench.measure_training_step(model, batch_size=4, input_size=(3, 16, 16), warmup=1, steps=2, device="cpu")
    assert lat.steps == 2 and lat.ms_per_batch > 0
    assert not model.training  # mode restored
    after = model.state_dict()
    for key in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["6.weight"], after["6.weight"])
    assert all(p.grad is None for p in backbone.parameters())
    assert head.weight.requires_grad
    model.requires_grad_(False)
    with pytest.raises(CourseLibError, match="no trainable parameters"):
        bench.measure_training_step(model, 2, (3, 16, 16), device="cpu")


def test_peak_memory_sees_a_200mb_allocation_even_in_reused_heap():
    for _ in range(2):
        freed = torch.empty(100_000_000).fill_(1)  # 400 MB, freed: glibc keeps it resident for reuse
        del freed
        result, peak = bench.peak_memory_mb(lambda: torch.empty(50_000_000).fill_(1), device="cpu")
        assert result.numel() == 50_000_000
        assert peak >= 150, peak
        del result
    _, small = bench.peak_memory_mb(lambda: sum(range(1000)), device="cpu")
    assert small < 50


def test_peak_memory_catches_a_spike_released_before_return():
    def spike() -> None:  # memory given back to the OS before returning: only the background sampler sees it
        t = torch.empty(50_000_000).fill_(1)
        time.sleep(0.05)
        del t
        env.release_memory()

    assert bench.peak_memory_mb(spike, device="cpu")[1] >= 150


def test_unknown_timm_name_raises_with_suggestions():
    with pytest.raises(UnknownNameError, match="tf_efficientnet_lite0") as info:
        bench.benchmark_model("tf_efficientnet_lite_0")
    assert "timm.list_models" in str(info.value)


def test_benchmark_table_checks_names_before_timing(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "benchmark_model", lambda *a, **k: calls.append(a))
    with pytest.raises(UnknownNameError):
        bench.benchmark_table(["tf_efficientnet_lite0", "resnet_500"])
    assert calls == []


def test_benchmark_model_row_for_a_timm_name(monkeypatch):
    real_peak, measured = bench.peak_memory_mb, []

    def spy(fn, device=None, **kw):  # the real measurement, recording what it ran and what it found
        result, mb = real_peak(fn, device, **kw)
        measured.append((tuple(result.shape), mb))
        return result, mb

    monkeypatch.setattr(bench, "peak_memory_mb", spy)
    row = bench.benchmark_model("tf_efficientnet_lite0", batch_sizes=(1, 2), input_size=64, warmup=1, steps=2,
                                device="cpu")
    assert row["name"] == "tf_efficientnet_lite0" and row["img_size"] == 64
    assert row["params_m"] == pytest.approx(4.652, abs=0.01)
    assert row["gmacs"] == pytest.approx(row["gflops"] / 2, abs=1e-3) and row["gflops"] > 0
    assert row["ms_bs1"] > 0 and row["ms_bs2"] > 0 and row["img_s_bs2"] > 0
    # img/s is rounded to 0.1 and ms to 0.001: the ms rounding moves 2000 / ms by up to 2000 / ms^2 * 0.0005
    slack = 0.05 + 2e3 / row["ms_bs2"] ** 2 * 0.0005 + 1e-9
    assert row["img_s_bs2"] == pytest.approx(2e3 / row["ms_bs2"], abs=slack)
    (shape, mb), = measured  # memory is measured once, at the largest batch that ran, and reported as measured
    assert shape == (2, 1000) and row["peak_mem_mb"] == round(mb, 1)
    assert row["error"] is None and row["device"] == "cpu"


def test_peak_memory_of_building_a_model_covers_its_weights():
    import timm

    model, mb = bench.peak_memory_mb(lambda: timm.create_model("tf_efficientnet_lite0", pretrained=False), device="cpu")
    weights_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20  # 17.9 MiB
    assert 0.8 * weights_mb <= mb <= 4 * weights_mb, (mb, weights_mb)  # measured 17.9-22.1 MiB here


def test_measurement_errors_are_recorded_with_halved_retry():
    row = bench.benchmark_model("failing", batch_sizes=(2, 8, 16), input_size=16, warmup=0, steps=1, device="cpu",
                                loader=lambda name: FailsAboveFour())
    assert row["name"] == "failing"
    assert row["ms_bs2"] > 0
    assert row["ms_bs8"] is None and row["ms_bs4"] > 0 and row["img_s_bs4"] > 0  # 8 failed, 4 ran
    assert row["ms_bs16"] is None  # 16 failed, and so did its retry at 8
    assert "batch 8: RuntimeError: simulated out of memory" in row["error"]
    assert "batch 16" in row["error"] and "retrying at batch 8" in row["error"]
    assert row["peak_mem_mb"] is not None  # measured at the largest batch that ran


def test_benchmark_table_has_one_row_per_model():
    table = bench.benchmark_table([tiny_net(), FailsAboveFour()], batch_sizes=(1, 8), input_size=16, warmup=0,
                                  steps=1, device="cpu")
    assert isinstance(table, pd.DataFrame) and len(table) == 2
    assert list(table["name"]) == ["Sequential", "FailsAboveFour"]
    assert table["error"].isna().tolist() == [True, False]
    assert {"params_m", "gflops", "gmacs", "ms_bs1", "img_s_bs1", "peak_mem_mb"} <= set(table.columns)


def test_fastest_threads_keeps_the_fastest_candidate_and_leaves_the_model_alone():
    before = torch.get_num_threads()
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    weight = model[0].weight.detach().clone()
    try:
        out = bench.fastest_threads(model, input_size=32, batch_size=2, candidates=(1, 2))
        timings = out["seconds_per_batch"]
        assert set(timings) == {"1", "2"} and out["threads"] in (1, 2)
        assert torch.get_num_threads() == out["threads"] and timings[str(out["threads"])] == min(timings.values())
        assert torch.equal(model[0].weight, weight) and model[0].weight.is_contiguous()   # not channels_last
    finally:
        torch.set_num_threads(before)
