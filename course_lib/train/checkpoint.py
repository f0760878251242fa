"""Fine-tuning checkpoints: the run's fingerprint, the training data's identity, atomic saving, loading, RNG state.

A checkpoint is a dict (``format`` :data:`CHECKPOINT_FORMAT`, ``fingerprint``, ``settings``, ``epoch``, ``model``,
``optimizer``, ``scheduler``, ``history``, ``rng``) written with ``torch.save`` through a temporary file and a
rename; it is resumed only by a run with the same fingerprint.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_write
from .._digest import weights_digest
from ..errors import CourseLibError

CHECKPOINT_FORMAT = "course_lib.train/1"


def fingerprint(model: nn.Module, settings: dict) -> tuple[str, dict]:
    """What a checkpoint must agree on to be resumed: architecture, starting weights, trainable set, settings.

    The starting weights enter by their content (every parameter and buffer, ``_digest.weights_digest``), not
    by the label ``course_weights``: a second phase that starts from the first phase's weights (LP-FT by hand), or
    another random initialisation, is a different run and never resumes the first one's checkpoint.
    """
    shapes = [(n, list(p.shape), p.requires_grad) for n, p in model.named_parameters()]
    full = {**settings, "model": getattr(model, "course_name", type(model).__name__),
            "class": type(model).__qualname__, "weights": getattr(model, "course_weights", None),
            "start_weights": weights_digest(model)[:16],
            "parameters": hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16]}
    return hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest(), full


def data_identity(data) -> str:
    """What the training data is, for the checkpoint fingerprint: two subsets of the same size must not collide."""
    h = hashlib.sha256()
    table = getattr(data, "table", None)
    if table is not None and hasattr(table, "paths"):  # an ImageDataset: files, labels and transform
        h.update(json.dumps([[str(p) for p in table.paths], [int(y) for y in table.labels]]).encode())
        h.update(repr(getattr(data, "transform", None)).encode())
    elif isinstance(data, torch.utils.data.TensorDataset):
        for t in data.tensors:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(data, torch.utils.data.Subset):
        h.update(data_identity(data.dataset).encode())
        h.update(json.dumps([int(i) for i in data.indices]).encode())
    else:  # unknown kind: hash every label and the first sample (cheap, and different data almost surely differ)
        h.update(repr(type(data)).encode())
        h.update(repr([data[i][1] for i in range(len(data))]).encode())
        first = data[0][0]
        h.update(first.numpy().tobytes() if isinstance(first, torch.Tensor) else repr(first).encode())
    return h.hexdigest()[:16]


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save through a temporary file and a rename: a crash never leaves a half-written checkpoint."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint written by :func:`fine_tune`, or a CourseLibError that says what to do (never a pickle trace)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, foreign pickle
        raise CourseLibError(f"checkpoint {path} cannot be read ({type(e).__name__}): it is truncated or corrupt. "
                             "Delete the file, or pass resume=False to start over and overwrite it.") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CourseLibError(f"{path} is not a course_lib training checkpoint. Delete it or choose another path, "
                             "or pass resume=False to overwrite it.")
    return state


def rng_states(generator: torch.Generator) -> dict:
    """Every random state a run draws from (torch, the loader's generator, Python, NumPy, CUDA), storable."""
    np_state = np.random.get_state(legacy=False)
    states = {"torch": torch.get_rng_state(), "generator": generator.get_state(), "python": random.getstate(),
              "numpy": {**np_state, "state": {"key": np_state["state"]["key"].tolist(), "pos": np_state["state"]["pos"]}}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict, generator: torch.Generator) -> None:
    """Set every random state back to what :func:`rng_states` stored."""
    torch.set_rng_state(states["torch"])
    generator.set_state(states["generator"])
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = states["numpy"]
    np.random.set_state({**np_state, "state": {"key": np.asarray(np_state["state"]["key"], dtype=np.uint32),
                                               "pos": np_state["state"]["pos"]}})
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
