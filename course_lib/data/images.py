"""Images that always load: any file to upright 8-bit RGB (``open_image``), a scan for bad files, the DataLoader
dataset of an ImageTable, and the model's own eval/train transforms.

Everything that touches pixels at training time; ``folder.py`` reuses ``to_rgb8`` so a file its checks pass
loads later.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import CourseLibError, ImageLoadError
from .tables import ImageTable, preview


def to_rgb8(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha onto white; 16-bit/float scaled by their value range, never clipped."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.clip(a, 0, 255)
        return Image.fromarray(np.round(a).astype(np.uint8)).convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, ...


def open_image(path: str | os.PathLike) -> Image.Image:
    """The image at `path` as upright (EXIF orientation applied) 8-bit RGB, fully decoded.

    A missing, truncated or corrupt file raises ImageLoadError naming it, here and not deep inside a DataLoader.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"image file {path} does not exist; check the path, or fetch the data set again.")
    try:
        with Image.open(path) as im:
            im.load()  # decode now: truncated files fail here (LOAD_TRUNCATED_IMAGES is left alone)
            return to_rgb8(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageLoadError(f"cannot decode image {path} ({type(e).__name__}: {e}): the file is truncated or corrupt. "
                             "Delete it or re-download the data set.") from e


def scan_images(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, str]]:
    """(path, message) for every file open_image cannot load; an empty list means all are fine."""
    bad = []
    for p in paths:
        try:
            open_image(p)
        except ImageLoadError as e:
            bad.append((Path(p), str(e)))
    return bad


class ImageDataset(torch.utils.data.Dataset):
    """(tensor, label) pairs of an ImageTable for a DataLoader; `transform` defaults to a plain to-tensor.

    A bad file raises ImageLoadError when reached; ``skip_bad=True`` decodes all files once now and drops the
    bad ones with a warning naming them (``.skipped``).
    """

    def __init__(self, table: ImageTable, transform=None, skip_bad: bool = False):
        self.skipped: list[Path] = []
        if skip_bad and (bad := scan_images(table.paths)):
            self.skipped = [p for p, _ in bad]
            drop = {str(p) for p in self.skipped}
            table = table.subset([i for i, p in enumerate(table.paths) if str(p) not in drop])
            warnings.warn(f"skipped {len(bad)} unreadable image(s): {preview([str(p) for p in self.skipped], 20)}",
                          stacklevel=2)
        self.table, self.transform, self.classes = table, transform, table.classes

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        image = open_image(self.table.paths[i])
        if self.transform is None:
            from torchvision.transforms.functional import to_tensor

            return to_tensor(image), int(self.table.labels[i])
        return self.transform(image), int(self.table.labels[i])


# --------------------------------------------------------------------------- transforms
def data_config(model_or_cfg, input_size: int | tuple[int, int] | None = None) -> dict:
    """The preprocessing the weights were trained with (size, interpolation, mean/std, crop), as timm resolves it.

    Takes a model (its ``pretrained_cfg``) or a cfg dict; `input_size` (e.g. 160 in the fast profile) changes
    only the resolution.
    """
    import timm.data

    if isinstance(model_or_cfg, torch.nn.Module):
        cfg = timm.data.resolve_model_data_config(model_or_cfg)
    elif isinstance(model_or_cfg, Mapping) or hasattr(model_or_cfg, "to_dict"):
        raw = model_or_cfg.to_dict() if hasattr(model_or_cfg, "to_dict") else dict(model_or_cfg)
        cfg = timm.data.resolve_data_config(pretrained_cfg=raw)
    else:
        raise CourseLibError(f"data_config needs a model or a cfg dict, not {type(model_or_cfg).__name__}.")
    if input_size is not None:
        hw = (int(input_size),) * 2 if np.ndim(input_size) == 0 else tuple(int(s) for s in input_size)[-2:]
        cfg["input_size"] = (cfg["input_size"][0], *hw)
    return cfg


def eval_transform(model_or_cfg, input_size: int | tuple[int, int] | None = None):
    """Resize, centre crop and normalise exactly as the model's config says (timm create_transform)."""
    import timm.data

    return timm.data.create_transform(**data_config(model_or_cfg, input_size), is_training=False)


def train_transform(model_or_cfg, input_size: int | tuple[int, int] | None = None):
    """Light augmentation for small data (random resized crop scale 0.5-1, horizontal flip, mild colour jitter),
    with the model's mean/std and interpolation so train and eval inputs match."""
    import timm.data

    cfg = data_config(model_or_cfg, input_size)
    return timm.data.create_transform(
        input_size=cfg["input_size"], is_training=True, scale=(0.5, 1.0), hflip=0.5, vflip=0.0, color_jitter=0.1,
        auto_augment=None, re_prob=0.0, interpolation=cfg["interpolation"], mean=cfg["mean"], std=cfg["std"])
