"""Detect, crop, classify: torchvision's COCO detectors, the labels' boxes as an offline stand-in, crops written
once, and the untouched ImageNet head's probability of a class."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .. import data, env, models
from .._registry import Registry
from ..errors import CourseLibError, WeightsUnavailableError
from .frames import EMPTY, crop_box, table_boxes


# --------------------------------------------------------------------------- detectors
@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    name: str          # torchvision builder
    weights: str       # its weights enum
    description: str


DETECTORS: Registry[DetectorSpec] = Registry("detector", "course_lib.wildlife.DETECTORS")
for _d in (
    DetectorSpec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights",
                 "SSDlite, MobileNetV3-Large backbone, 320 px: the light COCO detector"),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
                 "Faster R-CNN, MobileNetV3-Large FPN, low resolution (320 px)"),
    DetectorSpec("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights",
                 "Faster R-CNN, ResNet-50 FPN, 800 px: the classic two-stage detector (MegaDetector v4 was one)"),
):
    DETECTORS.register(_d)
COCO_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
COCO_VEHICLES = ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat")


def _detector_weights(name: str):
    import torchvision.models.detection as det

    return getattr(det, DETECTORS[name].weights).DEFAULT


def _detector_file(name: str) -> Path:
    import os

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_detector_weights(name).url)


def detector_status(name: str) -> str:
    """Whether the COCO weights of detector `name` can be loaded here, in a few words (like models.weights_status)."""
    from ..models import weights as W

    path = _detector_file(name)
    if path.exists():
        try:
            W.verify_file(path, W.hash_prefix_from_name(path.name) or "")
        except WeightsUnavailableError:
            return f"cached file {path.name} has a sha256 MISMATCH"
        return f"yes: cached {path.name}, sha256 prefix verified"
    return f"download needed ({path.name}; offline: no)" if env.is_offline() else f"downloads {path.name} on first use"


def load_detector(name: str = "ssdlite320_mobilenet_v3_large", pretrained: bool = True, **kwargs) -> torch.nn.Module:
    """A torchvision COCO detector in eval mode. ``pretrained=True`` uses torchvision's ``weights=...DEFAULT`` (the
    file in ``TORCH_HOME`` is checked against the sha256 prefix in its name first); offline without the file it
    raises WeightsUnavailableError saying which file to fetch. ``pretrained=False``: random weights, backbone too
    (``weights=None, weights_backbone=None``), enough to check shapes and to time the architecture."""
    import torchvision.models.detection as det

    from ..models import weights as W

    w = _detector_weights(name)  # an unknown name fails here, suggesting the close ones
    builder = getattr(det, name)
    if not pretrained:
        model = builder(weights=None, weights_backbone=None, **kwargs)
        model.course_weights = "random"
        return model.eval()
    path = _detector_file(name)
    if path.exists():
        W.verify_file(path, W.hash_prefix_from_name(path.name) or "", how_to_fix=f"Delete {path} and download again.")
    elif env.is_offline():
        raise WeightsUnavailableError(
            f"no COCO weights for {name!r} here: {path.name} is not in {path.parent} and this machine is offline. "
            f"When online, torchvision downloads it on first use ({w.url}); or copy the file into that folder. "
            f"For shapes and timing, load_detector({name!r}, pretrained=False) builds it with random weights.")
    model = builder(weights=w, **kwargs)
    model.course_weights = f"coco:torchvision:{path.name}"
    return model.eval()


def coco_kind(label: str) -> str:
    """MegaDetector's three classes from a COCO label: 'animal', 'person', 'vehicle', else 'other'."""
    return "animal" if label in COCO_ANIMALS else "person" if label == "person" else \
        "vehicle" if label in COCO_VEHICLES else "other"


@torch.inference_mode()
def detect(detector: torch.nn.Module, images: Sequence[Image.Image], score_threshold: float = 0.5) -> list[dict]:
    """Run a torchvision detector on PIL images: per image, normalised ``x y w h`` boxes, scores, COCO labels and
    their MegaDetector-style kind, above `score_threshold`."""
    from torchvision.transforms.functional import to_tensor

    categories = _detector_weights("ssdlite320_mobilenet_v3_large").meta["categories"]  # COCO, the same for all
    out = detector([to_tensor(im) for im in images])
    results = []
    for im, o in zip(images, out):
        keep = o["scores"] >= score_threshold
        b, w, h = o["boxes"][keep].cpu().numpy(), im.size[0], im.size[1]
        norm = np.stack([b[:, 0] / w, b[:, 1] / h, (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], 1) if len(b) \
            else np.zeros((0, 4))
        labels = [categories[int(i)] for i in o["labels"][keep]]
        results.append({"boxes": norm, "scores": o["scores"][keep].cpu().numpy(), "labels": labels,
                        "kinds": [coco_kind(l) for l in labels], "source": "detector"})
    return results


def standin_detections(table: data.ImageTable) -> list[dict]:
    """Offline stand-in for a detector: the boxes drawn in labels.csv. A frame with count 0 has no detection; a
    frame with an animal but no drawn box is 'whole frame' (the pipeline then classifies the whole image). Being
    the ground truth, the stand-in is a perfect detector: pipeline numbers built on it are upper bounds."""
    boxes = table_boxes(table)
    counts = table.frame.get("count", pd.Series([pd.NA] * len(table)))
    out = []
    for i in range(len(table)):
        if len(boxes[i]):
            out.append({"boxes": boxes[i], "scores": np.ones(len(boxes[i])), "kinds": ["animal"] * len(boxes[i]),
                        "source": "labels.csv box"})
        elif table.classes[table.labels[i]] == EMPTY or (not pd.isna(counts.iloc[i]) and int(counts.iloc[i]) == 0):
            out.append({"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "kinds": [], "source": "empty (count 0)"})
        else:
            out.append({"boxes": np.array([[0.0, 0.0, 1.0, 1.0]]), "scores": np.ones(1), "kinds": ["animal"],
                        "source": "whole frame (no box drawn)"})
    return out


def write_crops(paths: Sequence[str | Path], detections: Sequence[dict], out_dir: str | Path | None = None,
                pad: float = 0.15) -> pd.DataFrame:
    """Crop every detection to a JPEG file (named by content, so a second run reuses them and the features cache
    keys on them); a whole-frame detection keeps the original file. One row per crop: image index, crop path."""
    out_dir = Path(out_dir) if out_dir else env.cache_dir() / "crops"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (p, d) in enumerate(zip(paths, detections)):
        for k, box in enumerate(np.asarray(d["boxes"]).reshape(-1, 4)):
            if np.allclose(box, [0, 0, 1, 1]):
                rows.append({"image": i, "crop": str(p), "box": k})
                continue
            key = hashlib.sha256(Path(p).read_bytes() + repr((np.round(box, 6).tolist(), pad)).encode()).hexdigest()[:20]
            target = out_dir / f"{Path(p).stem[:40]}-{key}.jpg"
            if not target.exists():
                crop_box(data.open_image(p), box, pad=pad).save(target, quality=95)
            rows.append({"image": i, "crop": str(target), "box": k})
    return pd.DataFrame(rows, columns=["image", "crop", "box"])


@torch.inference_mode()
def imagenet_probability(model: torch.nn.Module, images: Sequence[Image.Image], label: str, transform) -> np.ndarray:
    """The untouched ImageNet head's probability of the class whose name starts with `label` (e.g. 'hippopotamus')."""
    names = models.imagenet_labels()
    idx = [i for i, n in enumerate(names) if n.lower().startswith(label.lower())]
    if not idx:
        raise CourseLibError(f"no ImageNet class starts with {label!r}; see models.imagenet_labels().")
    x = torch.stack([transform(im) for im in images])
    return model(x).softmax(-1)[:, idx[0]].numpy()

