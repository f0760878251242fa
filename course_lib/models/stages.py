"""Stages of a network: naming them, freezing up to one, and reading the features each one computes.

A *stage* is a block of layers at one resolution: early stages see edges and textures, late ones
object parts. Freezing and per-stage features both go by the module names :func:`stage_names` lists,
in forward order, so a lab can say ``freeze(model, until="blocks.3")`` or probe every stage in turn.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..errors import CourseLibError, unknown_name
from .core import head_name


def stage_names(model: nn.Module) -> list[str]:
    """Module names of the network's stages, input to output, head excluded."""
    head = head_name(model)
    children = dict(model.named_children())
    if {"conv_stem", "blocks", "conv_head"} <= set(children):  # timm EfficientNet / MobileNet family
        return ["bn1", *(f"blocks.{i}" for i in range(len(model.blocks))), "bn2"]
    if hasattr(model, "feature_info") and isinstance(model.feature_info, list):  # other timm models
        return [f["module"] for f in model.feature_info]
    if {"layer1", "layer4", "fc"} <= set(children):  # torchvision ResNet family
        return ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    if "trunk_output" in children:  # torchvision RegNet
        return ["stem", *(f"trunk_output.{n}" for n, _ in model.trunk_output.named_children())]
    if "features" in children and isinstance(model.features, nn.Sequential):
        feats = list(model.features.named_children())
        if type(model).__name__ == "VGG":  # one stage per pooling step, not one per layer
            return [f"features.{n}" for n, m in feats if isinstance(m, nn.MaxPool2d)]
        return [f"features.{n}" for n, _ in feats]
    if "encoder" in children and hasattr(model.encoder, "layers"):  # torchvision ViT
        return ["conv_proj", *(f"encoder.layers.{n}" for n, _ in model.encoder.layers.named_children())]
    skip = {head.split(".")[0], "avgpool", "dropout", "AuxLogits", "global_pool", "head", "fc", "classifier"}
    return [n for n, m in children.items() if n not in skip and any(True for _ in m.parameters())]


def _check_stage(model: nn.Module, stage: str) -> list[str]:
    names = stage_names(model)
    if stage not in names:
        raise unknown_name(f"stage of {type(model).__name__}", stage, names, f"stage_names(model) = {names}")
    return names


def _module_index(model: nn.Module) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(model.named_modules())}


def _stage_end(model: nn.Module, stage: str, index: dict[str, int]) -> int:
    return max(i for n, i in index.items() if n == stage or n.startswith(stage + "."))


def freeze(model: nn.Module, until: str | None = None) -> nn.Module:
    """Freeze every layer up to and including stage `until`; everything after it trains.

    ``until=None`` freezes the whole backbone and leaves only the head trainable (feature extraction).
    """
    head = head_name(model)
    index = _module_index(model)
    if until is None:
        for name, p in model.named_parameters():
            p.requires_grad_(name == head or name.startswith(head + "."))
        return model
    _check_stage(model, until)
    end = _stage_end(model, until, index)
    for name, p in model.named_parameters():
        owner = name.rsplit(".", 1)[0]
        p.requires_grad_(index[owner] > end)
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """Make every parameter trainable (full fine-tuning)."""
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def unfreeze_last(model: nn.Module, n_stages: int) -> nn.Module:
    """Train the head and the last `n_stages` stages; freeze the rest. 0 = head only; all stages = everything."""
    names = stage_names(model)
    if not 0 <= n_stages <= len(names):
        raise CourseLibError(f"n_stages must be between 0 and {len(names)} for this model, got {n_stages}.")
    if n_stages == 0:
        return freeze(model)
    if n_stages == len(names):
        return unfreeze(model)
    return freeze(model, until=names[-n_stages - 1])


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those that receive gradients, with ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_table(model: nn.Module):
    """Parameters and trainable parameters per stage (and the head), as a DataFrame: what freezing buys."""
    import pandas as pd

    index = _module_index(model)
    bounds = [(s, _stage_end(model, s, index)) for s in stage_names(model)]
    rows: dict[str, list[int]] = {s: [0, 0] for s, _ in bounds}
    rows["head"] = [0, 0]
    for name, p in model.named_parameters():
        i = index[name.rsplit(".", 1)[0]]
        group = next((s for s, end in bounds if i <= end), "head")
        rows[group][0] += p.numel()
        rows[group][1] += p.numel() if p.requires_grad else 0
    return pd.DataFrame([(k, *v) for k, v in rows.items()], columns=["stage", "params", "trainable"]).set_index("stage")


def set_frozen_batchnorm_eval(model: nn.Module) -> nn.Module:
    """Keep BatchNorm layers whose weights are frozen in eval mode, so small batches don't shift their statistics."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
    return model


@contextmanager
def capture_outputs(model: nn.Module, names: list[str], pre: bool = False):
    """Within the block, ``out[name]`` holds each named module's output (``pre=True``: its input) from the last
    forward pass; the hooks are removed on exit."""
    out: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        module = model.get_submodule(name)
        if pre:
            handles.append(module.register_forward_pre_hook(lambda m, args, n=name: out.__setitem__(n, args[0])))
        else:
            handles.append(module.register_forward_hook(lambda m, a, o, n=name: out.__setitem__(n, o)))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def to_vectors(t: torch.Tensor) -> torch.Tensor:
    """One vector per image: feature maps average-pooled, token sequences averaged, anything else flattened."""
    if t.ndim == 4:  # N, C, H, W -> global average pool
        return t.mean(dim=(2, 3))
    if t.ndim == 3:  # N, tokens, C (ViT) -> mean over tokens
        return t.mean(dim=1)
    return t.flatten(1)


@torch.inference_mode()
def stage_features(model: nn.Module, x: torch.Tensor, stages: list[str] | None = None,
                   pool: bool = False) -> dict[str, torch.Tensor]:
    """Outputs of the given stages (default: all) for a batch; ``pool=True`` averages each map to a vector."""
    names = stages or stage_names(model)
    for s in names:
        _check_stage(model, s)
    with capture_outputs(model, names) as out:
        model(x)
    return {n: (to_vectors(out[n]) if pool else out[n]) for n in names}


@torch.inference_mode()
def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate features: what the head sees (timm's ``forward_head(pre_logits=True)``), shape (N, num_features)."""
    with capture_outputs(model, [head_name(model)], pre=True) as out:
        model(x)
    return out[head_name(model)].flatten(1)
