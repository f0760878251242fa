"""The little-compute answer: pipeline latency and hours per million frames, thread counts, the pipeline that fits
a budget, and a browser of predictions and errors."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .. import bench, data
from ..errors import CourseLibError
from ..widgets import StaticPanel, panel
from .frames import draw_boxes


# --------------------------------------------------------------------------- cost
# Published speeds for the GPU column of the cost table: assumptions with their source, not measured here.
GPU_ASSUMPTIONS = {
    "detector": {"images_per_second": 11.4, "device": "NVIDIA RTX 3090", "what": "MegaDetector v5 (YOLOv5, 1280 px), "
                 "whole pipeline on a ~13,000-image Snapshot Karoo + Idaho benchmark",
                 "source": "MegaDetector User Guide, 'Benchmark timings' (agentmorris/MegaDetector, megadetector.md)"},
    "classifier": {"images_per_second": 7042.0, "device": "NVIDIA RTX 3090", "what": "tf_efficientnet_lite0 at 224 px, "
                   "AMP, batch 1024, model only (no JPEG decoding)",
                   "source": "timm results/benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv "
                             "(huggingface/pytorch-image-models)"},
}


def unlabeled_paths(root: str | Path | None = None) -> list[Path]:
    """The camera_traps images whose source gives no label (LILA test frames): usable to look at, never to score."""
    root = Path(root) if root is not None else data.dataset_root("camera_traps")
    labels = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    return [root / f for f in labels.loc[labels["species"] == "unlabeled", "file"]]


def hours_per_million(ms_per_image: float) -> float:
    """Hours to process one million images at `ms_per_image` (one stream, no overlap)."""
    return float(ms_per_image) * 1e6 / 1e3 / 3600


def pipeline_latency(classifier: torch.nn.Module, detector: torch.nn.Module | None = None, *, input_size: int = 224,
                     frame_size: tuple[int, int] = (256, 341), crops_per_frame: float = 1.0, warmup: int = 2,
                     steps: int = 5) -> dict:
    """Milliseconds per frame of a pipeline, measured here (``bench.measure_latency``, batch 1, CPU threads as set):
    the classifier on one whole frame, or a detector on the frame plus the classifier on ``crops_per_frame`` crops
    (timed as one batch of that many, rounded up). Random weights time the same as trained ones for a classifier;
    a detector's post-processing depends a little on how many boxes survive."""
    cls_bs = max(1, math.ceil(crops_per_frame)) if detector is not None else 1
    cls = bench.measure_latency(classifier, cls_bs, input_size, warmup=warmup, steps=steps, device="cpu")
    row = {"ms_classifier": cls.ms_per_batch * (crops_per_frame / cls_bs if detector is not None else 1.0),
           "ms_detector": 0.0}
    if detector is not None:
        det = bench.measure_latency(detector, 1, (3, *frame_size), warmup=max(1, warmup // 2), steps=max(2, steps // 2),
                                    device="cpu")
        row["ms_detector"] = det.ms_per_batch
    row["ms_per_frame"] = row["ms_classifier"] + row["ms_detector"]
    row["hours_per_million"] = hours_per_million(row["ms_per_frame"])
    return row


def pick_pipeline(table: pd.DataFrame, budget_hours: float, tie: float = 0.0) -> str:
    """From a table with columns pipeline, accuracy, hours_per_million: the most accurate pipeline that fits the
    budget; pipelines within `tie` of the best accuracy count as equal and the cheapest of them wins. Raises if
    none fits."""
    fits = table[table["hours_per_million"] <= budget_hours]
    if fits.empty:
        cheapest = table.sort_values("hours_per_million").iloc[0]
        raise CourseLibError(f"no pipeline fits {budget_hours:g} h per million images; the cheapest, "
                             f"{cheapest['pipeline']!r}, needs {cheapest['hours_per_million']:.1f} h.")
    best = fits["accuracy"].max()
    near = fits[fits["accuracy"] >= best - tie - 1e-12]
    return str(near.sort_values("hours_per_million").iloc[0]["pipeline"])


# --------------------------------------------------------------------------- browsing
def browse_predictions(paths: Sequence[str | Path], y_true, probs, classes: Sequence[str],
                       boxes: Sequence[np.ndarray] | None = None, k: int = 3, errors_first: bool = True,
                       title: str = "prediction"):
    """An ipywidgets panel: pick a frame (errors first, then least confident) and see it with its boxes and the
    top-k classes. Built with ``widgets.panel``: in a live front end it is shown at once and returned (an
    ``ipywidgets.interactive``); without one (CI, papermill, pytest) the default frame is drawn once as a plain
    figure and a ``widgets.StaticPanel`` is returned. Either way ``.result`` holds the last figure drawn."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    probs, y_true = np.asarray(probs), np.asarray(y_true)
    pred, conf = probs.argmax(1), probs.max(1)
    order = np.lexsort((conf, pred == y_true)) if errors_first else np.argsort(conf)
    options = [(f"{'ERROR ' if pred[i] != y_true[i] else ''}{classes[y_true[i]]} -> {classes[pred[i]]} "
                f"({conf[i]:.2f}) {Path(paths[i]).name[:30]}", int(i)) for i in order]

    def show(frame: int = int(order[0])):
        fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3))
        draw_boxes(a, data.open_image(paths[frame]), boxes[frame] if boxes is not None else np.zeros((0, 4)))
        a.set_title(f"true: {classes[y_true[frame]]}", fontsize=9)
        top = np.argsort(-probs[frame])[:k]
        b.barh([classes[c] for c in top][::-1], probs[frame][top][::-1],
               color=["#55A868" if c == y_true[frame] else "#C44E52" for c in top][::-1])
        b.set_xlim(0, 1)
        b.set_xlabel("probability")
        b.set_title(f"{title}: top-{k}", fontsize=9)
        fig.tight_layout()
        plt.show()
        return fig

    browser = panel(show, "the prediction browser",
                    frame=widgets.Dropdown(options=options, value=int(order[0]), description="frame",
                                           layout=widgets.Layout(width="95%")))
    if not isinstance(browser, StaticPanel):  # a live front end: shown here, as lab 04 keeps it in a variable
        from IPython.display import display

        display(browser)
    return browser
