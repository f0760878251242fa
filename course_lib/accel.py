"""How the kit's loops use a device: data-loader workers, pinned memory, copies, mixed precision. One policy.

Every loop that runs a network over images (feature extraction, fine-tuning, evaluation, BatchNorm
recalibration) asks this module, so the choices live in one place:

- **CPU** (CI, the fast profile): everything as it always was. Images are decoded in the main process
  (``num_workers=0``), nothing is pinned, the network runs in float32 without autocast: a seed gives the same
  numbers bit for bit.
- **CUDA** (Colab, the full profile): images are decoded by ``min(4, cores)`` worker processes (never more than
  there are batches), into pinned memory, copied with ``non_blocking=True``; the network runs under
  ``torch.autocast`` in bfloat16 where the GPU computes it natively (compute capability 8.0 and later: A100, L4),
  else in float16 (a T4) with a ``GradScaler`` for training, because float16 gradients underflow and bfloat16's do not.
- **MPS**: no workers and float32 (autocast on MPS is younger; the labs are not planned for it).

``COURSE_PRECISION`` (``auto``, ``fp32``, ``bf16``, ``fp16``) overrides the precision: ``fp32`` turns mixed
precision off on a GPU; ``bf16`` runs the autocast path on a CPU too (how the tests exercise it without a GPU).
The policy itself is a pure function of a device description (:func:`choose_policy`), so the CUDA choices are
tested without a GPU.
"""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_WORKERS = 4
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class DeviceInfo:
    """What the policy needs to know about a device: its type, the CPU cores for loader workers, and whether it
    computes bfloat16 natively."""

    type: str
    cores: int = 1
    bf16: bool = False


@dataclass(frozen=True)
class Policy:
    """How loops use one device: loader workers, pinned memory, non-blocking copies, and the precision
    (``fp32``: no autocast; ``bf16`` / ``fp16``: autocast to that type)."""

    device_type: str
    num_workers: int
    pin_memory: bool
    non_blocking: bool
    precision: str

    @property
    def mixed(self) -> bool:
        """True when the network runs under autocast."""
        return self.precision != "fp32"

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast type, or None in float32."""
        return _DTYPES.get(self.precision)

    @property
    def grad_scaler(self) -> bool:
        """Training needs a GradScaler: float16's range is too small for small gradients."""
        return self.precision == "fp16"


def choose_policy(info: DeviceInfo, precision: str = "auto", max_workers: int = MAX_WORKERS) -> Policy:
    """The policy for a device described by `info` (pure: no hardware is queried)."""
    from .errors import CourseLibError

    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise CourseLibError(f"precision {precision!r} is not one of {PRECISIONS} (COURSE_PRECISION).")
    cuda = info.type == "cuda"
    if precision == "auto":
        precision = ("bf16" if info.bf16 else "fp16") if cuda else "fp32"
    workers = max(0, min(int(max_workers), int(info.cores))) if cuda else 0
    return Policy(info.type, workers, pin_memory=cuda, non_blocking=cuda, precision=precision)


def describe(device: str | torch.device) -> DeviceInfo:
    """The :class:`DeviceInfo` of a real device (bfloat16 counts as native from CUDA compute capability 8.0: a
    T4, 7.5, only emulates it, slower than float16)."""
    from .env import cpu_cores

    device = torch.device(device)
    bf16 = device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8
    return DeviceInfo(device.type, cpu_cores(), bf16)


def policy(device: str | torch.device) -> Policy:
    """The policy for `device` on this machine, with ``COURSE_PRECISION`` applied."""
    return choose_policy(describe(device), os.environ.get("COURSE_PRECISION", "auto"))


def precision_key(device: str | torch.device) -> dict:
    """What a cache key or checkpoint fingerprint adds for the precision: nothing in float32 (keys made before mixed
    precision existed stay valid), ``{"precision": "fp16"}`` or ``bf16`` otherwise, so the two never mix."""
    p = policy(device)
    return {"precision": p.precision} if p.mixed else {}


def seed_worker(worker_id: int) -> None:
    """Seed NumPy and ``random`` in a loader worker from the seed torch gave it (torch seeds only itself)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader(dataset, batch_size: int, device: str | torch.device, *, shuffle: bool = False, generator=None,
           drop_last: bool = False, persistent: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader for `device` by its policy (CPU: exactly ``DataLoader(..., num_workers=0)``). No more workers
    than batches; `persistent` keeps them alive between epochs."""
    p = policy(device)
    batches = max(1, -(-len(dataset) // int(batch_size)))
    workers = min(p.num_workers, batches)
    extra = dict(pin_memory=True) if p.pin_memory else {}
    if workers:
        extra.update(worker_init_fn=seed_worker, persistent_workers=persistent)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                       num_workers=workers, drop_last=drop_last, **extra)


def to_device(x: torch.Tensor, device: str | torch.device, memory_format=torch.contiguous_format) -> torch.Tensor:
    """`x` on `device` in `memory_format`, copied without blocking where the policy pins memory."""
    return x.to(device, memory_format=memory_format, non_blocking=policy(device).non_blocking)


def autocast(device: str | torch.device, enabled: bool = True):
    """A context manager: ``torch.autocast`` at the policy's type when it is mixed (and `enabled`), else nothing."""
    p = policy(device)
    if not (enabled and p.mixed):
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=p.dtype)


def grad_scaler(device: str | torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler when the policy trains in float16, else None (plain ``loss.backward(); optimizer.step()``)."""
    return torch.amp.GradScaler(torch.device(device).type) if policy(device).grad_scaler else None
