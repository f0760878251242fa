"""Feature maps: what one stage computes for an image (the most active channel of every stage, one stage's
channels, an ipywidgets panel that builds without a browser), and ImageNet top-5 tables for sample images."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data, env, models
from .layers import stage_widths


def _input(path, transform) -> torch.Tensor:
    return transform(data.open_image(path)).unsqueeze(0)


def input_image(x: torch.Tensor, transform) -> np.ndarray:
    """The transformed input as the network sees it, un-normalised for display."""
    norm = next((t for t in getattr(transform, "transforms", []) if hasattr(t, "mean") and hasattr(t, "std")), None)
    mean = torch.as_tensor(norm.mean if norm else 0.0, dtype=torch.float32).reshape(-1)
    std = torch.as_tensor(norm.std if norm else 1.0, dtype=torch.float32).reshape(-1)
    img = (x[0].permute(1, 2, 0) * std + mean).numpy()
    return np.clip(img, 0, 1)


def feature_maps(model: nn.Module, path, transform, stage: str) -> np.ndarray:
    """The maps stage `stage` computes for the image at `path`: ``(channels, height, width)``."""
    model.eval()
    return models.stage_features(model, _input(path, transform), [stage])[stage][0].float().numpy()


def plot_stage_overview(model: nn.Module, path, transform, stages: Sequence[str] | None = None):
    """For one image, the most active channel of every stage: resolution falls and receptive fields grow."""
    stages = list(stages) if stages is not None else models.stage_names(model)
    model.eval()
    x = _input(path, transform)
    maps = models.stage_features(model, x, stages)
    fig, axes = plt.subplots(1, len(stages) + 1, figsize=(1.7 * (len(stages) + 1), 2.3))
    axes[0].imshow(input_image(x, transform))
    axes[0].set_title(f"input\n{x.shape[-1]}x{x.shape[-2]} px", fontsize=8)
    for ax, s in zip(axes[1:], stages):
        m = maps[s][0].float().numpy()
        c = int(m.mean(axis=(1, 2)).argmax())
        ax.imshow(m[c], cmap="magma")
        ax.set_title(f"{s}\n{m.shape[2]}x{m.shape[1]}, ch {c}/{m.shape[0]}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Most active channel after each stage: {Path(path).name}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_feature_map(model: nn.Module, path, transform, stage: str, channel: int = 0, n_grid: int = 8):
    """The input, one channel of `stage` (with a colour bar) and the `n_grid` most active channels of that stage."""
    model.eval()
    x = _input(path, transform)
    m = models.stage_features(model, x, [stage])[stage][0].float().numpy()
    channel = int(channel) % m.shape[0]
    top = np.argsort(-m.mean(axis=(1, 2)))[:n_grid]
    fig = plt.figure(figsize=(11, 3.4))
    grid = fig.add_gridspec(2, 2 + (n_grid + 1) // 2, width_ratios=[2, 2.4] + [1] * ((n_grid + 1) // 2))
    a = fig.add_subplot(grid[:, 0])
    a.imshow(input_image(x, transform))
    a.set_title(f"input, {x.shape[-1]} px", fontsize=9)
    b = fig.add_subplot(grid[:, 1])
    im = b.imshow(m[channel], cmap="magma")
    fig.colorbar(im, ax=b, fraction=0.046, label="activation (a.u.)")
    b.set_title(f"{stage}, channel {channel} of {m.shape[0]}\n{m.shape[2]}x{m.shape[1]} positions", fontsize=9)
    for i, c in enumerate(top):
        ax = fig.add_subplot(grid[i % 2, 2 + i // 2])
        ax.imshow(m[c], cmap="magma")
        ax.set_title(f"ch {c}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in (a, b):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Feature maps after {stage} ({Path(path).name}); right: the {len(top)} most active channels",
                 fontsize=10)
    fig.tight_layout()
    return fig


def feature_map_panel(model: nn.Module, images: Mapping[str, str | Path], transform,
                      stages: Sequence[str] | None = None):
    """An ipywidgets panel (image, stage, channel) around :func:`plot_feature_map`; without a widget front end, the
    default view drawn once as an ordinary figure.

    The channel slider's range follows the chosen stage's width.
    """
    import ipywidgets as widgets

    stages = list(stages) if stages is not None else models.stage_names(model)
    widths = stage_widths(model)
    image = widgets.Dropdown(options=list(images.items()), description="image")
    stage = widgets.Dropdown(options=stages, value=stages[len(stages) // 2], description="stage")
    channel = widgets.IntSlider(value=0, min=0, max=widths[stage.value] - 1, description="channel",
                                continuous_update=False)

    def _on_stage(change):
        channel.max = widths[change["new"]] - 1

    stage.observe(_on_stage, names="value")
    if not env.has_widget_frontend():   # headless: the default view as an ordinary figure (widgets.panel)
        from ..widgets import StaticPanel

        fig = plot_feature_map(model, image.value, transform, stage.value, channel.value)
        plt.show()
        return StaticPanel(fig, {"image": Path(image.value).name, "stage": stage.value, "channel": channel.value},
                           "the feature-map panel")
    out = widgets.interactive_output(
        lambda path, stage, channel: (plot_feature_map(model, path, transform, stage, channel), plt.show()),
        {"path": image, "stage": stage, "channel": channel})
    return widgets.VBox([widgets.HBox([image, stage, channel]), out])


# ----------------------------------------------------------------------------- ImageNet predictions
def top5_table(model: nn.Module, items: Mapping[str, str | Path], transform, k: int = 5) -> pd.DataFrame:
    """ImageNet top-`k` for each image: one row per (image, rank) with the label's first name and probability."""
    model.eval()
    names = list(items)
    batch = torch.cat([_input(items[n], transform) for n in names])
    preds = models.top_k(model, batch, k=k)
    rows = [dict(image=n, rank=r + 1, label=lab.split(",")[0], probability=p)
            for n, pred in zip(names, preds) for r, (lab, p) in enumerate(pred)]
    return pd.DataFrame(rows)


def plot_predictions(items: Mapping[str, str | Path], table: pd.DataFrame, ncols: int = 4):
    """Each image with the network's top-1 and top-2 ImageNet labels and probabilities under it."""
    captions = []
    for name in items:
        top = table[table["image"] == name].sort_values("rank")
        lines = [f"{r.label[:22]} {r.probability:.2f}" for r in top.head(2).itertuples()]
        captions.append(f"{name}\n" + "\n".join(lines))
    from ..viz import show_images

    fig = show_images(list(items.values()), captions, ncols=ncols, size=2.7,
                      suptitle="What the ImageNet head says: top-2 classes and their probabilities")
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + 0.5 * len(fig.axes) / ncols)  # room for three caption lines per row
    fig.tight_layout()
    return fig
