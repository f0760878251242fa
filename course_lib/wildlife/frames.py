"""Camera-trap frames: boxes (parse, format, crop, draw), frame grids, what the frames hold, the long tail."""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import data
from ..errors import DataError

EMPTY = "empty"


# --------------------------------------------------------------------------- boxes
def parse_boxes(text) -> np.ndarray:
    """Boxes written as ``"x y w h; x y w h"`` (normalised to [0, 1]) as a ``k x 4`` float array; blank: ``0 x 4``."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA or not str(text).strip():
        return np.zeros((0, 4))
    boxes = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        try:
            values = [float(v) for v in part.replace(",", " ").split()]
        except ValueError:
            raise DataError(f"box {part.strip()!r} is not four numbers 'x y w h'.") from None
        if len(values) != 4:
            raise DataError(f"box {part.strip()!r} has {len(values)} numbers; write 'x y w h', boxes separated by ';'.")
        x, y, w, h = values
        if w <= 0 or h <= 0 or x < -1e-6 or y < -1e-6 or x + w > 1 + 1e-3 or y + h > 1 + 1e-3:
            raise DataError(f"box {part.strip()!r} is not inside the image: normalised x y w h must satisfy "
                            "0 <= x, 0 <= y, w > 0, h > 0, x + w <= 1, y + h <= 1 (absolute pixels? divide by the "
                            "image width and height).")
        boxes.append(values)
    return np.array(boxes, dtype=float).reshape(-1, 4)


def format_boxes(boxes: np.ndarray) -> str:
    """The inverse of :func:`parse_boxes` (4 decimals, as in labels.csv)."""
    return ";".join(" ".join(f"{v:.4f}" for v in b) for b in np.asarray(boxes).reshape(-1, 4))


def table_boxes(table: data.ImageTable) -> list[np.ndarray]:
    """The ground-truth boxes of every image of `table` (``0 x 4`` where none were drawn)."""
    column = table.frame.get("bbox_xywh_norm", pd.Series([""] * len(table)))
    return [parse_boxes(v) for v in column]


def to_pixels(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised ``x y w h`` box as integer pixel corners ``(x0, y0, x1, y1)`` inside a width x height image."""
    x, y, w, h = box
    x0, y0 = max(0, int(round(x * width))), max(0, int(round(y * height)))
    x1, y1 = min(width, int(round((x + w) * width))), min(height, int(round((y + h) * height)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def crop_box(image: Image.Image, box: Sequence[float], pad: float = 0.15, square: bool = True) -> Image.Image:
    """The animal in `box` with some context: the box grown by `pad` of its size on each side and, with `square`,
    widened to a square (classifiers read square inputs; a stretched animal is a different animal), clipped to the
    image. This is how detector crops are prepared for a species classifier."""
    width, height = image.size
    x, y, w, h = (float(v) for v in box)
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    bw, bh = w * width * (1 + 2 * pad), h * height * (1 + 2 * pad)
    if square:
        bw = bh = max(bw, bh)
    x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
    x1, y1 = min(float(width), cx + bw / 2), min(float(height), cy + bh / 2)
    return image.crop((int(x0), int(y0), max(int(round(x1)), int(x0) + 1), max(int(round(y1)), int(y0) + 1)))


def draw_boxes(ax, image: Image.Image, boxes: np.ndarray, labels: Sequence[str] | None = None,
               color: str = "#ffcc00") -> None:
    """Show `image` on `ax` with its normalised boxes drawn (and a label on each)."""
    from matplotlib.patches import Rectangle

    ax.imshow(image)
    width, height = image.size
    for i, (x, y, w, h) in enumerate(np.asarray(boxes).reshape(-1, 4)):
        ax.add_patch(Rectangle((x * width, y * height), w * width, h * height, fill=False, lw=2, color=color))
        if labels is not None and i < len(labels):
            ax.text(x * width, y * height, labels[i], color="black", fontsize=7, va="bottom",
                    bbox=dict(facecolor=color, alpha=0.8, pad=1, lw=0))
    ax.axis("off")


def show_frames(table: data.ImageTable, indices: Sequence[int], ncols: int = 4, size: float = 2.8,
                suptitle: str | None = None):
    """A grid of frames with their ground-truth boxes drawn; captions give species, count and source."""
    import matplotlib.pyplot as plt

    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    nrows = max(1, -(-len(indices) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        species = table.classes[table.labels[i]]
        draw_boxes(ax, data.open_image(table.paths[i]), boxes[i], [species] * len(boxes[i]))
        n = counts.iloc[i]
        source = str(table.frame["source_dataset"].iloc[i]).split(" (")[0][:30] if "source_dataset" in table.frame else ""
        ax.set_title(f"{species} (count {'?' if pd.isna(n) else int(n)})\n{source}", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- what the frames hold
def frame_kinds(table: data.ImageTable) -> pd.Series:
    """Per image: 'empty', 'one animal', 'several animals' or 'animal, count unknown' (from count, boxes, notes)."""
    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    notes = table.frame.get("notes", pd.Series([""] * len(table))).fillna("").astype(str)
    kinds = []
    for i in range(len(table)):
        species, n = table.classes[table.labels[i]], counts.iloc[i]
        n = len(boxes[i]) if pd.isna(n) and len(boxes[i]) else n
        if species == EMPTY:
            kinds.append("empty")
        elif not pd.isna(n):
            kinds.append("several animals" if int(n) > 1 else "one animal")
        elif re.search(r"several|herd|more than one", notes.iloc[i], re.I):
            kinds.append("several animals")
        else:
            kinds.append("animal, count unknown")
    return pd.Series(kinds, name="kind")


def long_tail(table: data.ImageTable) -> dict:
    """The long tail in numbers: images, classes, the largest class and its share, the share of the 5 largest,
    classes with 1 and with at most 2 images, and the ratio of the largest to the smallest class."""
    counts = table.class_counts().sort_values(ascending=False)
    counts = counts[counts > 0]
    n = int(counts.sum())
    return {"n_images": n, "n_classes": int(len(counts)), "largest_class": str(counts.index[0]),
            "largest_count": int(counts.iloc[0]), "largest_share": float(counts.iloc[0] / n),
            "top5_share": float(counts.iloc[:5].sum() / n), "singletons": int((counts == 1).sum()),
            "at_most_2": int((counts <= 2).sum()), "imbalance_ratio": float(counts.iloc[0] / counts.iloc[-1])}

