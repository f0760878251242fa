"""Exact, fast input tensors: the one NumPy transform and the in-memory data sets that training loops read.

:class:`FastTransform` runs a timm/torchvision transform's to-tensor and normalise steps in NumPy (the PIL steps are
kept): the same numbers to float32 rounding, but on a busy 2-core machine torch's own ``ToTensor`` and ``Normalize``
woke its intra-op thread pool for every small image (measured 3-37 ms per 128-px image against well under 1 ms in
NumPy), which made data preparation slower than the training step it feeds. Its ``repr`` is the wrapped transform's,
so a feature or run cache keyed on the transform is shared with the plain transform that gives the same numbers.

Three data sets, one per way the labs hold images: :class:`ImagesInMemory` (decoded images, a random augmentation
applied at every read), :class:`TensorImages` (decoded and transformed once, optionally flipped at random, shared
between candidates that see the same images) and :class:`TensorSet` (tensors computed elsewhere). Each keeps
``table`` or ``classes`` so ``train.fine_tune`` can identify the data in its checkpoints.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import CourseLibError
from .images import open_image
from .tables import ImageTable


class FastTransform:
    """A transform ending in ``ToTensor`` (optionally then ``Normalize``) with those last steps done in NumPy."""

    def __init__(self, transform):
        if isinstance(transform, FastTransform):
            transform = transform.base
        steps = list(getattr(transform, "transforms", [transform]))
        names = [type(t).__name__ for t in steps]
        tensor_step = next((i for i, n in enumerate(names) if n in ("ToTensor", "MaybeToTensor")), None)
        if tensor_step is None:
            raise CourseLibError(f"FastTransform needs a transform ending in ToTensor + Normalize, got {names}.")
        rest = steps[tensor_step + 1:]
        norm = rest.pop(0) if rest and type(rest[0]).__name__ == "Normalize" else None
        if rest:
            raise CourseLibError(f"FastTransform cannot reproduce steps after Normalize: {names[tensor_step + 2:]}.")
        self.base, self.pil_steps = transform, steps[:tensor_step]
        mean, std = (norm.mean, norm.std) if norm is not None else (0.0, 1.0)
        self.mean = np.asarray(getattr(mean, "tolist", lambda: mean)(), dtype=np.float32).reshape(1, 1, -1)
        self.std = np.asarray(getattr(std, "tolist", lambda: std)(), dtype=np.float32).reshape(1, 1, -1)

    def __call__(self, image) -> torch.Tensor:
        for step in self.pil_steps:
            image = step(image)
        a = np.asarray(image, dtype=np.float32)
        if a.ndim == 2:
            a = a[:, :, None]
        a = (a / np.float32(255.0) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))

    def __repr__(self) -> str:  # part of cache keys: the same numbers as the wrapped transform
        return repr(self.base)


class ImagesInMemory(torch.utils.data.Dataset):
    """(tensor, label) for the rows of `table`, from its images decoded once and kept in memory, through `transform`
    (e.g. random augmentation). ``table`` names the files, so ``train.fine_tune`` identifies the data by it."""

    def __init__(self, table: ImageTable, images: Sequence, transform):
        if len(images) != len(table):
            raise CourseLibError(f"{len(images)} images for a table of {len(table)} rows.")
        self.table, self.images, self.transform, self.classes = table, list(images), transform, list(table.classes)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), int(self.table.labels[i])


class TensorSet(torch.utils.data.Dataset):
    """Pre-computed input tensors (validation images through the deterministic eval transform) and labels."""

    def __init__(self, X: torch.Tensor, y: np.ndarray, classes: Sequence[str]):
        self.X, self.y, self.classes = X, torch.as_tensor(np.asarray(y), dtype=torch.long), list(classes)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.X[i], self.y[i]


class FlipDescription:
    """Stands for the training transform in a data set's identity (checkpoint fingerprints read its repr)."""

    def __init__(self, base, flip: bool):
        self.base, self.flip = base, flip

    def __repr__(self) -> str:
        return repr(self.base) + (" + RandomHorizontalFlip(p=0.5)" if self.flip else "")


class TensorImages(torch.utils.data.Dataset):
    """(tensor, label) pairs of an ImageTable, decoded and transformed once, optionally flipped at random.

    Decoding happens on first use and is shared between instances with the same transform (``share``), so ten
    candidates fine-tuned on the same images decode them once.
    """

    def __init__(self, table: ImageTable, transform, flip: bool = False, share: dict | None = None):
        self.table, self.classes, self.flip = table, table.classes, flip
        self.fast = FastTransform(transform)
        self.transform = FlipDescription(self.fast, flip)
        self.share = share if share is not None else {}
        self.key = (repr(self.fast), tuple(str(p) for p in table.paths))

    def tensors(self) -> torch.Tensor:
        if self.key not in self.share:
            self.share[self.key] = torch.stack([self.fast(open_image(p)) for p in self.table.paths])
        return self.share[self.key]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        x = self.tensors()[i]
        if self.flip and torch.rand(1).item() < 0.5:
            x = x.flip(-1)
        return x, int(self.table.labels[i])
