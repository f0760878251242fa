"""Quoted figures checked: what course texts quote, what their sources state, and how far both are from the
torchvision weights this kit loads."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from ..errors import CourseLibError


# ============================================================================= quoted figures
FIGURES = ("top1", "file_mb", "params_m")
UNITS = {"top1": "% top-1", "file_mb": "MB", "params_m": "M params"}


@dataclass(frozen=True)
class SourceFigures:
    """What a source itself states for one model: the figures a quote of it must match."""

    source: str
    url: str
    name: str                  # the model's name in the source
    top1: float | None         # %, None: the source states none
    file_mb: float | None
    params_m: float | None
    input_px: int | None = None
    note: str = ""


KERAS_URL = "https://keras.io/api/applications/"
_KERAS_NOTE = ("Keras' own weights, top-1 as Keras evaluated them on the ImageNet-1k validation set (single centre "
               "crop); Size = the .h5 file with the top layer; Parameters with the top layer")
KERAS_APPLICATIONS = {   # the "Available models" table at KERAS_URL, as printed there
    "resnet50": SourceFigures("Keras Applications table", KERAS_URL, "ResNet50", 74.9, 98.0, 25.6, 224, _KERAS_NOTE),
    "efficientnet_b0": SourceFigures("Keras Applications table", KERAS_URL, "EfficientNetB0", 77.1, 29.0, 5.3, 224,
                                     _KERAS_NOTE),
    "inception_v3": SourceFigures("Keras Applications table", KERAS_URL, "InceptionV3", 77.9, 92.0, 23.9, 299,
                                  _KERAS_NOTE),
}
VIT_PAPER = SourceFigures("Dosovitskiy et al. 2021 (ViT), Table 1", "https://arxiv.org/abs/2010.11929", "ViT-Base",
                          None, None, 86.0, None, "the model variants table: layers, widths, heads, parameters; no "
                          "accuracy. No source found states 85.8% for an 86 M-parameter ViT-B/16")


@dataclass(frozen=True)
class QuotedFigure:
    """A figure as course texts and blog posts quote it, its source, and the torchvision weights to compare with.

    The figures are kept as printed ("74.9", "26"): the last printed digit is the quote's precision, so a quote
    matches its source when it is the source's figure correctly rounded (within half a unit of that digit).
    """

    model: str                 # torchvision name of the architecture
    quote: str                 # the sentence as usually quoted
    top1: str | None           # %, as printed
    file_mb: str | None
    params_m: str | None
    source: SourceFigures      # where the quote comes from, with what it states
    why_this_source: str
    compare_with: tuple[str, ...]  # torchvision weight tags to compare with, first = closest

    def value(self, figure: str) -> float | None:
        text = getattr(self, figure)
        return None if text is None else float(text)

    def tolerance(self, figure: str) -> float | None:
        """Half a unit of the quote's last printed digit: "74.9" -> 0.05, "26" -> 0.5."""
        text = getattr(self, figure)
        if text is None:
            return None
        decimals = len(text.split(".")[1]) if "." in text else 0
        return 0.5 * 10.0 ** -decimals


QUOTED_FIGURES: tuple[QuotedFigure, ...] = (
    QuotedFigure("resnet50", "ResNet-50: top-1 74.9%, 98 MB, 26 M params", "74.9", "98", "26",
                 KERAS_APPLICATIONS["resnet50"], "the three figures are the ResNet50 row of the Keras table; Keras' "
                 "weights were converted from the original Caffe release of He et al. 2015",
                 ("IMAGENET1K_V1", "IMAGENET1K_V2")),
    QuotedFigure("efficientnet_b0", "EfficientNet: 77.1%, 29 MB, 5 M params", "77.1", "29", "5",
                 KERAS_APPLICATIONS["efficientnet_b0"], "the EfficientNetB0 row of the Keras table (77.1% is also the "
                 "top-1 Tan & Le 2019 report for B0)", ("IMAGENET1K_V1",)),
    QuotedFigure("inception_v3", "Inception-v3: 77.9%, 92 MB, 24 M params", "77.9", "92", "24",
                 KERAS_APPLICATIONS["inception_v3"], "the InceptionV3 row of the Keras table", ("IMAGENET1K_V1",)),
    QuotedFigure("vit_b_16", "ViT: 86 M params, 85.8% top-1", "85.8", None, "86", VIT_PAPER,
                 "slides and blog posts; the parameter count is ViT-Base's in the ViT paper, but no ImageNet-1k-only "
                 "ViT-B/16 in torchvision or the ViT paper reaches 85.8%: the figure belongs to larger pre-training "
                 "data (ImageNet-21k or more) and higher resolution", ("IMAGENET1K_V1", "IMAGENET1K_SWAG_E2E_V1")),
)


def _weights(model: str, tag: str):
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(model)[tag]
    except KeyError:
        raise CourseLibError(f"torchvision has no weights {tag!r} for {model!r}.") from None


def _default_tag(model: str) -> str:
    """The torchvision weights ``models.load_model(model)`` loads (DEFAULT)."""
    from torchvision.models import get_model_weights

    return get_model_weights(model).DEFAULT.name


@lru_cache(maxsize=None)
def counted_params_m(model: str, aux: bool = True) -> float:
    """Parameters of the torchvision architecture, counted on the network built on the meta device (shapes only: no
    weights, no download), in M.

    ``aux=False`` builds Inception-v3 without its auxiliary classifier (Keras counts none); other models have none.
    """
    import torch
    import torchvision.models as tvm

    from ..models.stages import count_parameters

    kwargs = {"aux_logits": aux, "init_weights": False} if model == "inception_v3" else {}
    with torch.device("meta"):   # shapes only: counting needs no memory and no initialisation
        net = tvm.get_model(model, weights=None, **kwargs)
    return count_parameters(net) / 1e6


def _kit_value(q: QuotedFigure, figure: str, tag: str) -> float | None:
    """The same figure for the torchvision weights `tag`: top-1 and file size from their metadata, parameters
    counted on the network as torchvision builds it for those weights."""
    meta = _weights(q.model, tag).meta
    if figure == "top1":
        return float(meta["_metrics"]["ImageNet-1K"]["acc@1"])
    if figure == "file_mb":
        return None if meta.get("_file_size") is None else float(meta["_file_size"])
    return counted_params_m(q.model)


def source_check(quoted: Sequence[QuotedFigure] = QUOTED_FIGURES):
    """Does each quoted figure match its own source? One row per (quote, figure quoted).

    ``matches`` is True when the quote is the source's figure correctly rounded (``|quoted - source| <=
    tolerance``, half a unit of the quote's last digit), None when the source states no such figure. The
    ``kit_*`` columns say how far the quote is from the torchvision weights ``models.load_model`` loads (DEFAULT):
    a difference between two sets of weights, reported beside the check, not part of it.
    """
    import pandas as pd

    rows = []
    for q in quoted:
        tag = _default_tag(q.model)
        for figure in FIGURES:
            value = q.value(figure)
            if value is None:
                continue
            src = getattr(q.source, figure)
            tol = q.tolerance(figure)
            kit = _kit_value(q, figure, tag)
            rows.append({"model": q.model, "figure": figure, "unit": UNITS[figure], "quoted": value, "tolerance": tol,
                         "source_value": src, "diff": None if src is None else round(value - src, 6),
                         "matches": None if src is None else bool(abs(value - src) <= tol + 1e-9),
                         "source": q.source.source, "source_name": q.source.name, "url": q.source.url,
                         "kit_weights": f"torchvision {q.model} {tag}", "kit_value": None if kit is None else round(kit, 3),
                         "kit_difference": None if kit is None else round(value - kit, 3)})
    return pd.DataFrame(rows)


def weights_difference(quoted: Sequence[QuotedFigure] = QUOTED_FIGURES):
    """How far each quote is from torchvision's weights: one row per (quote, weights), with differences.

    Not a verdict: a top-1 belongs to a set of weights and an evaluation, so the same architecture scores
    differently in another library. ``float32_mib`` = counted parameters x 4 bytes / 2^20: what the weights alone
    occupy, to compare file sizes with; ``params_m_without_aux``: Inception-v3 built without its auxiliary
    classifier. ``kit_default``: these are the weights ``models.load_model`` loads.
    """
    import pandas as pd

    rows = []
    for q in quoted:
        no_aux = counted_params_m(q.model, aux=False) if q.model == "inception_v3" else None
        params = counted_params_m(q.model)
        default = _default_tag(q.model)
        for tag in q.compare_with:
            w = _weights(q.model, tag)
            meta = w.meta
            top1, file_mb = meta["_metrics"]["ImageNet-1K"]["acc@1"], meta.get("_file_size")
            qt, qf, qp = q.value("top1"), q.value("file_mb"), q.value("params_m")
            rows.append({"model": q.model, "quote": q.quote, "weights": tag, "kit_default": tag == default,
                         "input_px": w.transforms().crop_size[0],
                         "quoted_top1": qt, "meta_top1": top1, "quoted_file_mb": qf, "meta_file_mb": file_mb,
                         "quoted_params_m": qp, "counted_params_m": round(params, 3),
                         "meta_params_m": round(meta["num_params"] / 1e6, 3),
                         "params_m_without_aux": None if no_aux is None else round(no_aux, 3),
                         "float32_mib": round(params * 1e6 * 4 / 2**20, 2),
                         "d_top1": None if qt is None else round(qt - top1, 3),
                         "d_file_mb": None if qf is None or file_mb is None else round(qf - file_mb, 3),
                         "d_params_m": None if qp is None else round(qp - params, 3),
                         "quote_source": f"{q.source.source} ({q.source.url}): {q.why_this_source}",
                         "meta_source": f"torchvision {type(w).__name__}.{tag}.meta"})
    return pd.DataFrame(rows)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def explain_differences(table) -> list[str]:
    """One sentence per quote, computed from :func:`weights_difference`'s table: what differs, and the likely reason."""
    notes = []
    for model, rows in table.groupby("model", sort=False):
        first = rows.iloc[0]
        parts = []
        for _, r in rows.iterrows():
            if not _missing(r.quoted_top1):
                parts.append(f"top-1 {r.quoted_top1:g} vs {r.meta_top1:g} ({r.weights}, {r.input_px} px"
                             + (", the kit's default" if r.kit_default else "") + ")")
        if not _missing(first.quoted_params_m):
            p = f"params {first.quoted_params_m:g} M vs {first.counted_params_m:.1f} M counted"
            if not _missing(first.params_m_without_aux):
                p += f" ({first.params_m_without_aux:.1f} M without the auxiliary classifier, which Keras leaves out)"
            parts.append(p)
        if not _missing(first.quoted_file_mb):
            f = f"file {first.quoted_file_mb:g} MB vs {first.meta_file_mb:.1f} MB"
            if first.quoted_file_mb > 1.2 * first.float32_mib:
                f += f" (more than the {first.float32_mib:.1f} MiB its float32 weights need: a file format's size)"
            parts.append(f)
        notes.append(f"{model}: " + "; ".join(parts) + ". Source: " + first.quote_source + ".")
    return notes

