"""The compute budget as a control: what each route of the wildlife case study costs for a data set of a given
size, on this machine (from what lab 04 measured) or on one GPU node (the same measurements scaled by published
throughput figures), which routes fit a budget, and which one is expected to win.

Measured and estimated stay apart: every row says whether its cost and its accuracy were measured here or
estimated, and from what (``cost_estimated``, ``accuracy_estimated`` and the two ``*_basis`` columns).

The published figures (:data:`PUBLISHED`) are estimates for this kit, not measurements: read each one's source.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..widgets import panel
from .pipeline import GPU_ASSUMPTIONS

DEVICES = ("this CPU", "GPU node")
SWIN_DETECTOR_PIXELS = 800 * 1333          # the input a COCO Swin detector runs at (shorter side 800)

# Published figures the budget uses where this machine cannot measure: estimates, each with its source.
PUBLISHED = {
    "classifier_gpu": {"value": GPU_ASSUMPTIONS["classifier"]["images_per_second"], "unit": "images/s, 224 px",
                       "what": "EfficientNet-Lite0 inference on an NVIDIA RTX 3090 (AMP, large batches)",
                       "source": GPU_ASSUMPTIONS["classifier"]["source"]},
    "swin_t_gpu": {"value": 755.2, "unit": "images/s, 224 px",
                   "what": "Swin-T, the backbone of the texts' detector, on an NVIDIA V100",
                   "source": "Liu et al. 2021, Swin Transformer (ICCV), Table 1"},
    "swin_t_detector_gpu": {"value": 15.3, "unit": "frames/s, about 800x1333 px",
                            "what": "Cascade Mask R-CNN with a Swin-T backbone, COCO, on an NVIDIA V100",
                            "source": "Liu et al. 2021, Swin Transformer (ICCV), Table 2"},
    "scratch_schedule": {"value": 3.0, "unit": "x the fine-tune's epochs",
                         "what": "from random weights, COCO detectors matched ImageNet-pretrained ones only with "
                                 "about three times the training iterations",
                         "source": "He, Girshick and Dollar 2019, Rethinking ImageNet Pre-training (ICCV)"},
    "scratch_min_images": {"value": 10_000, "unit": "labelled images",
                           "what": "with fewer training images (about a tenth of COCO and below) training from "
                                   "scratch fell behind pretraining whatever the schedule",
                           "source": "He, Girshick and Dollar 2019"},
    "crop_gain_macro_f1": {"value": 0.25, "unit": "relative macro-F1 gain",
                           "what": "adding a species-agnostic detector before the classifier, on a large "
                                   "long-tailed camera-trap set (reproduced on two public sets)",
                           "source": "Gadot et al. 2024, To crop or not to crop (IET Computer Vision)"},
    "crop_f1_norman": {"value": (0.77, 0.47), "unit": "F1, crops vs whole images",
                       "what": "a CNN on Bornean camera-trap images cropped to their boxes against whole images",
                       "source": "Norman et al. 2023, Methods in Ecology and Evolution 14(1)"},
}


@dataclasses.dataclass(frozen=True)
class MeasuredCosts:
    """What lab 04 measured on this machine: ms per frame at batch 1 (classifier at ``input_size``, the light
    detector on a frame, the Swin-T backbone at 224 px), training seconds per image per epoch (fine-tune, scratch),
    and the val accuracy of each pipeline on the event split (keys ``probe``, ``fine-tune``, ``scratch``,
    ``detect+crop (stand-in)``)."""
    ms_classifier: float
    ms_detector: float
    ms_swin_224: float
    s_train_fine_tune: float
    s_train_scratch: float
    input_size: int
    accuracy: dict
    crops_per_frame: float = 2.0


def gpu_speedups(m: MeasuredCosts) -> dict:
    """Estimated GPU-node speed-ups over this CPU: published GPU throughput over this machine's measured one, for
    the same network at the same size (EfficientNet-Lite0, scaled to 224 px by pixels; Swin-T at 224 px)."""
    clf_ms_224 = m.ms_classifier * (224 / m.input_size) ** 2
    return {"classifier": clf_ms_224 / 1e3 * PUBLISHED["classifier_gpu"]["value"],
            "detector": m.ms_swin_224 / 1e3 * PUBLISHED["swin_t_gpu"]["value"]}


def _seconds_per_image(m: MeasuredCosts, device: str) -> dict:
    """Seconds per image of each stage on `device`, and whether that figure is an estimate."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    swin_cpu = m.ms_swin_224 / 1e3 * SWIN_DETECTOR_PIXELS / 224 ** 2          # backbone alone: a floor
    s = {"clf": m.ms_classifier / 1e3, "det": m.ms_detector / 1e3, "swin": swin_cpu,
         "ft": m.s_train_fine_tune, "sc": m.s_train_scratch}
    if device == "this CPU":
        return {**s, "estimated": False}
    up = gpu_speedups(m)
    return {"clf": s["clf"] / up["classifier"], "det": s["det"] / up["detector"],
            "swin": 1 / PUBLISHED["swin_t_detector_gpu"]["value"], "ft": s["ft"] / up["classifier"],
            "sc": s["sc"] / up["classifier"], "estimated": True}


def route_costs(m: MeasuredCosts, n_images: int, n_labelled: int, device: str = "this CPU",
                epochs: int = 15) -> pd.DataFrame:
    """Hours each route needs on `device` to train on `n_labelled` images and then run on `n_images` frames.

    Routes: the pretrained classifier read by a probe (training = one forward pass per labelled image) or
    fine-tuned (`epochs` x the measured seconds per training image); the same network from scratch (x the
    published longer schedule); detect-crop-classify with the light detector measured here; and the texts' HPC
    answer, a COCO Swin-T detector before the classifier (on this CPU its cost is a floor: the backbone measured
    at 224 px, scaled by pixels; on a GPU node the published frame rate). Costs on a GPU node are estimates
    (:func:`gpu_speedups`); so are the Swin detector's and the scratch schedule's anywhere."""
    s, crops = _seconds_per_image(m, device), m.crops_per_frame
    sched = PUBLISHED["scratch_schedule"]["value"]
    det_run, swin_run = s["det"] + crops * s["clf"], s["swin"] + crops * s["clf"]
    rows = [("classifier: pretrained features + probe", n_labelled * s["clf"], s["clf"], s["estimated"]),
            ("classifier: fine-tuned", n_labelled * epochs * s["ft"], s["clf"], s["estimated"]),
            ("from scratch, same network", n_labelled * epochs * sched * s["sc"], s["clf"], True),
            ("detect + crop + classify: light detector", n_labelled * det_run, det_run, s["estimated"]),
            ("detect + crop + classify: Swin-T COCO (HPC answer)", n_labelled * swin_run, swin_run, True)]
    out = pd.DataFrame([{"route": r, "train_h": tr / 3600, "run_h": n_images * run / 3600, "cost_estimated": est}
                        for r, tr, run, est in rows])
    out["total_h"] = out["train_h"] + out["run_h"]
    out["cost_basis"] = [_cost_basis(r, device) for r in out["route"]]
    acc = [_route_accuracy(r, m.accuracy, n_labelled) for r in out["route"]]
    out["accuracy"], out["accuracy_estimated"], out["accuracy_basis"] = zip(*acc)
    out.attrs.update(device=device, n_images=n_images, n_labelled=n_labelled, epochs=epochs)
    return out


def _cost_basis(route: str, device: str) -> str:
    if "Swin" in route:
        return ("estimate: published V100 frame rate" if device == "GPU node"
                else "estimate (a floor): Swin-T backbone measured here, scaled to 800x1333 px")
    where = "measured per image here" if device == "this CPU" else "estimate: measured here / published GPU speed-up"
    return where + ("; scratch schedule x3 estimated" if "scratch" in route else "")


def _route_accuracy(route: str, acc: dict, n_labelled: int) -> tuple[float, bool, str]:
    """(accuracy, estimated?, basis) of a route: measured on the lab's event split where it was, else estimated."""
    if route.startswith("classifier: pretrained"):
        return float(acc["probe"]), False, "measured, event split"
    if route == "classifier: fine-tuned":
        return float(acc["fine-tune"]), False, "measured, event split"
    if route.startswith("from scratch"):
        if n_labelled < PUBLISHED["scratch_min_images"]["value"]:
            return float(acc["scratch"]), False, "measured, event split (a data set this small)"
        return float(acc["fine-tune"]), True, "estimate: catches the fine-tune up with enough images (He et al. 2019)"
    if "light detector" in route:
        return float(acc["detect+crop (stand-in)"]), False, "measured with perfect stand-in boxes: an upper bound"
    return float(acc["detect+crop (stand-in)"]), True, "estimate: not measured, bounded by the perfect stand-in"


def route_for_budget(m: MeasuredCosts, budget_hours: float, n_images: int, n_labelled: int,
                     device: str = "this CPU", tie: float = 0.0, epochs: int = 15) -> pd.DataFrame:
    """:func:`route_costs` with ``fits`` (total hours within `budget_hours`) and ``expected_winner``: among the
    routes that fit, the most accurate; accuracies within `tie` of the best are a tie and the cheapest of them
    wins. No route fits: no winner (every ``expected_winner`` False). A measured accuracy beats an estimated one
    of the same value (the tie goes to the route whose number was measured here, then to the cheaper)."""
    table = route_costs(m, n_images, n_labelled, device, epochs)
    table["fits"] = table["total_h"] <= budget_hours
    table["expected_winner"] = False
    fits = table[table["fits"]]
    if not fits.empty:
        near = fits[fits["accuracy"] >= fits["accuracy"].max() - tie - 1e-12]
        best = near.sort_values(["accuracy_estimated", "total_h"]).index[0]
        table.loc[best, "expected_winner"] = True
    table.attrs.update(budget_hours=float(budget_hours), tie=tie)
    return table


def winner(table: pd.DataFrame) -> str | None:
    """The expected winner's route name in a :func:`route_for_budget` table, or None when nothing fits."""
    won = table.loc[table["expected_winner"], "route"]
    return str(won.iloc[0]) if len(won) else None


def draw_budget(table: pd.DataFrame, ax=None):
    """Hours of each route (train + run, log scale) against the budget: solid bars measured here, hatched bars
    estimated; green fits, grey does not; the expected winner starred; each accuracy marked measured or estimate."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.subplots(figsize=(9, 3.4))[1]
    y = np.arange(len(table))[::-1]
    for yi, r in zip(y, table.itertuples()):
        ax.barh(yi, r.total_h, color="#55A868" if r.fits else "#BBBBBB", edgecolor="black",
                hatch="///" if r.cost_estimated else None)
        acc = f"{'≈' if r.accuracy_estimated else ''}{r.accuracy:.2f} ({'estimate' if r.accuracy_estimated else 'measured'})"
        ax.text(r.total_h * 1.15, yi, f"{'★ ' if r.expected_winner else ''}accuracy {acc}", va="center", fontsize=8)
    budget = table.attrs.get("budget_hours")
    if budget:
        ax.axvline(budget, color="#C44E52", ls="--", label=f"budget {budget:g} h")
    ax.set_yticks(y, table["route"], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(table["total_h"].min() / 3, budget or np.inf), max(table["total_h"].max(), budget or 0) * 30)
    a = table.attrs
    ax.set_xlabel(f"hours on {a.get('device')}: train on {a.get('n_labelled'):,} + run on {a.get('n_images'):,} frames")
    ax.set_title("Routes against the budget: solid = cost measured here, hatched = estimated", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def budget_panel(m: MeasuredCosts, n_images: int, n_labelled: int, budget_hours: float = 24.0,
                 device: str = "this CPU", tie: float = 0.0):
    """A slider for the budget (hours) and a choice of device; each change redraws :func:`draw_budget`. Built with
    ``widgets.panel``: without a widget front end (papermill, CI) it draws once with these defaults. ``.result``
    is ``{"table": the route_for_budget table, "figure": the figure}`` of the last drawing."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(budget_hours: float = budget_hours, device: str = device):
        table = route_for_budget(m, budget_hours, n_images, n_labelled, device, tie)
        fig = draw_budget(table)
        plt.show()
        return {"table": table, "figure": fig}

    return panel(show, "the budget panel",
                 budget_hours=widgets.FloatLogSlider(value=budget_hours, base=10, min=-1, max=5, step=0.05,
                                                     description="budget (h)"),
                 device=widgets.Dropdown(options=list(DEVICES), value=device, description="device"))
