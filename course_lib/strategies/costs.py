"""What each strategy costs, measured here: trainable parameters, seconds per epoch and peak memory per unfrozen
depth (:func:`cost_table`)."""
from __future__ import annotations

import math
import time
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import models
from .names import ALL
from .run import fit_probe, freeze_batchnorm, probe_parameters
from .task import Task


def _peak_and_latency(fn):
    try:
        from ..bench import peak_memory_mb
    except ImportError:  # pragma: no cover - bench is part of the kit; keep the lab running without it
        return fn(), float("nan")
    return peak_memory_mb(fn, device="cpu")


def _train_step_seconds(model: nn.Module, batch_size: int, input_size: int, steps: int) -> float:
    """Seconds of one forward + backward + optimiser step on a random batch (trainable parameters only)."""
    try:
        from ..bench import measure_training_step

        lat = measure_training_step(model, batch_size=batch_size, input_size=input_size, warmup=1, steps=steps,
                                    device="cpu", channels_last=True)
        return lat.ms_per_batch / 1e3
    except ImportError:  # pragma: no cover
        x = torch.randn(batch_size, 3, input_size, input_size).contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        model.train()
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            model(x).logsumexp(1).mean().backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return float(np.median(times[1:]))


def cost_table(task: Task, ks: Iterable[int | str] = (0, 1, 2, "all"), batch_size: int = 32, steps: int = 3,
               n_train: int | None = None, freeze_bn: bool = True) -> pd.DataFrame:
    """What each strategy costs per epoch of `n_train` images (default: the task's train set), measured here.

    Per unfrozen depth k (0 = head only, "all" = full fine-tuning; training from scratch costs the same as "all"):
    trainable parameters, seconds per training step on a random batch (timm-style: warm-up, then the median of
    timed steps), seconds per epoch, and peak extra memory of those steps (CPU: resident memory, approximate).
    The linear probe row: one forward pass per image (features, cached afterwards) and the probe fit.
    ``freeze_bn``: BatchNorm layers stay frozen, as :func:`run_strategy` trains them.
    """
    n_train = n_train or len(task.train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    rows = []
    n_stages = len(models.stage_names(task.model))
    warm = task.fresh_model()  # one untimed step first: thread pools and allocator settle before the first row
    _train_step_seconds(models.unfreeze(warm), batch_size, task.input_size, 1)
    del warm
    for k in ks:
        k = n_stages if k == ALL else min(int(k), n_stages)
        model = task.fresh_model()
        models.unfreeze_last(model, k)
        if freeze_bn:
            freeze_batchnorm(model)
        seconds, peak = _peak_and_latency(lambda: _train_step_seconds(model, batch_size, task.input_size, steps))
        rows.append({"strategy": "full_ft" if k == n_stages else ("head" if k == 0 else "last_k"), "k": k,
                     "trainable_params": models.count_parameters(model, trainable_only=True),
                     "seconds_per_step": seconds, "seconds_per_epoch": seconds * steps_per_epoch,
                     "peak_memory_mb": peak})
        del model
    # The probe: a forward pass per image once (then cached), and a logistic regression on the features.
    model = task.fresh_model().eval()
    x = torch.randn(batch_size, 3, task.input_size, task.input_size).contiguous(memory_format=torch.channels_last)

    def forward_once() -> float:
        with torch.inference_mode():
            model(x)
            t0 = time.perf_counter()
            for _ in range(steps):
                model(x)
            return (time.perf_counter() - t0) / steps

    seconds, peak = _peak_and_latency(forward_once)
    fit = fit_probe(task, np.arange(len(task.train)))
    rows.insert(0, {"strategy": "probe", "k": 0,
                    "trainable_params": probe_parameters(task.train_X.shape[1], task.num_classes),
                    "seconds_per_step": seconds, "seconds_per_epoch": seconds * steps_per_epoch + fit.seconds,
                    "peak_memory_mb": peak})
    out = pd.DataFrame(rows)
    out.insert(0, "dataset", task.name)
    out["input_size"] = task.input_size
    out["n_train"] = n_train
    return out
