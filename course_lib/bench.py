"""What a model costs here: parameters, FLOPs, latency, a training step, peak memory (labs weigh cost with accuracy).

Timing follows timm's benchmark script: untimed warm-up steps (allocator, kernel choice and caches settle), then
timed ``time.perf_counter`` steps (``torch.inference_mode`` for inference, a synchronize per step on CUDA/MPS);
results are flat, rounded dicts that fit a ``pandas`` row.
"""
from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn

from .env import pick_device, release_memory
from .errors import CourseLibError, unknown_name
from .models.stages import count_parameters  # one definition, re-exported here for benchmark tables


def _input_size(size: Any, model: nn.Module | None = None) -> tuple[int, ...]:
    """Accept 224, (224, 224) or (3, 224, 224), as labs have at hand; None: the timm model's own size."""
    if size is None:
        cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
        size = cfg.get("input_size", (3, 224, 224))
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    return (3, *size) if len(size) == 2 else size


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def _setup(model: nn.Module, batch: int, input_size: Any, device: Any, channels_last: bool):
    """Move the model to `device` (and leave it there) and make a random input batch for it."""
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    size = _input_size(input_size, model)
    gen = torch.Generator().manual_seed(0)  # private, so benchmarking never disturbs a lab's seeded RNG
    x = torch.randn(batch, *size, generator=gen).to(device=device, dtype=_device_dtype(model)[1])
    return device, size, x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


@contextlib.contextmanager
def _mode(model: nn.Module, training: bool):
    """Switch train/eval for a measurement and put the learner's mode back afterwards."""
    was_training = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(was_training)


def count_flops(model: nn.Module, input_size: Any = (3, 224, 224), batch_size: int = 1) -> int:
    """FLOPs of one forward pass per image, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    FlopCounterMode counts a multiply-add as 2 FLOPs, while torchvision's ``_ops`` "GFLOPS" and most papers
    quote multiply-adds: published GFLOPS ~= measured / 2 (see ``gmacs``). Biases and activations are not
    counted. Runs a zeros input in eval mode (restored after).
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(batch_size, *_input_size(input_size, model)).to(*_device_dtype(model))
    with _mode(model, False), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops()) // batch_size


def gmacs(flops: float) -> float:
    """Giga multiply-adds from FlopCounterMode FLOPs: the unit papers and torchvision call "GFLOPS"."""
    return flops / 2e9


@dataclass(frozen=True)
class Latency:
    """One timing result; ``to_dict`` flattens and rounds it for a table row."""

    batch_size: int
    img_size: Any  # int for square inputs, else (H, W)
    warmup: int
    steps: int
    ms_per_batch: float  # median of the timed steps: robust to a stray slow one
    ms_per_image: float
    images_per_second: float
    ms_std: float  # spread of the per-step times: a large one means a busy, noisy machine
    device: str
    threads: int
    channels_last: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, or the clock measures only the kernel launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(step: Callable[[], Any], device: torch.device, warmup: int, steps: int, min_seconds: float | None,
           batch: int, size: tuple[int, ...], channels_last: bool) -> Latency:
    """`warmup` untimed steps, then at least `steps` timed ones (and `min_seconds`), summarised."""
    for _ in range(warmup):
        step()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max(1, steps) or (min_seconds and time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    ms, (h, w) = statistics.median(times), size[-2:]
    return Latency(batch_size=batch, img_size=h if h == w else (h, w), warmup=warmup, steps=len(times),
                   ms_per_batch=ms, ms_per_image=ms / batch, images_per_second=batch * 1e3 / ms,
                   ms_std=statistics.stdev(times) if len(times) > 1 else 0.0, device=str(device),
                   threads=torch.get_num_threads(), channels_last=channels_last)


def measure_latency(model: nn.Module, batch_size: int = 1, input_size: Any = (3, 224, 224), warmup: int = 5,
                    steps: int = 20, device: Any = None, channels_last: bool = False,
                    min_seconds: float | None = None) -> Latency:
    """Inference time of one batch (eval mode, ``torch.inference_mode``); warm-up steps are not timed.

    The model is moved to `device` (default ``env.pick_device()``, channels-last if asked) and left there, so
    repeated calls skip the copy; its train/eval mode is restored. ``min_seconds`` keeps timing past `steps`.
    """
    device, size, x = _setup(model, batch_size, input_size, device, channels_last)
    with _mode(model, False), torch.inference_mode():
        return _timed(lambda: model(x), device, warmup, steps, min_seconds, batch_size, size, channels_last)


def fastest_threads(model: nn.Module, input_size: int = 112, batch_size: int = 8, steps: int = 1,
                    candidates: Iterable[int] | None = None) -> dict:
    """Time a few forward passes (one untimed warm-up each) with every candidate torch thread count (default: one
    and every core), keep the fastest for the rest of the process, and return ``{"threads": n,
    "seconds_per_batch": {"n": s, ...}}``.

    On an idle machine all cores win. When other processes keep the cores busy, torch's threads wait for each other
    at every layer: on the course machines 2 threads measured 5-15x *slower* than 1 (1.3-3 s against 0.2 s per
    batch of 16 at 112 px), which turns minutes into an hour. Measured, not assumed; `model` itself is not touched.
    """
    import copy

    from .env import cpu_cores

    work = copy.deepcopy(model)
    timings = {}
    for n in sorted(set(candidates or (1, cpu_cores())), reverse=True):
        torch.set_num_threads(n)
        timings[n] = measure_latency(work, batch_size, input_size, warmup=1, steps=steps, device="cpu",
                                     channels_last=True).ms_per_batch / 1000
    best = min(timings, key=timings.get)
    torch.set_num_threads(best)
    return {"threads": best, "seconds_per_batch": {str(k): round(v, 4) for k, v in timings.items()}}


def measure_training_step(model: nn.Module, batch_size: int = 8, input_size: Any = (3, 224, 224), warmup: int = 2,
                          steps: int = 5, device: Any = None, channels_last: bool = False,
                          min_seconds: float | None = None, lr: float = 0.01) -> Latency:
    """Time of one forward + backward + SGD step on the trainable parameters only.

    Frozen parameters get no gradients, so a frozen backbone with a trainable head costs less: this is how
    the labs compare adaptation strategies. It really trains: trainable weights and BatchNorm statistics
    change (pass ``copy.deepcopy(model)`` to keep the original). Device handling as in ``measure_latency``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise CourseLibError("the model has no trainable parameters, so there is no training step to time; "
                             "unfreeze at least the head (head.requires_grad_(True)).")
    device, size, x = _setup(model, batch_size, input_size, device, channels_last)
    opt = torch.optim.SGD(params, lr=lr)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(x)
        out = (out[0] if isinstance(out, (tuple, list)) else out).float()
        loss = -out.log_softmax(1)[:, 0].mean() if out.dim() == 2 else out.square().mean()  # logits: CE vs class 0
        loss.backward()
        opt.step()

    with _mode(model, True):
        return _timed(step, device, warmup, steps, min_seconds, batch_size, size, channels_last)


def _rss_bytes() -> int:
    """Resident memory now (/proc/self/statm); where that is missing, the lifetime peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


def peak_memory_mb(fn: Callable[[], Any], device: Any = None, interval: float = 0.005) -> tuple[Any, float]:
    """Run ``fn()``; return ``(result, peak_mb)``, the extra memory it needed at its peak, in MiB.

    On CUDA (the default when present): ``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated
    before. On CPU an approximation: the RSS delta, peak (sampled every `interval` s by a background thread)
    minus before; freed heap is released first, and short spikes or other threads' allocations blur it.
    """
    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, (torch.cuda.max_memory_allocated(device) - before) / 2**20
    release_memory()   # or memory reused from an earlier run would not show
    before = peak = _rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(interval):
            peak = max(peak, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
        peak = max(peak, _rss_bytes())
    finally:
        done.set()
        sampler.join()
    return result, max(0, peak - before) / 2**20


def timm_random_model(name: str, create: bool = True) -> nn.Module | None:
    """Default ``benchmark_model`` loader: timm, random weights (enough to time); ``create=False`` checks the name."""
    import timm

    if not timm.is_model(name):
        raise unknown_name("timm model", name, timm.list_models(), "timm.list_models() or timm.list_models('*lite*')")
    return timm.create_model(name, pretrained=False) if create else None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:200]


def benchmark_model(model_or_name: nn.Module | str, batch_sizes: Iterable[int] = (1, 32), input_size: Any = None,
                    warmup: int = 3, steps: int = 10, channels_last: bool = False, device: Any = None,
                    loader: Callable[[str], nn.Module] = timm_random_model, name: str | None = None) -> dict[str, Any]:
    """One table row: size, FLOPs, inference latency per batch size and peak memory at the largest batch.

    A string is built by `loader` (default: timm, random weights). A failure while measuring (e.g. out of memory)
    does not crash a long table: as timm's ``_try_run`` does, that batch is retried once at half the size and
    ``error`` says what happened. ``ms_bs{N}``/``img_s_bs{N}`` name the batch run; a failed one stays empty.
    """
    model = loader(model_or_name) if isinstance(model_or_name, str) else model_or_name
    dev, size, _ = _setup(model, 1, input_size, device, channels_last)
    row: dict[str, Any] = {"name": name or (model_or_name if isinstance(model_or_name, str) else type(model).__name__),
                           "img_size": size[-1] if size[-1] == size[-2] else size[1:],
                           "params_m": round(count_parameters(model) / 1e6, 3), "gflops": None, "gmacs": None}
    errors: list[str] = []
    try:
        flops = count_flops(model, size)
        row.update(gflops=round(flops / 1e9, 3), gmacs=round(gmacs(flops), 3))
    except Exception as exc:  # noqa: BLE001 - a row with a note beats a crashed table
        errors.append(f"flops: {_short(exc)}")
    ran: list[int] = []
    for bs in batch_sizes:
        for attempt in (bs, bs // 2) if bs > 1 else (bs,):
            try:
                lat = measure_latency(model, attempt, size, warmup, steps, dev, channels_last)
            except Exception as exc:  # noqa: BLE001
                retry = f" (retrying at batch {bs // 2})" if attempt == bs and bs > 1 else ""
                errors.append(f"batch {attempt}: {_short(exc)}{retry}")
                if dev.type == "cuda":
                    torch.cuda.empty_cache()  # give the retry the memory the failed attempt held
                continue
            row[f"ms_bs{attempt}"] = round(lat.ms_per_batch, 3)
            row[f"img_s_bs{attempt}"] = round(lat.images_per_second, 1)
            ran.append(attempt)
            break
        if bs not in ran:  # keep the requested columns, empty, so a table lines up
            row.update({key: row.get(key) for key in (f"ms_bs{bs}", f"img_s_bs{bs}")})
    row["peak_mem_mb"] = None
    if ran:
        x = _setup(model, max(ran), size, dev, channels_last)[2]
        try:
            with _mode(model, False), torch.inference_mode():
                row["peak_mem_mb"] = round(peak_memory_mb(lambda: model(x), dev)[1], 1)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"memory: {_short(exc)}")
    row.update(device=str(dev), threads=torch.get_num_threads(), error="; ".join(errors) or None)
    return row


def benchmark_table(names: Iterable[nn.Module | str], **kw: Any) -> "pandas.DataFrame":  # noqa: F821
    """``benchmark_model`` for each entry, as a ``pandas.DataFrame``; names are checked before any timing."""
    import pandas as pd

    names = list(names)
    if kw.get("loader", timm_random_model) is timm_random_model:  # a typo fails now, not after minutes of timing
        for n in (n for n in names if isinstance(n, str)):
            timm_random_model(n, create=False)
    return pd.DataFrame([benchmark_model(n, **kw) for n in names])
