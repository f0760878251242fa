"""Features of a frozen network for a list of images, computed once and cached on disk.

A linear probe, k-NN or a transferability score needs only the features, so computing them is the
expensive step: it runs once per (architecture, weights, transform, layers, image files, device and memory
format, library versions) and is then read back from ``$COURSE_CACHE_DIR/features`` in milliseconds. The
weights enter the key by their content (:func:`weights_digest`, computed at every call), so two random
initialisations, or weights changed in place by a fine-tune, never share an entry. Cache files are written to a
temporary name and renamed into place, so an interrupted run never leaves a half-written cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import accel, env
from ._atomic import atomic_write
from ._digest import FEATURE_LIBRARIES, library_versions, weights_digest
from .data import open_image
from .errors import CourseLibError

POOLED = "pooled"  # the head's input: timm's forward_head(pre_logits=True)


@dataclass
class Features:
    """Feature matrices per layer (``N x D`` float32) for `paths`, with labels if they were given."""

    layers: dict[str, np.ndarray]
    paths: list[str]
    labels: np.ndarray | None
    key: str
    from_cache: bool
    seconds: float
    meta: dict = field(default_factory=dict)

    @property
    def X(self) -> np.ndarray:
        """The single layer's matrix (the pooled features when several were extracted)."""
        if len(self.layers) == 1:
            return next(iter(self.layers.values()))
        if POOLED in self.layers:
            return self.layers[POOLED]
        raise CourseLibError(f"several layers were extracted ({list(self.layers)}); pick one: feats.layers[name].")

    def __len__(self) -> int:
        return len(self.paths)


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def _architecture_digest(model: nn.Module) -> str:
    """The module tree as printed (layer types, activations, strides, a truncated copy's missing blocks)."""
    return hashlib.blake2b(repr(model).encode(), digest_size=16).hexdigest()


def cache_key(model: nn.Module, transform, layers: Sequence[str], paths: Sequence[Path], extra: dict | None = None) -> str:
    """sha256 over everything that changes the numbers: architecture, the weights' content (every parameter and
    buffer, computed now: a label on the module is not trusted), transform, layers, image bytes, library versions.

    ``extra`` adds what else the caller knows matters; :func:`extract_features` adds the device type, the memory
    format (channels_last changes the float rounding by up to 1e-3) and, under mixed precision, the precision
    (``accel.precision_key``: float16 features never mix with float32 ones). The batch size is left out: on CPU it does
    not change a single bit of the pooled features (measured for Lite0, batches of 32, 8 and 3).
    """
    return _digest_payload(_key_payload(model, transform, layers, paths, extra))


def _key_payload(model: nn.Module, transform, layers: Sequence[str], paths: Sequence[Path], extra: dict | None) -> dict:
    return {
        "model": getattr(model, "course_name", type(model).__name__),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "architecture": _architecture_digest(model),
        "weights": weights_digest(model),
        "transform": repr(transform),
        "layers": list(layers),
        "files": [(Path(p).name, _file_digest(Path(p))) for p in paths],
        "versions": library_versions(FEATURE_LIBRARIES),
        "extra": extra or {},
    }


def _digest_payload(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cache_path(key: str, cache_dir: Path | None) -> Path:
    root = Path(cache_dir) if cache_dir else env.cache_dir() / "features"
    return root / key[:2] / f"{key}.npz"


def _save(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    with atomic_write(path) as f:
        np.savez(f, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 **{f"layer:{k}": v for k, v in arrays.items()})


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    try:
        with np.load(path) as z:
            meta = json.loads(z["__meta__"].tobytes().decode())
            layers = {k.split(":", 1)[1]: z[k] for k in z.files if k.startswith("layer:")}
        return layers, meta
    except Exception:  # a damaged cache file is recomputed, never trusted
        return None


def _default_transform(model: nn.Module, input_size: int | None):
    from .data import eval_transform

    return eval_transform(model, input_size=input_size)


def _image_paths(images, labels) -> tuple[list[Path], object]:
    """The image files of an ImageTable (its labels unless `labels` is given) or of a list of paths."""
    if hasattr(images, "paths"):
        labels = images.labels if labels is None else labels
        paths = [Path(p) for p in images.paths]
    else:
        paths = [Path(p) for p in images]
    if not paths:
        raise CourseLibError("no images to extract features from: the list is empty.")
    return paths, labels


def _checked_layers(model: nn.Module, layers: Sequence[str] | str) -> list[str]:
    """`layers` as a list, each of them "pooled" or one of the model's stages."""
    from .models import stage_names

    layers = [layers] if isinstance(layers, str) else list(layers)
    valid = [POOLED, *stage_names(model)]
    bad = [l for l in layers if l not in valid]
    if bad:
        raise CourseLibError(f"unknown layer(s) {bad}; choose from {valid}.")
    return layers


class _ImageFiles(torch.utils.data.Dataset):
    """The images at `paths` through `transform`, for a DataLoader (workers decode them on a GPU machine)."""

    def __init__(self, paths: list[Path], transform):
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(open_image(self.paths[i]))


def _forward_all(model: nn.Module, paths: list[Path], layers: list[str], transform, batch_size: int,
                 device: torch.device, channels_last: bool, progress: bool) -> dict[str, np.ndarray]:
    """Run `model` over the images batch by batch and collect each layer's vectors (float32, N x D).

    Loading, copying and precision follow ``accel.policy(device)``; under autocast the maps are cast to float32
    before they are pooled, so the cache always holds float32."""
    from tqdm.auto import tqdm

    from .models.core import head_name
    from .models.stages import capture_outputs, to_vectors

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    was_training = model.training
    model.eval().to(device, memory_format=fmt)
    hooks = [l for l in layers if l != POOLED]
    head = head_name(model)
    out: dict[str, list[np.ndarray]] = {l: [] for l in layers}
    batches = accel.loader(_ImageFiles(paths, transform), batch_size, device)
    try:
        with torch.inference_mode(), capture_outputs(model, hooks) as maps, capture_outputs(model, [head], pre=True) as pre:
            for batch in tqdm(batches, desc=f"features {getattr(model, 'course_name', '')}", disable=not progress,
                              unit="batch"):
                with accel.autocast(device):
                    model(accel.to_device(batch, device, fmt))
                for l in hooks:
                    out[l].append(to_vectors(maps[l].float()).cpu().numpy())
                if POOLED in out:
                    out[POOLED].append(pre[head].flatten(1).float().cpu().numpy())
    finally:
        model.train(was_training)
    return {l: np.concatenate(v).astype(np.float32) for l, v in out.items()}


def extract_features(model: nn.Module, images, labels=None, *, layers: Sequence[str] | str = POOLED,
                     transform=None, input_size: int | None = None, batch_size: int = 32,
                     channels_last: bool = True, device: str | torch.device | None = None,
                     cache: bool = True, cache_dir: str | os.PathLike | None = None,
                     progress: bool = True) -> Features:
    """Pooled and/or per-stage features of `model` for `images` (an ImageTable or a list of paths).

    ``layers``: ``"pooled"`` (the head's input) and/or stage names from ``models.stage_names(model)``; stage maps
    are averaged over space. ``transform`` defaults to the model's own eval transform (at ``input_size`` px if given).
    The model is left on `device`, in the memory format used (``channels_last``: 1.3-1.7x faster on CPU).
    """
    paths, labels = _image_paths(images, labels)
    layers = _checked_layers(model, layers)
    transform = transform or _default_transform(model, input_size)
    labels = None if labels is None else np.asarray(labels)

    device = torch.device(device) if device else env.pick_device()
    start = time.perf_counter()
    payload = _key_payload(model, transform, layers, paths, {"device": device.type, "channels_last": bool(channels_last),
                                                             **accel.precision_key(device)})
    key = _digest_payload(payload)
    path = _cache_path(key, Path(cache_dir) if cache_dir else None)
    if cache and path.exists():
        loaded = _load(path)
        if loaded is not None:
            arrays, meta = loaded
            return Features(arrays, [str(p) for p in paths], labels, key, True, time.perf_counter() - start, meta)

    arrays = _forward_all(model, paths, layers, transform, batch_size, device, channels_last, progress)
    meta = {"model": getattr(model, "course_name", type(model).__name__), "weights": getattr(model, "course_weights", None),
            "weights_digest": payload["weights"], "transform": repr(transform), "n": len(paths), "seconds": round(time.perf_counter() - start, 3)}
    if cache:
        _save(path, arrays, meta)
    return Features(arrays, [str(p) for p in paths], labels, key, False, time.perf_counter() - start, meta)


def clear_cache(cache_dir: str | os.PathLike | None = None) -> int:
    """Delete cached feature files; returns how many were removed."""
    root = Path(cache_dir) if cache_dir else env.cache_dir() / "features"
    removed = 0
    for f in root.rglob("*.npz"):
        f.unlink()
        removed += 1
    return removed


def raw_pixels(table, size: int = 16) -> np.ndarray:
    """Every image squashed to `size` x `size` RGB, values in [0, 1], flattened: ``N x 3*size*size`` float32.

    The reference a learned feature must beat: a linear model on raw pixels sees colour, brightness and layout. When
    it does not lose (lab 03's X-ray sample), the task has a shortcut.
    """
    from PIL import Image

    if size < 1:
        raise CourseLibError(f"size must be a positive number of pixels, got {size}.")
    return np.stack([np.asarray(open_image(p).resize((size, size), Image.BILINEAR), dtype=np.float32).reshape(-1)
                     / 255.0 for p in table.paths])
