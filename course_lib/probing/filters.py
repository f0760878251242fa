"""First-layer filters: the first convolution that reads the RGB image, its filters as colour tiles, numbers
about them, and a plot of them side by side."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from ..errors import CourseLibError


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first convolution that reads the RGB image (timm's ``conv_stem``, torchvision's first Conv2d)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3:
            return m
    raise CourseLibError(f"{type(model).__name__} has no Conv2d reading 3 input channels.")


def filter_tiles(model: nn.Module, zero: float = 1e-6) -> np.ndarray:
    """First-layer filters as RGB tiles ``(n, k, k, 3)`` in [0, 1]: grey (0.5) is a zero weight, each filter scaled
    by its own largest absolute weight, so brighter = positive and darker = negative for that colour. A filter whose
    weights are all below `zero` stays plain grey (its rounding noise is not blown up)."""
    w = first_conv(model).weight.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    scale = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    return np.where(scale > zero, 0.5 + 0.5 * w / np.maximum(scale, zero), 0.5)


def filter_stats(model: nn.Module, zero: float = 1e-6) -> dict:
    """Numbers about the first-layer filters.

    - ``colour_correlation``: mean correlation between a filter's R, G and B kernels (near 1: the same pattern in
      every colour, a light/dark detector; near 0: unrelated colour channels, as random weights have);
    - ``same_pattern_in_all_colours``: how many filters have that correlation above 0.5;
    - ``zero_filters``: filters whose weights are all (numerically) zero: unused channels;
    - ``n_filters``.
    """
    w = first_conv(model).weight.detach().double().cpu().numpy()
    flat = w.reshape(w.shape[0], w.shape[1], -1)
    live = np.abs(flat).max(axis=(1, 2)) > zero
    corr = []
    for f in flat[live]:
        if np.all(f.std(axis=1) > 0):
            c = np.corrcoef(f)
            corr.append(c[np.triu_indices(len(c), 1)].mean())
    corr = np.array(corr)
    return {"colour_correlation": float(corr.mean()) if corr.size else float("nan"),
            "same_pattern_in_all_colours": int((corr > 0.5).sum()),   # light/dark detectors
            "zero_filters": int((~live).sum()), "n_filters": int(w.shape[0])}


def plot_filters(nets: Mapping[str, nn.Module], ncols: int = 8, size: float = 0.55):
    """First-layer filters of each network side by side, one small RGB tile per filter."""
    fig, axes = plt.subplots(1, len(nets), figsize=(len(nets) * (ncols * size + 0.6), 4 * size * 1.3 + 1.2),
                             squeeze=False)
    for ax, (title, net) in zip(axes.flat, nets.items()):
        tiles = filter_tiles(net)
        n, k = len(tiles), tiles.shape[1]
        rows = -(-n // ncols)
        sheet = np.ones((rows * (k + 1) - 1, ncols * (k + 1) - 1, 3))
        for i, t in enumerate(tiles):
            r, c = divmod(i, ncols)
            sheet[r * (k + 1):r * (k + 1) + k, c * (k + 1):c * (k + 1) + k] = t
        ax.imshow(sheet, interpolation="nearest")
        ax.set_title(f"{title}\n{n} filters, {k}x{k} px x 3 colours", fontsize=9)
        ax.set_xlabel("one tile per filter; grey = 0, brighter = positive weight")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("First-layer filters (conv_stem)")
    fig.tight_layout()
    return fig
