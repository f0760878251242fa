"""The five questions: a ranked, explained shortlist and the adaptation strategy to start with, and its form."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from ..errors import CourseLibError
from ..widgets import panel
from .pareto import Constraints


# ============================================================================= the five questions
TASKS = ("classification", "detection", "segmentation")
DOMAINS = ("imagenet", "near", "far")
COMPUTE = ("cpu", "mobile", "gpu")
# A rough latency model for unmeasured models: ms per image = overhead + ms per GMAC x GMACs (batch 1).
# "cpu": the order of magnitude of small depthwise networks at batch 1 on 2 CPU cores; dense networks get through
# more GMACs per ms (lab 03 measures it). "gpu" and "mobile" are rough guesses. Every estimate says so in its reason.
MS_PER_GMAC = {"cpu": 20.0, "mobile": 30.0, "gpu": 0.5}
OVERHEAD_MS = {"cpu": 2.0, "mobile": 3.0, "gpu": 3.0}
MOBILE_FAMILIES = ("MobileNet", "EfficientNet-Lite", "EfficientNet", "RegNet")

# The score :func:`recommend` ranks classifiers by, a stated heuristic (not a measurement): ImageNet top-1 points
# traded against doublings of latency, file size and parameters. Each weight is an exchange rate, chosen by hand
# to give the advice the course teaches; lab 03 measures the parts it can.
REFERENCE_TOP1 = 75.0  # about ResNet-50's top-1, the middle of the zoo: accuracy terms stay small numbers around 0
# Score per ImageNet top-1 point, by data regime: with little data a probe cannot use the extra accuracy, with
# plenty it survives fine-tuning.
ACCURACY_WEIGHT = {"tiny": 0.5, "medium": 1.0, "large": 1.5}
FAR_ACCURACY_FACTOR = 0.5  # far from ImageNet its top-1 predicts transfer weakly: it counts half
# Score lost per doubling of batch-1 latency: a CPU or a phone feels every doubling (on a CPU, twice as slow must
# buy 2 top-1 points at medium data); a GPU at batch 1 is mostly fixed overhead.
LATENCY_WEIGHT = {"cpu": 2.0, "mobile": 3.0, "gpu": 0.5}
REALTIME_LATENCY_WEIGHT = 1.0  # added per doubling when every frame must be done in time, not just on average
MIN_LOG_MS = 0.5  # latencies under 0.5 ms count as 0.5 ms: below that, differences are timer noise
MOBILE_SIZE_WEIGHT = 1.0  # on a phone, a point per doubling of the file: it is downloaded, stored and loaded there
MIN_LOG_MB = 1.0  # files under 1 MB count as 1 MB: smaller brings no further gain
TINY_PARAMS_WEIGHT = 0.5  # little data: half a point per doubling of parameters, so the small model starts first
MIN_LOG_PARAMS_M = 1.0  # networks under 1 M parameters count as 1 M: no further credit for being smaller
WEIGHTS_HERE_BONUS = 1.0  # real pretrained weights already on this machine: usable now, offline; breaks near-ties
# Detection and segmentation: mAP or mIoU points lost per doubling of GFLOPs (COCO models are heavy, so a CPU or a
# phone pays more than for a classifier).
TASK_COST_WEIGHT = {"cpu": 3.0, "mobile": 4.0, "gpu": 0.5}
MIN_LOG_GFLOPS = 0.1  # models under 0.1 GFLOPs count as 0.1: the floor of the log


@dataclass(frozen=True)
class Recommendation:
    """One row of the shortlist: a model, its score (higher first), why, and how to start adapting it."""

    model: str
    score: float
    reasons: list[str]
    strategy: str
    facts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reasons"] = " ".join(self.reasons)
        return d


def _check_choice(name: str, value: str, options: Sequence[str]) -> str:
    v = str(value).strip().lower()
    if v not in options:
        raise CourseLibError(f"{name}={value!r}: choose one of {list(options)}.")
    return v


def data_regime(n_per_class: int) -> str:
    """'tiny' (< 100 images per class), 'medium' (< 1000) or 'large'."""
    if n_per_class < 1:
        raise CourseLibError(f"n_per_class must be at least 1, got {n_per_class}.")
    return "tiny" if n_per_class < 100 else "medium" if n_per_class < 1000 else "large"


def strategy_for(n_per_class: int, domain: str = "near") -> str:
    """How to adapt, by data set size (and distance from ImageNet): the advice lab 02 measures."""
    regime = data_regime(n_per_class)
    far = (" Far from ImageNet, probe several stages: mid-level features can beat the last ones."
           if domain == "far" else "")
    if regime == "tiny":
        return ("feature extraction first: a linear probe on frozen, cached features; fine-tune the last stage only "
                "if the probe plateaus, and validate with cross-validation." + far)
    if regime == "medium":
        return ("feature extraction as the baseline, then fine-tune the last stages (backbone learning rate about "
                "10x below the head's)." + far)
    return ("fine-tuning of the whole network (backbone learning rate about 10x below the head's) pays off at this "
            "size." + far)


def _task_models(task: str, compute: str) -> list[Recommendation]:
    """Detection and segmentation: torchvision's COCO-pretrained models, lightest first on cpu/mobile."""
    import torchvision.models as tvm
    from torchvision.models import get_model_weights, list_models

    module = tvm.detection if task == "detection" else tvm.segmentation
    names = list_models(module=module)
    if task == "detection":
        names = [n for n in names if not n.startswith(("keypointrcnn", "maskrcnn"))]
    else:
        names = names + [n for n in list_models(module=tvm.detection) if n.startswith("maskrcnn")]
    rows = []
    for n in names:
        w = get_model_weights(n).DEFAULT
        metrics = next(iter(w.meta["_metrics"].values()))
        quality = metrics.get("box_map") if task == "detection" else metrics.get("miou", metrics.get("mask_map"))
        gflops = float(w.meta.get("_ops", 0.0))
        cost = math.log2(max(gflops, MIN_LOG_GFLOPS))
        score = float(quality) - TASK_COST_WEIGHT[compute] * cost
        metric = "box mAP" if task == "detection" else ("mIoU" if "miou" in metrics else "mask mAP")
        reasons = [f"a classifier zoo is the wrong place for {task}: an image classifier gives one label per image, "
                   f"{'detection needs boxes' if task == 'detection' else 'segmentation needs a label per pixel'}. "
                   f"Start from a {task} model pretrained on COCO; a zoo classifier is only its backbone.",
                   f"{metric} {quality} on {next(iter(w.meta['_metrics']))}, {w.meta['num_params'] / 1e6:.1f} M "
                   f"params, {gflops:g} GFLOPs (torchvision {type(w).__name__}.{w.name})."]
        rows.append(Recommendation(n, round(score, 2), reasons,
                                   "fine-tune the pretrained detector's heads first (torchvision reference recipes); "
                                   "a few hundred labelled boxes per class is a common starting point."
                                   if task == "detection" else
                                   "replace the classifier head for your classes and fine-tune it first, then the "
                                   "decoder; freeze the backbone while data is scarce.",
                                   {"quality": quality, "params_m": w.meta["num_params"] / 1e6, "gflops": gflops}))
    return sorted(rows, key=lambda r: -r.score)


def estimate_ms(gflops: float | None, compute: str) -> float | None:
    """A rough batch-1 latency from published GMACs (see MS_PER_GMAC): an order of magnitude, not a measurement."""
    if gflops is None or (isinstance(gflops, float) and math.isnan(gflops)):
        return None
    return OVERHEAD_MS[compute] + MS_PER_GMAC[compute] * float(gflops)


def recommend(task: str = "classification", domain: str = "near", n_per_class: int = 100, compute: str = "cpu",
              latency_ms: float | None = None, realtime: bool = False, fps: float = 30.0,
              domain_model: str | None = None, measured: Mapping[str, float] | None = None, top: int = 5,
              zoo=None) -> list[Recommendation]:
    """A ranked, explained shortlist from the five practitioner questions.

    1. ``task``: classification, detection or segmentation (the last two: torchvision's COCO models, since a
       classifier zoo is the wrong place for them).
    2. Closest pretrained model in task and data: ``domain`` says how far your images are from ImageNet photos
       ('imagenet': the same kind of classes, 'near': photos, 'far': X-rays, satellite, microscopy);
       ``domain_model`` names a model pretrained on data like yours, which then ranks first.
    3. ``n_per_class``: labelled images per class (sets the strategy and how much ImageNet accuracy counts).
    4. ``compute``: cpu, mobile or gpu, and ``latency_ms``: a per-image budget at batch 1.
    5. ``realtime`` with ``fps``: a per-frame budget of 1000 / fps ms.

    ``measured`` maps model names to batch-1 ms measured on the target machine (``measure_zoo``); other models get
    a rough estimate from their GMACs. Score (higher is better, a stated heuristic): ImageNet top-1 weighted by data
    size and domain, minus log2 latency weighted by compute and real time, minus log2 size on mobile, minus log2
    parameters on tiny data, plus 1 if real weights are on this machine. Over-budget models are left out. The
    weights are this module's constants (:data:`ACCURACY_WEIGHT`, :data:`LATENCY_WEIGHT` and the others), each with
    why it has its value.
    """
    task = _check_choice("task", task, TASKS)
    domain = _check_choice("domain", domain, DOMAINS)
    compute = _check_choice("compute", compute, COMPUTE)
    regime = data_regime(int(n_per_class))
    if task != "classification":
        return _task_models(task, compute)[:top]
    if realtime and (fps is None or fps <= 0):
        raise CourseLibError(f"realtime=True needs a frame rate: fps={fps!r}.")
    ask = _Answers(domain, compute, regime, realtime, fps,
                   Constraints(latency_ms, None, None, fps if realtime else None).budget_ms,
                   strategy_for(int(n_per_class), domain))
    if zoo is None:
        from ..models import zoo_table

        zoo = zoo_table()
    measured = dict(measured or {})
    out, over = [], []
    for name, e in zoo.iterrows():
        latency = _latency(name, e, measured, compute)
        if latency is None:
            continue
        if ask.budget_ms is not None and latency[0] > ask.budget_ms:
            over.append((latency[0], name))
            continue
        if compute == "mobile" and e["family"] not in MOBILE_FAMILIES:
            continue
        out.append(_classifier_row(name, e, *latency, name in measured, ask))
    out.sort(key=lambda r: -r.score)
    return _with_domain_model_and_fallback(out, over, domain_model, ask)[:top]


@dataclass(frozen=True)
class _Answers:
    """The answers :func:`recommend` scores every classifier against (checked, with what follows from them)."""

    domain: str
    compute: str
    regime: str
    realtime: bool
    fps: float
    budget_ms: float | None
    strategy: str


def _latency(name: str, e, measured: Mapping[str, float], compute: str) -> tuple[float, str] | None:
    """Batch-1 ms of zoo model `name` and the reason that says where it comes from: measured here when `measured`
    has it, else estimated from its GMACs (None: no GMACs to estimate from)."""
    if name in measured:
        ms = float(measured[name])
        return ms, f"{ms:.1f} ms per image measured at batch 1."
    ms = estimate_ms(e.get("gflops"), compute)
    if ms is None:
        return None
    return ms, (f"about {ms:.0f} ms per image on {compute}, estimated from {e['gflops']:g} GMACs "
                "(not measured).")


def _classifier_row(name: str, e, ms: float, latency_reason: str, was_measured: bool,
                    ask: _Answers) -> Recommendation:
    """One zoo classifier within budget, scored (see the weights above) and explained."""
    w_acc = ACCURACY_WEIGHT[ask.regime] * (FAR_ACCURACY_FACTOR if ask.domain == "far" else 1.0)
    w_cost = LATENCY_WEIGHT[ask.compute] + (REALTIME_LATENCY_WEIGHT if ask.realtime else 0.0)
    score = w_acc * (float(e["top1"]) - REFERENCE_TOP1) - w_cost * math.log2(max(ms, MIN_LOG_MS))
    reasons = [f"ImageNet top-1 {e['top1']:.1f}% ({e['weights']}), {e['params_m']:.1f} M params, "
               f"{e['file_mb']:.0f} MB.", latency_reason]
    if ask.budget_ms is not None:
        reasons.append(f"fits the {ask.budget_ms:.0f} ms budget" + (f" of {ask.fps:g} fps" if ask.realtime else "")
                       + ".")
    if ask.compute == "mobile":
        score -= MOBILE_SIZE_WEIGHT * math.log2(max(float(e["file_mb"]), MIN_LOG_MB))
        reasons.append(f"{e['family']} is built for phones (depthwise convolutions, small file).")
    if ask.regime == "tiny":
        score -= TINY_PARAMS_WEIGHT * math.log2(max(float(e["params_m"]), MIN_LOG_PARAMS_M))
        reasons.append("little data: ImageNet accuracy counts less, and a small model is the place to start "
                       "(lab 03 measures whether the bigger one pays off).")
    elif ask.regime == "large":
        reasons.append("plenty of data: a larger, more accurate model can pay off once fine-tuned.")
    if ask.domain == "far":
        reasons.append("far from ImageNet: ImageNet top-1 predicts transfer weakly here; score candidates on your "
                       "data (LogME, a linear probe) before choosing.")
    if str(e.get("weights_here", "")).startswith("yes"):
        score += WEIGHTS_HERE_BONUS
        reasons.append("real pretrained weights are on this machine.")
    return Recommendation(str(name), round(score, 2), reasons, ask.strategy,
                          {"top1": float(e["top1"]), "params_m": float(e["params_m"]),
                           "file_mb": float(e["file_mb"]), "ms": round(ms, 2), "measured": was_measured})


def _with_domain_model_and_fallback(out: list[Recommendation], over: list[tuple[float, str]],
                                    domain_model: str | None, ask: _Answers) -> list[Recommendation]:
    """The ranked shortlist with the model pretrained on data like the user's first, and, when nothing fits the
    budget, the fastest model over it with what to do."""
    if domain_model:
        out.insert(0, Recommendation(domain_model, math.inf, [
            "pretrained on data like yours: the closest source task beats any ImageNet model's top-1; check its "
            "license and input format, and compare it with the best ImageNet candidate on a linear probe."],
            ask.strategy, {}))
    if not out and over:
        ms, name = min(over)
        out.append(Recommendation(name, -math.inf, [f"nothing fits the {ask.budget_ms:.0f} ms budget; the fastest "
                                                    f"model takes {ms:.1f} ms. Relax the budget, lower the input "
                                                    "size, or quantise."], ask.strategy, {"ms": ms}))
    return out


def recommendation_table(rows: Sequence[Recommendation]):
    """The shortlist as a DataFrame (one row per model, reasons joined)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in rows]).set_index("model") if rows else pd.DataFrame()


def recommend_form(measured: Mapping[str, float] | None = None, zoo=None, **defaults):
    """The five questions as an ipywidget form showing the shortlist table; without a widget front end it is drawn
    once with the defaults as ordinary output (``widgets.panel``).

    ``form.result`` holds the last shortlist (a list of :class:`Recommendation`).
    """
    import ipywidgets as widgets

    if zoo is None:
        from ..models import zoo_table

        zoo = zoo_table()
    d = {"task": "classification", "domain": "near", "n_per_class": 100, "compute": "cpu", "latency_ms": 0.0,
         "realtime": False, "fps": 30.0, **defaults}

    def show(task, domain, n_per_class, compute, latency_ms, realtime, fps):
        rows = recommend(task=task, domain=domain, n_per_class=n_per_class, compute=compute,
                         latency_ms=latency_ms or None, realtime=realtime, fps=fps, measured=measured, zoo=zoo)
        table = recommendation_table(rows)
        try:
            from IPython.display import display

            display(table[["score", "strategy", "reasons"]] if len(table) else "no model fits")
        except ImportError:
            print(table)
        return rows

    return panel(
        show, "the five-question form",
        task=widgets.Dropdown(options=TASKS, value=d["task"], description="1. problem"),
        domain=widgets.Dropdown(options=DOMAINS, value=d["domain"], description="2. domain"),
        n_per_class=widgets.IntSlider(value=d["n_per_class"], min=5, max=5000, step=5, description="3. per class"),
        compute=widgets.Dropdown(options=COMPUTE, value=d["compute"], description="4. compute"),
        latency_ms=widgets.FloatSlider(value=d["latency_ms"], min=0.0, max=500.0, step=5.0, description="ms (0: any)"),
        realtime=widgets.Checkbox(value=d["realtime"], description="5. real time"),
        fps=widgets.FloatSlider(value=d["fps"], min=1.0, max=120.0, step=1.0, description="fps"))
