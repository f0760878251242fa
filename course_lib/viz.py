"""Plots the labs share: image grids with captions, bar charts of measured numbers. Titles and axes always set."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt


def show_images(paths: Sequence[str | Path], titles: Sequence[str] | None = None, ncols: int = 4,
                size: float = 2.6, suptitle: str | None = None):
    """A grid of images (loaded robustly, so odd formats show too) with a caption under each."""
    from .data import open_image

    n = len(paths)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, p in enumerate(paths):
        ax = axes.flat[i]
        ax.imshow(open_image(p))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def bar(values: dict[str, float], title: str, ylabel: str, ylim: tuple[float, float] | None = None,
        reference: float | None = None, reference_label: str = ""):
    """A labelled bar chart of measured numbers, values printed on the bars."""
    fig, ax = plt.subplots(figsize=(1.2 * len(values) + 2.5, 3.4))
    bars = ax.bar(list(values), list(values.values()), color="#4C72B0")
    ax.bar_label(bars, fmt="%.2f")
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey", label=reference_label)
        ax.legend(loc="lower right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    fig.tight_layout()
    return fig
