"""Where things live and what this machine can do: settings, device, threads, seeding, Colab, offline.

Every setting is an environment variable with a sane default, so notebooks, tests and CI agree:

- ``COURSE_DATA_DIR``: folder holding the data sets (CI points it at ``../shared/datasets``).
- ``COURSE_DATA_URL``: a folder address serving the course data archives (a classroom mirror); unset, they come
  from the kit's GitHub release (``course_lib.datapacks``).
- ``COURSE_CACHE_DIR``: feature caches and checkpoints.
- ``COURSE_OUTPUT_DIR``: what the labs write (``results/``, ``figures/``, student copies, slides): the checkout's
  ``build/`` when the kit runs from a checkout, else ``./build`` under the working folder. A pip-installed kit
  (Colab) never writes into site-packages.
- ``COURSE_PROFILE``: ``fast`` (CI, 2 CPU cores) or ``full`` (class, a Colab GPU); unset, a lab's ``auto``
  profile is ``full`` on a CUDA GPU and ``fast`` on a CPU.
- ``COURSE_OFFLINE``: ``1`` forbids downloads, ``0`` allows them; unset means "probe the network once".
- ``COURSE_THREADS``: pin torch's CPU thread count in every lab (``machine.guard``); unset or ``0``, the guard
  times one thread against every core and keeps the faster. Sums split across threads round differently, so a seed
  gives the same numbers bit for bit only at the same thread count: tests and ``docs/CLAIMS.md`` use ``1``.

Hub caches stay the libraries' own (``TORCH_HOME``, ``HF_HOME``).
"""
from __future__ import annotations

import functools
import os
import random
import socket
import sys
from pathlib import Path

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("fast", "full")


def kit_checkout() -> Path | None:
    """The repository folder when course_lib runs from a checkout (editable install or ``sys.path``), else None.

    A checkout has the kit's ``pyproject.toml`` and ``notebooks/`` beside ``course_lib/``; a wheel installed into
    site-packages has neither, and nothing may be written there."""
    root = PROJECT_ROOT
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def _setting_or_kit_folder(variable: str, folder: str) -> Path:
    """``$variable`` if set, else `folder` in the checkout, else `folder` under the working folder (a pip-installed
    kit must not write into site-packages)."""
    value = os.environ.get(variable)
    if value:
        return Path(value).expanduser().resolve()
    root = kit_checkout()
    return (root if root is not None else Path.cwd().resolve()) / folder


def output_dir() -> Path:
    """The folder for what labs and tools write: ``$COURSE_OUTPUT_DIR``, else ``<checkout>/build``, else ``./build``."""
    return _setting_or_kit_folder("COURSE_OUTPUT_DIR", "build")


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course-kit"


def data_dir() -> Path:
    """The data folder: ``$COURSE_DATA_DIR``, else the checkout's ``datasets/`` (where ``fetch`` unpacks), else
    ``./datasets`` under the working folder for a pip-installed kit."""
    return _setting_or_kit_folder("COURSE_DATA_DIR", "datasets")


def cache_dir() -> Path:
    """The cache folder for features and checkpoints: ``$COURSE_CACHE_DIR``, else ``~/.cache/course-kit``."""
    value = os.environ.get("COURSE_CACHE_DIR")
    path = Path(value).expanduser().resolve() if value else _user_cache()
    path.mkdir(parents=True, exist_ok=True)
    return path


def profile(value: str = "auto") -> str:
    """The profile a lab runs: `value` when it is ``fast`` or ``full``; for ``auto`` (the labs' default),
    ``$COURSE_PROFILE`` when set, else ``full`` on a CUDA GPU (Colab, a lab server) and ``fast`` on a CPU.

    A lab's parameters cell says ``profile = "auto"`` and its next cell calls ``env.profile(profile)``, so papermill,
    the environment and the hardware can each choose without anyone editing the notebook."""
    from .errors import CourseLibError

    value = (value or "auto").strip().lower()
    if value == "auto":
        value = os.environ.get("COURSE_PROFILE", "").strip().lower() or ("full" if torch.cuda.is_available() else "fast")
        if value not in PROFILES:
            raise CourseLibError(f"COURSE_PROFILE={value!r} is not one of {PROFILES}; unset it or pick one.")
    if value not in PROFILES:
        raise CourseLibError(f"profile {value!r} is not one of {('auto', *PROFILES)}.")
    return value


def in_colab() -> bool:
    """True inside Google Colab (its kernel module is importable there and nowhere else)."""
    return "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG") is not None


@functools.lru_cache(maxsize=1)
def _network_reachable(host: str = "download.pytorch.org", port: int = 443, timeout: float = 1.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_offline() -> bool:
    """True when downloads must not be tried: ``COURSE_OFFLINE=1``, the hubs' own offline flags, or no network."""
    flag = os.environ.get("COURSE_OFFLINE")
    if flag is not None and flag.strip() != "":
        return flag.strip().lower() not in ("0", "false", "no")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return True
    return not _network_reachable()


def pick_device(prefer: str | None = None) -> torch.device:
    """The fastest device present (CUDA, then Apple's MPS, then CPU), or `prefer` if it is available.

    Every lab also runs on 2 CPU cores; a GPU only makes the ``full`` profile quicker.
    """
    if prefer:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            from .errors import CourseLibError

            raise CourseLibError("device 'cuda' asked for, but no CUDA GPU is visible; use pick_device() for the best present.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pinned_threads() -> int:
    """``$COURSE_THREADS`` as a thread count, 0 when unset (the labs' guard then chooses by timing)."""
    value = os.environ.get("COURSE_THREADS", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise ValueError(f"COURSE_THREADS must be a whole number of threads (or 0 to let the labs choose), got "
                         f"{value!r}")
    return int(value)


def set_threads(n: int | None = None) -> int:
    """Use `n` CPU threads for torch (default: every core this process may use). Returns the number set."""
    if n is None:
        n = cpu_cores()
    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


def one_blas_thread():
    """Run NumPy/SciPy linear algebra on one BLAS thread (a context manager; also works as a plain call).

    The kit's probes and transferability scores are small problems. On a 2-core machine shared with other jobs,
    OpenBLAS's spinning threads made them many times slower (measured: a 244 x 1280 SVD 10 s instead of 0.07 s; a
    5-fold EuroSAT probe 75 s instead of 12 s); on an idle machine one thread costs next to nothing.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def seed_everything(seed: int = 0, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch, so a seed gives the same splits and, on CPU, the same numbers.

    With ``deterministic=True`` torch is asked for deterministic kernels where it has them
    (``warn_only``: a GPU op without one warns instead of failing a lab).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def allocator_tuned() -> bool:
    """Whether glibc's mmap threshold is raised (large tensors page-fault without it: about 3x slower here)."""
    return int(os.environ.get("MALLOC_MMAP_THRESHOLD_", "0") or 0) >= 2**30


def release_memory() -> bool:
    """Hand freed heap pages back to the system (glibc's ``malloc_trim``), after a large temporary allocation.

    With the tuned allocator (see :func:`allocator_tuned`) glibc never returns freed memory by itself, so a lab's
    resident size only grows: timing 14 models at batch 32 left lab 03 holding 5.4 GiB, most of it free. Call this
    between measurements, never inside a timed loop (the next allocation touches fresh pages). True if it trimmed;
    False where there is no glibc (macOS, Windows, musl), which is harmless.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


HEADLESS_RUNNERS = ("papermill", "nbconvert", "nbclient", "pytest", "nbval", "py.test")


def _parent_command() -> str:
    """The command line of the process that started this one (a kernel's: the server, papermill, nbconvert, pytest),
    read from /proc where there is one; empty elsewhere."""
    try:
        return Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def has_widget_frontend() -> bool:
    """True in a live Jupyter/Colab front end that can show ipywidgets; False under papermill, nbconvert, nbval,
    pytest and plain scripts, where a widget would be stored as state nobody sees (``COURSE_NO_WIDGETS=1`` forces
    False, ``COURSE_NO_WIDGETS=0`` True). A headless runner is recognised from the environment it sets or from the
    command line of the process that started the kernel."""
    flag = os.environ.get("COURSE_NO_WIDGETS", "").strip().lower()
    if flag:
        return flag in ("0", "false", "no")
    if "papermill" in sys.modules or "PAPERMILL_INPUT_PATH" in os.environ or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if in_colab():
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or shell.__class__.__name__ not in ("ZMQInteractiveShell", "Shell"):
        return False
    parent = _parent_command().lower()
    return not any(runner in parent for runner in HEADLESS_RUNNERS)