"""What a pretrained network says about an image: ImageNet top-k with readable names."""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard order (shipped with timm, no download)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]


@torch.inference_mode()
def top_k(model: nn.Module, x: torch.Tensor, k: int = 5, labels: list[str] | None = None) -> list[list[tuple[str, float]]]:
    """For each image in the batch `x`, the `k` most probable (label, probability) pairs."""
    probs = model(x).softmax(dim=-1)
    labels = labels or (imagenet_labels() if probs.shape[-1] == 1000 else [str(i) for i in range(probs.shape[-1])])
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [[(labels[i], round(float(v), 4)) for v, i in zip(vs, ix)] for vs, ix in zip(values, indices)]
