"""Top-activating patches: for a few channels of each stage, the input patches that excite them most over a set of
images, cropped under each position's receptive field, and a grid of them (what "edges -> parts -> objects" means).

A stage's output position (y, x) depends only on a square of input pixels, its *receptive field*: rows
``stride * y + offset`` to ``stride * y + offset + size - 1`` (the same for columns), where `stride` is how many
input pixels separate neighbouring positions and `offset` is negative when the field starts in the padding.
:func:`receptive_fields` measures `size`, `stride` and `offset` empirically (which input rows carry a gradient to one
position of the stage), so it needs no table of kernels and paddings; :func:`field_box` clips a field to the image.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data, models
from ..errors import CourseLibError
from ..models.stages import capture_outputs
from .maps import input_image

PATCH_COLUMNS = ["stage", "unit", "rank", "image", "y", "x", "top", "left", "bottom", "right", "activation",
                 "rf_size", "stride", "patch"]


def receptive_fields(model: nn.Module, stages: Sequence[str], input_size: int = 224, width: int = 32,
                     draws: int = 2, max_length: int = 4096) -> dict[str, dict[str, int]]:
    """For each stage, ``{"size", "stride", "offset"}`` of its receptive field in input pixels, measured on random
    inputs.

    A tall, narrow random input (`width` columns, so it is cheap) goes through the network; the input rows that get
    a gradient from the middle row of a stage's output are its receptive field. The input is made taller (a
    multiple of `input_size`, so every layer pads the same way) until every stage's field lies inside it. Rows and
    columns are assumed alike (square kernels, equal strides). Union over `draws` random images, so that a unit
    that is silent for one input does not shrink the field.
    """
    fields: dict[str, dict[str, int]] = {}
    was_training = model.training
    model.eval()
    try:
        length = input_size
        while len(fields) < len(stages):
            todo = [s for s in stages if s not in fields]
            x = torch.randn(draws, 3, length, width, requires_grad=True)
            with capture_outputs(model, todo) as out:
                model(x)
            for stage in todo:
                h = out[stage].shape[-2]
                (grad,) = torch.autograd.grad(out[stage][:, :, h // 2].sum(), x, retain_graph=True)
                rows = torch.nonzero(grad.abs().sum(dim=(0, 1, 3))).flatten()
                lo, hi = int(rows.min()), int(rows.max())
                if (lo > 0 and hi < length - 1) or 2 * length > max_length:
                    stride = length // h
                    fields[stage] = {"size": hi - lo + 1, "stride": stride, "offset": lo - stride * (h // 2)}
            length *= 2
    finally:
        model.train(was_training)
    return fields


def receptive_field(model: nn.Module, stage: str, input_size: int = 224, **kwargs) -> dict[str, int]:
    """``{"size", "stride", "offset"}`` of one stage's receptive field (:func:`receptive_fields`): position ``y``
    sees input rows ``stride * y + offset`` to ``stride * y + offset + size - 1``, and the same columns."""
    return receptive_fields(model, [stage], input_size, **kwargs)[stage]


def field_box(y: int, x: int, field: dict[str, int], height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of position (y, x)'s receptive field, clipped to a `height` x `width` input;
    bottom and right are exclusive (``image[top:bottom, left:right]``)."""
    size, stride, offset = field["size"], field["stride"], field["offset"]
    top, left = stride * y + offset, stride * x + offset
    return max(top, 0), max(left, 0), min(top + size, height), min(left + size, width)


def choose_units(maps: torch.Tensor, n: int, how: str = "mean") -> list[int]:
    """`n` channels of a stage's maps ``(images, channels, h, w)``.

    - ``"mean"``: the highest mean activation over images and positions (the units busiest on these images);
    - ``"peak"``: the highest mean over images of each image's strongest position (units that fire hard somewhere);
    - ``"spread"``: channels evenly spaced through the ranking by mean activation, from the busiest to the quietest.
    """
    mean = maps.float().mean(dim=(0, 2, 3))
    if how == "mean":
        order = torch.argsort(mean, descending=True)[:n]
    elif how == "peak":
        order = torch.argsort(maps.float().amax(dim=(2, 3)).mean(dim=0), descending=True)[:n]
    elif how == "spread":
        ranked = torch.argsort(mean, descending=True)
        order = ranked[np.linspace(0, len(ranked) - 1, n).round().astype(int)]
    else:
        raise CourseLibError(f"how={how!r}: choose units by 'mean', 'peak' or 'spread'.")
    return [int(c) for c in order]


def _batch(images, transform) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images.float()
    paths = images.paths if isinstance(images, data.ImageTable) else list(images)
    if transform is None:
        raise CourseLibError("give the transform that turns these images into the network's input.")
    return torch.stack([transform(data.open_image(p)) for p in paths])


def top_patches(model: nn.Module, images, stages: Sequence[str], units_per_stage: int = 3, k: int = 4, *,
                transform=None, how: str = "mean") -> pd.DataFrame:
    """For `units_per_stage` channels of each stage (chosen by :func:`choose_units` with `how`), the `k` images
    where the channel fires hardest, and the input patch under its strongest position there.

    `images`: an ``ImageTable``, a list of paths (both need `transform`) or an input batch ``(N, 3, H, W)``. One
    patch per image: each image's strongest position counts, so one image cannot fill a row with near copies.
    Returns one row per (stage, unit, rank) with the image's index, the map position (y, x), the clipped
    receptive-field box in input pixels, the activation, the field's size and stride, and the patch as the
    network saw it (un-normalised with `transform`'s mean and std, ``H x W x 3`` in [0, 1]).
    """
    x = _batch(images, transform)
    model.eval()
    with torch.inference_mode(), capture_outputs(model, list(stages)) as out:
        model(x)
    shown = np.stack([input_image(x[i:i + 1], transform) for i in range(len(x))])
    fields = receptive_fields(model, stages, input_size=x.shape[-2])
    rows = []
    for stage in stages:
        maps, field = out[stage].float(), fields[stage]
        w = maps.shape[-1]
        for unit in choose_units(maps, units_per_stage, how):
            peak, where = maps[:, unit].flatten(1).max(dim=1)
            for rank, i in enumerate(torch.argsort(peak, descending=True)[:k].tolist()):
                y, xx = divmod(int(where[i]), w)
                box = field_box(y, xx, field, x.shape[-2], x.shape[-1])
                rows.append(dict(stage=stage, unit=unit, rank=rank, image=i, y=y, x=xx, top=box[0], left=box[1],
                                 bottom=box[2], right=box[3], activation=float(peak[i]), rf_size=field["size"],
                                 stride=field["stride"], patch=shown[i, box[0]:box[2], box[1]:box[3]]))
    return pd.DataFrame(rows, columns=PATCH_COLUMNS)


def patch_summary(patches: pd.DataFrame, labels=None) -> pd.DataFrame:
    """Per stage: the receptive field's size and stride (px), the mean side of the patches as cropped (fields are
    clipped at the image's border) and, with `labels` (one per image), the mean *class purity* of the units: the
    fraction of a unit's top images that share its most common class."""
    g = patches.assign(side=np.sqrt((patches["bottom"] - patches["top"]) * (patches["right"] - patches["left"])))
    out = g.groupby("stage", sort=False).agg(rf_size=("rf_size", "first"), stride=("stride", "first"),
                                             mean_patch_px=("side", "mean"))
    if labels is not None:
        labels = np.asarray(labels)
        purity = g.groupby(["stage", "unit"], sort=False)["image"].agg(
            lambda idx: np.bincount(labels[idx.to_numpy()]).max() / len(idx))
        out["class_purity"] = purity.groupby(level=0, sort=False).mean()
    return out


def patch_record(patches: pd.DataFrame) -> dict:
    """The numbers of a :func:`top_patches` table for a results JSON: units per stage, k, and per stage the
    receptive field, stride, mean patch side (px) and the units shown, as plain Python values."""
    table = patch_summary(patches)
    stages = {}
    for stage, row in table.iterrows():
        units = patches.loc[patches["stage"] == stage, "unit"]
        stages[stage] = {"rf_size": int(row["rf_size"]), "stride": int(row["stride"]),
                         "mean_patch_px": round(float(row["mean_patch_px"]), 2),
                         "units": [int(u) for u in dict.fromkeys(units)]}
    return {"k": int(patches["rank"].max()) + 1, "units_per_stage": len(next(iter(stages.values()))["units"]),
            "stages": stages}


def _tile(patch: np.ndarray, px: int) -> np.ndarray:
    """A patch scaled to fit a `px` square (pixels kept sharp when enlarged a lot), centred on white."""
    from PIL import Image

    h, w = patch.shape[:2]
    scale = px / max(h, w)
    img = Image.fromarray((np.clip(patch, 0, 1) * 255).astype(np.uint8))
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                     Image.NEAREST if scale >= 3 else Image.BICUBIC)
    out = np.ones((px, px, 3))
    top, left = (px - img.height) // 2, (px - img.width) // 2
    out[top:top + img.height, left:left + img.width] = np.asarray(img) / 255.0
    return out


def plot_top_patches(patches: pd.DataFrame, tile_px: int = 64, title: str | None = None):
    """A grid: one row per stage, for each unit its top-k patches left to right (strongest first), each patch scaled
    to the same square (a patch cut at the image's border keeps its shape), with the stage's receptive field and
    stride in the row's label. One image per row, so it draws fast."""
    stages = list(dict.fromkeys(patches["stage"]))
    k = int(patches["rank"].max()) + 1
    units = {s: list(dict.fromkeys(patches.loc[patches["stage"] == s, "unit"])) for s in stages}
    n_units, gap = max(len(u) for u in units.values()), tile_px // 2
    width = n_units * (k * (tile_px + 2) + gap) - gap
    fig, axes = plt.subplots(len(stages), 1, figsize=(width / 80 + 1.4, len(stages) * (tile_px / 80 + 0.3) + 0.6),
                             squeeze=False)
    for ax, stage in zip(axes[:, 0], stages):
        sheet = np.ones((tile_px, width, 3))
        rows = patches[patches["stage"] == stage]
        for j, unit in enumerate(units[stage]):
            x0 = j * (k * (tile_px + 2) + gap)
            for one in rows[rows["unit"] == unit].itertuples():
                x = x0 + one.rank * (tile_px + 2)
                sheet[:, x:x + tile_px] = _tile(one.patch, tile_px)
            ax.text(x0, -3, f"unit {unit}", fontsize=7, va="bottom")
        first = rows.iloc[0]
        ax.imshow(sheet, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel(f"{stage}\nfield {first.rf_size} px\nstride {first.stride}", rotation=0, ha="right",
                      va="center", fontsize=8)
    fig.suptitle(title or f"Top-{k} patches of {n_units} units per stage (input side at the top)", fontsize=10)
    fig.tight_layout()
    return fig
