"""Content digests for cache keys: what a cache must key on so that changed inputs never hit an old entry.

The features cache, ``fine_tune``'s checkpoint fingerprint and lab 02's run cache all key on the weights
themselves (:func:`weights_digest`), computed when the key is needed, never on a label stuck on the module: two
random initialisations, or weights changed in place by a fine-tune, get different keys. Hashing every tensor's
bytes with BLAKE2b costs 27-28 ms of CPU time for EfficientNet-Lite0 (18.8 MB of weights and buffers) and about
125 ms for ResNet-50 (102 MB); on a 2-core machine at load average 8, 80 and 390 ms of wall time. That is less
than one batch of extraction or one training step of either model.
"""
from __future__ import annotations

import hashlib
import importlib
from typing import Iterable, Mapping

import torch
from torch import nn

# Libraries whose version can change the numbers a cache holds (distribution name: module): kernels (torch), model
# code and transforms (timm, torchvision), image decoding (Pillow), array maths (NumPy), probes (scikit-learn).
LIBRARY_MODULES = {"torch": "torch", "torchvision": "torchvision", "timm": "timm", "numpy": "numpy", "pillow": "PIL",
                   "scikit-learn": "sklearn"}
FEATURE_LIBRARIES = ("torch", "torchvision", "timm", "numpy", "pillow")
TRAINING_LIBRARIES = (*FEATURE_LIBRARIES, "scikit-learn")


def weights_digest(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """BLAKE2b hex digest of a model's state_dict (parameters and buffers such as BatchNorm running statistics).

    Each entry contributes its name, dtype, shape and bytes in the standard (contiguous) layout, so the digest is
    the same for a model in channels_last or on another device, and changes when any value changes.
    """
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    h = hashlib.blake2b(digest_size=20)
    for name, tensor in state.items():
        t = tensor.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)};".encode())
        flat = t.to("cpu").contiguous().reshape(-1)
        if flat.numel():
            h.update(flat.view(torch.uint8).numpy())  # the raw bytes, whatever the dtype (float, int, bool, bf16)
    return h.hexdigest()


def library_versions(names: Iterable[str] = FEATURE_LIBRARIES) -> dict[str, str | None]:
    """``__version__`` of each library in `names` as this process runs it (None when it is not installed).

    The imported module's own version, not the installed package's metadata: after a ``pip install -U`` in a live
    kernel the old code still runs, and the old code is what made the numbers.
    """
    out = {}
    for name in names:
        try:
            module = importlib.import_module(LIBRARY_MODULES.get(name, name))
        except ImportError:
            out[name] = None
        else:
            out[name] = str(getattr(module, "__version__", None))
    return out


def source_digest(*modules) -> str:
    """SHA-256 of the source files of `modules`, for cache keys that must change when the kit's code changes.

    A package counts by every ``.py`` file below its folder (sorted by path), so splitting a module into a package
    or editing any of its parts changes the digest; a plain module counts by its one file.
    """
    from pathlib import Path

    code = hashlib.sha256()
    for module in modules:
        path = Path(module.__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            code.update(file.relative_to(path.parent).as_posix().encode())
            code.update(file.read_bytes())
    return code.hexdigest()
