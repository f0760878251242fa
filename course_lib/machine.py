"""The guard every lab calls first: how busy this machine is, and the thread counts that run fastest on it now.

A lab's timings and its run time depend on the machine as it is while the lab runs. On the course's 2-core
machines another job made torch's two threads wait for each other at every layer (2 threads measured 5-15x slower
than 1), turned lab 03's one-minute zoo timing into 14 minutes, and reversed latency rankings. The guard measures
instead of assuming: it reads the load average, times a few forward passes of the lab's model with one thread and
with every core, keeps the faster count, limits NumPy/SciPy's BLAS to one thread (the kit's probes are small
problems), and says plainly when the numbers that follow come from a loaded machine. Timings themselves are
repeated and reported with their spread by :mod:`course_lib.bench`; a ranking a loaded machine can reverse is a
verdict with an interval (see :mod:`course_lib.claims`), never a fixed sentence.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

from torch import nn

from . import env
from .bench import fastest_threads

# Busy: other processes used more than this many cores' worth of CPU while the guard watched (at least half a core,
# a quarter of the machine on larger ones): enough to slow a lab's timings visibly and reorder close ones.
BUSY_CORES_MIN, BUSY_SHARE = 0.5, 0.25


class BusyMachineWarning(UserWarning):
    """Other processes keep this machine's cores busy: timings will be slower and noisier than on an idle one."""


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat (Linux); None elsewhere."""
    try:
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)     # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def load_average(interval: float = 0.5) -> float | None:
    """How many cores' worth of CPU other processes use now: measured over `interval` seconds while this process
    sleeps (Linux, /proc/stat); elsewhere the 1-minute load average; None where the OS reports neither.

    The 1-minute load average alone lags: right after a lab's own heavy cell it still counts that work as load."""
    before = _cpu_times()
    if before is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    time.sleep(interval)
    after = _cpu_times()
    total = after[1] - before[1]
    return round(os.cpu_count() * (after[0] - before[0]) / total, 2) if total > 0 else 0.0


@dataclass
class MachineCheck:
    """What the guard found and set: cores, load, torch threads (and how each count timed), BLAS threads."""

    cores: int
    load: float | None
    threads: int
    seconds_per_batch: dict[str, float] = field(default_factory=dict)
    blas_threads: int | None = 1
    device: str = "cpu"

    @property
    def busy(self) -> bool:
        return self.load is not None and self.load > max(BUSY_CORES_MIN, BUSY_SHARE * self.cores)

    def to_dict(self) -> dict:
        return {"cores": self.cores, "load": self.load, "threads": self.threads, "busy": self.busy,
                "seconds_per_batch": dict(self.seconds_per_batch), "blas_threads": self.blas_threads,
                "device": self.device}

    def __str__(self) -> str:
        load = "load unknown" if self.load is None else f"other processes use {self.load:.1f} cores"
        timed = ", ".join(f"{n} thread{'s' if n != '1' else ''}: {s:.3f} s" for n, s in self.seconds_per_batch.items())
        text = f"{self.device}, {self.cores} cores, {load}; torch uses {self.threads} thread(s)"
        text += f" (a test batch took {timed})" if timed else ""
        if self.busy:
            text += ("\nBUSY: other jobs are using this machine. Timings below will be slower and noisier than on an "
                     "idle one; speed rankings are reported with their spread, and a close one is inconclusive.")
        return text


def limit_blas(threads: int | None = 1) -> None:
    """Run NumPy/SciPy BLAS on `threads` threads for the rest of the process (None: leave it as it is)."""
    if threads is None:
        return
    import scipy.optimize  # noqa: F401 - load SciPy's own BLAS now: threadpoolctl limits only loaded libraries
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def probe_model() -> nn.Module:
    """A small convolutional network (MobileNet-V3-Small, random weights) to time thread counts with when a lab has
    no model of its own yet: the same kind of work (convolutions) as the labs' models, built in a fraction of a second."""
    from torchvision.models import mobilenet_v3_small

    return mobilenet_v3_small(weights=None).eval()


def guard(model: nn.Module | None = None, input_size: int = 112, threads: int = 0, batch_size: int = 8,
          blas_threads: int | None = 1, quiet: bool = False) -> MachineCheck:
    """Check the machine and set the thread counts a lab runs with; print (unless `quiet`) and return the result.

    `threads` > 0 forces that many torch threads (a lab's ``threads`` parameter), and so does ``$COURSE_THREADS``
    (:func:`env.pinned_threads`: the same numbers whatever the load, as tests need); 0 times `model` (default: a
    small convolutional network, :func:`probe_model`) on a few batches at `input_size` with one thread and with every
    core, and keeps the faster. On a GPU the CPU thread count matters little and is left at every core. A busy
    machine also raises a :class:`BusyMachineWarning`, so the notice shows in the notebook's output.
    """
    device = env.pick_device()
    threads = threads or env.pinned_threads()
    check = MachineCheck(cores=env.cpu_cores(), load=load_average(), threads=0, blas_threads=blas_threads,
                         device=device.type)
    if threads > 0 or device.type != "cpu":
        check.threads = env.set_threads(threads or None)
    else:
        timed = fastest_threads(model if model is not None else probe_model(), input_size, batch_size)
        check.threads, check.seconds_per_batch = timed["threads"], timed["seconds_per_batch"]
    limit_blas(blas_threads)
    if not quiet:
        print(check)
    if check.busy:
        warnings.warn(f"other processes use {check.load:.1f} of {check.cores} cores: timings in this run come from a "
                      "busy machine.",
                      BusyMachineWarning, stacklevel=2)
    return check
