"""Where a quoted figure comes from: the same architecture's top-1 and size as several sources state them (weights,
version, evaluation crop), and as this kit counts them, so a figure the course texts quote can be traced to the
weights it belongs to (lab 03's reconciliation exercise).

Only figures stored with their source are here. Kornblith et al. 2019 ("Do Better ImageNet Models Transfer
Better?") is not: the kit stores no numbers from its tables, so none are typed in.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CourseLibError
from .figures import KERAS_URL, counted_params_m

TORCHVISION_DOCS_URL = ("https://github.com/pytorch/vision/blob/00542d95486feb18bda93ab6b8b7a694291151e9/docs/source/"
                        "models.rst")
TORCHVISION_DOCS = ("torchvision's older model docs, table 'ImageNet 1-crop error rates (224x224)' (top-1 = 100 - the "
                    "top-1 error printed there)")
INCEPTION_PAPER_URL = "https://arxiv.org/abs/1512.00567"
INCEPTION_PAPER = ("Szegedy et al. 2016, 'Rethinking the Inception Architecture', abstract: 21.2% top-1 error for "
                   "single-frame evaluation, the authors' own network (top-1 = 100 - 21.2)")
KERAS = "Keras Applications table"


@dataclass(frozen=True)
class TextQuote:
    """A figure as a course text prints it, and which architectures and figure it may belong to."""

    label: str                  # how the exercise names it, e.g. "ResNet-50 76.2%"
    printed: str                # the figure as printed ("76.2"): its last digit is its precision
    figure: str                 # "top1" (%) or "size_mb" (MB)
    models: tuple[str, ...]     # the architectures the text's name can mean
    text: str                   # where the course texts quote it

    @property
    def value(self) -> float:
        return float(self.printed)

    @property
    def tolerance(self) -> float:
        decimals = len(self.printed.split(".")[1]) if "." in self.printed else 0
        return 0.5 * 10.0 ** -decimals


TEXT_QUOTES = (
    TextQuote("ResNet-50 76.2%", "76.2", "top1", ("resnet50",), "a course slide's model list"),
    TextQuote("Inception-v3 78.8%", "78.8", "top1", ("inception_v3",), "a course slide's model list"),
    TextQuote("MobileNet 17 MB", "17", "size_mb", ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
                                                   "mobilenet_v3_small"), "a practitioner's blog post ('about 17 MB')"),
)


def _stated_rows() -> list[dict]:
    """Figures as their sources state them (or computed from them, `how` says so), without the torchvision meta.
    The Keras MobileNet rows are that table's "MobileNet" and "MobileNetV2" rows (Size MB, Parameters), as printed."""
    def row(model, origin, weights, figure, value, crop, how, source, url):
        return {"key": f"{model}/{origin}", "model": model, "weights": weights, "figure": figure, "value": value,
                "crop_px": crop, "how": how, "source": source, "url": url}

    k = "Keras' own weights"
    return [
        row("resnet50", "keras", f"{k} (converted from the original Caffe release)", "top1", 74.9, 224, "stated",
            KERAS, KERAS_URL),
        row("resnet50", "torchvision V1 (older docs)", "torchvision IMAGENET1K_V1", "top1", round(100 - 23.85, 2), 224,
            "stated as error 23.85", TORCHVISION_DOCS, TORCHVISION_DOCS_URL),
        row("inception_v3", "keras", k, "top1", 77.9, 299, "stated", KERAS, KERAS_URL),
        row("inception_v3", "torchvision V1 (older docs)", "torchvision IMAGENET1K_V1", "top1", round(100 - 22.55, 2),
            None, "stated as error 22.55 (the table's header says 224x224 for every row)", TORCHVISION_DOCS,
            TORCHVISION_DOCS_URL),
        row("inception_v3", "paper", "the authors' own network (TensorFlow)", "top1", round(100 - 21.2, 1), 299,
            "stated as error 21.2, single frame", INCEPTION_PAPER, INCEPTION_PAPER_URL),
        row("mobilenet_v1", "keras file", f"{k}, MobileNet (v1, width 1.0)", "size_mb", 16.0, 224, "stated (file size)",
            KERAS, KERAS_URL),
        row("mobilenet_v1", "keras float32 weights", f"{k}, MobileNet (v1, width 1.0)", "size_mb", round(4.3 * 4, 1),
            224, "computed: the table's 4.3 M parameters x 4 bytes, in MB (10^6 bytes)", KERAS, KERAS_URL),
        row("mobilenet_v2", "keras file", f"{k}, MobileNetV2", "size_mb", 14.0, 224, "stated (file size)", KERAS,
            KERAS_URL),
    ]


def _torchvision_rows() -> list[dict]:
    """torchvision's weights metadata (top-1, file size) and this kit's own parameter count of the built network."""
    from torchvision.models import get_model_weights

    rows = []
    tops = {"resnet50": ("IMAGENET1K_V1", "IMAGENET1K_V2"), "inception_v3": ("IMAGENET1K_V1",)}
    for model, tags in tops.items():
        for tag in tags:
            w = get_model_weights(model)[tag]
            rows.append({"key": f"{model}/torchvision {tag.split('_')[-1]} (meta)", "model": model,
                         "weights": f"torchvision {tag}", "figure": "top1",
                         "value": float(w.meta["_metrics"]["ImageNet-1K"]["acc@1"]), "crop_px": w.transforms().crop_size[0],
                         "how": f"stated (resize {w.transforms().resize_size[0]}, centre crop)",
                         "source": f"torchvision {type(w).__name__}.{tag}.meta", "url": ""})
    for model in ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"):
        w = get_model_weights(model).DEFAULT
        common = {"model": model, "weights": f"torchvision {w.name}", "figure": "size_mb", "crop_px": 224}
        rows.append({**common, "key": f"{model}/torchvision file", "value": float(w.meta["_file_size"]),
                     "how": "stated (file size)", "source": f"torchvision {type(w).__name__}.{w.name}.meta", "url": ""})
        rows.append({**common, "key": f"{model}/float32 weights counted here",
                     "value": round(counted_params_m(model) * 4, 2),
                     "how": "computed: parameters counted on the built network x 4 bytes, in MB (10^6 bytes)",
                     "source": "this kit (recommend.counted_params_m)", "url": ""})
    return rows


def figure_origins():
    """Every stored figure a quote of :data:`TEXT_QUOTES` could come from: one row per (architecture, weights,
    figure), indexed by ``key`` ("model/origin"), with the evaluation crop and how the value was obtained."""
    import pandas as pd

    table = pd.DataFrame(_stated_rows() + _torchvision_rows())
    return table.sort_values(["figure", "model"], kind="stable").set_index("key")


def quote_origins(quote: TextQuote, table=None) -> list[str]:
    """The keys of `table` (:func:`figure_origins`) a quote is the correctly rounded value of: same figure, one of the
    architectures its name can mean, within half a unit of its last printed digit."""
    table = figure_origins() if table is None else table
    if quote.figure not in set(table["figure"]):
        raise CourseLibError(f"no stored figure of kind {quote.figure!r}.")
    rows = table[(table["figure"] == quote.figure) & table["model"].isin(quote.models)]
    return [k for k, v in rows["value"].items() if abs(v - quote.value) <= quote.tolerance + 1e-9]
