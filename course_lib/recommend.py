"""Choosing a pretrained model: quoted figures checked, speed measured here, constraints, and the five questions.

- :data:`QUOTED_FIGURES` holds figures as course texts quote them, each with where it most likely comes from;
  :func:`fact_check` puts them beside torchvision's weight metadata and says where they disagree and why.
- :func:`measure_zoo` times zoo models on this machine (random weights: speed does not depend on them) with
  interleaved repeats; :func:`pareto_front`, :func:`shortlist` and :func:`plot_pareto` turn the table into a choice,
  and :func:`constraint_panel` is the same as an ipywidget.
- :func:`recommend` answers the practitioner's five questions (problem type; closest pretrained model in task and
  data; data set size; compute and latency budget; real time) with a ranked, explained shortlist and the adaptation
  strategy to start with; :func:`recommend_form` is its widget. Its scoring is a stated heuristic, not a
  measurement: lab 03 measures the parts it can (speed here, "start small", transferability).

Used in: 03.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import CourseLibError

# ============================================================================= quoted figures
@dataclass(frozen=True)
class QuotedFigure:
    """A figure as course texts and blog posts quote it, with the weights it should be compared with."""

    model: str                 # torchvision name of the architecture
    quote: str                 # the sentence as usually quoted
    top1: float | None         # %
    file_mb: float | None
    params_m: float | None
    source: str                # where the quote most likely comes from
    compare_with: tuple[str, ...]  # torchvision weight tags to compare with, first = closest


KERAS_TABLE = ("Keras Applications table (keras.io/api/applications): Keras' own weights, top-1 as Keras evaluated "
               "them, Size = the .h5 file with the top layer")
QUOTED_FIGURES: tuple[QuotedFigure, ...] = (
    QuotedFigure("resnet50", "ResNet-50: top-1 74.9%, 98 MB, 26 M params", 74.9, 98.0, 26.0, KERAS_TABLE + "; "
                 "those weights were converted from the original Caffe release of He et al. 2015",
                 ("IMAGENET1K_V1", "IMAGENET1K_V2")),
    QuotedFigure("efficientnet_b0", "EfficientNet: 77.1%, 29 MB, 5 M params", 77.1, 29.0, 5.0, KERAS_TABLE + "; "
                 "77.1% is also the top-1 Tan & Le 2019 report for B0", ("IMAGENET1K_V1",)),
    QuotedFigure("inception_v3", "Inception-v3: 77.9%, 92 MB, 24 M params", 77.9, 92.0, 24.0, KERAS_TABLE,
                 ("IMAGENET1K_V1",)),
    QuotedFigure("vit_b_16", "ViT: 86 M params, 85.8% top-1", 85.8, None, 86.0, "slides and blog posts; no "
                 "ImageNet-1k-only ViT-B/16 in torchvision or the ViT paper reaches it: the figure belongs to "
                 "larger pre-training data (ImageNet-21k or more) and higher resolution, quoted with the base "
                 "model's parameter count", ("IMAGENET1K_V1", "IMAGENET1K_SWAG_E2E_V1")),
)


def _weights(model: str, tag: str):
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(model)[tag]
    except KeyError:
        raise CourseLibError(f"torchvision has no weights {tag!r} for {model!r}.") from None


def _params_without_aux(model: str) -> float | None:
    """Inception-v3's parameters without the auxiliary classifier (Keras counts none): built, not looked up."""
    if model != "inception_v3":
        return None
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False)
    return sum(p.numel() for p in net.parameters()) / 1e6


def fact_check(quoted: Sequence[QuotedFigure] = QUOTED_FIGURES, tolerance_top1: float = 0.5,
               tolerance_rel: float = 0.05):
    """Quoted figures beside torchvision's metadata, one row per (quote, weights), with differences and notes.

    ``float32_mib`` = parameters x 4 bytes / 2^20: what the weights alone occupy, to compare file sizes with.
    ``agrees`` is True when top-1 is within `tolerance_top1` points and size and parameters within
    `tolerance_rel` (missing quotes are not held against it).
    """
    import pandas as pd

    rows = []
    for q in quoted:
        no_aux = _params_without_aux(q.model)
        for tag in q.compare_with:
            w = _weights(q.model, tag)
            meta = w.meta
            top1 = meta["_metrics"]["ImageNet-1K"]["acc@1"]
            params = meta["num_params"] / 1e6
            file_mb = meta.get("_file_size")
            size = w.transforms().crop_size[0]
            diffs = {"d_top1": None if q.top1 is None else q.top1 - top1,
                     "d_file_mb": None if q.file_mb is None or file_mb is None else q.file_mb - file_mb,
                     "d_params_m": None if q.params_m is None else q.params_m - params}
            ok = ((q.top1 is None or abs(q.top1 - top1) <= tolerance_top1)
                  and (q.file_mb is None or file_mb is None or abs(q.file_mb - file_mb) <= tolerance_rel * file_mb)
                  and (q.params_m is None or abs(q.params_m - params) <= tolerance_rel * params))
            rows.append({"model": q.model, "quote": q.quote, "weights": tag, "input_px": size,
                         "quoted_top1": q.top1, "meta_top1": top1, "quoted_file_mb": q.file_mb, "meta_file_mb": file_mb,
                         "quoted_params_m": q.params_m, "meta_params_m": round(params, 3),
                         "params_m_without_aux": None if no_aux is None else round(no_aux, 3),
                         "float32_mib": round(params * 1e6 * 4 / 2**20, 2), **diffs, "agrees": bool(ok),
                         "quote_source": q.source, "meta_source": f"torchvision {type(w).__name__}.{tag}.meta"})
    return pd.DataFrame(rows)


def explain_disagreements(table) -> list[str]:
    """One sentence per quote, computed from :func:`fact_check`'s table: what differs, and the likely reason."""
    notes = []
    for model, rows in table.groupby("model", sort=False):
        first = rows.iloc[0]
        parts = []
        for _, r in rows.iterrows():
            if r.quoted_top1 is not None and not math.isnan(r.quoted_top1):
                parts.append(f"top-1 {r.quoted_top1:g} vs {r.meta_top1:g} ({r.weights}, {r.input_px} px)")
        if first.quoted_params_m is not None and not math.isnan(first.quoted_params_m):
            p = f"params {first.quoted_params_m:g} M vs {first.meta_params_m:.1f} M"
            if first.params_m_without_aux is not None and not math.isnan(first.params_m_without_aux):
                p += f" ({first.params_m_without_aux:.1f} M without the auxiliary classifier, which Keras leaves out)"
            parts.append(p)
        if first.quoted_file_mb is not None and not math.isnan(first.quoted_file_mb):
            f = f"file {first.quoted_file_mb:g} MB vs {first.meta_file_mb:.1f} MB"
            if first.quoted_file_mb > 1.2 * first.float32_mib:
                f += f" (more than the {first.float32_mib:.1f} MiB its float32 weights need: a file format's size)"
            parts.append(f)
        notes.append(f"{model}: " + "; ".join(parts) + ". Source: " + first.quote_source + ".")
    return notes


# ============================================================================= speed measured here
def measure_zoo(names: Sequence[str], input_size: int | None = None, batch_sizes: Sequence[int] = (1, 32),
                steps: Mapping[int, int] | int = 10, warmup: Mapping[int, int] | int = 2, repeats: int = 2,
                threads: int | None = None, device: Any = None, progress: bool = False):
    """Latency (batch 1) and throughput (batch 32) of each model on this machine, with random weights.

    Repeats are interleaved (every model once, then every model again), so load from other processes hits all
    models alike; the table keeps the median over repeats and the spread (max - min) of batch-1 latency.
    ``input_size`` None: each model's own size from the zoo; ``device`` None: ``env.pick_device()``. Models come
    from ``models.load_model(name, pretrained=False)``, so torchvision and timm names both work. Columns:
    ``ms_bs1``, ``ms_bs1_spread``, ``ms_bs1_all`` (every repeat), ``img_s_bs32`` (for each batch size),
    ``params_m`` counted, and the zoo's published facts.
    """
    import pandas as pd
    import torch

    from . import bench, env, models

    if threads:
        env.set_threads(threads)
    steps = steps if isinstance(steps, Mapping) else {b: int(steps) for b in batch_sizes}
    warmup = warmup if isinstance(warmup, Mapping) else {b: int(warmup) for b in batch_sizes}
    nets, sizes = {}, {}
    for name in names:
        nets[name] = models.load_model(name, pretrained=False)
        try:
            sizes[name] = input_size or models.get_entry(name).input_size
        except CourseLibError:
            sizes[name] = input_size or 224
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in names for b in batch_sizes}
    for r in range(repeats):
        for name in names:
            for b in batch_sizes:
                lat = bench.measure_latency(nets[name], batch_size=b, input_size=sizes[name], warmup=warmup[b],
                                            steps=steps[b], device=device)
                times[(name, b)].append(lat.ms_per_batch)
                if progress:
                    print(f"repeat {r + 1}/{repeats} {name} batch {b}: {lat.ms_per_batch:.1f} ms")
    rows = []
    for name in names:
        row: dict[str, Any] = {"name": name, "img_size": sizes[name],
                               "params_m": round(bench.count_parameters(nets[name]) / 1e6, 3)}
        for b in batch_sizes:
            ms = times[(name, b)]
            row[f"ms_bs{b}"] = float(np.median(ms))
            row[f"img_s_bs{b}"] = b * 1e3 / float(np.median(ms))
            if b == 1:
                row["ms_bs1_spread"] = float(max(ms) - min(ms))
                row["ms_bs1_all"] = [round(v, 3) for v in ms]
        try:
            e = models.get_entry(name)
            row.update(top1=e.top1, file_mb=e.file_mb, gflops=e.gflops, family=e.family)
        except CourseLibError:
            row.update(top1=None, file_mb=None, gflops=None, family=None)
        rows.append(row)
    row0 = {"threads": torch.get_num_threads(), "repeats": repeats, "device": lat.device}
    return pd.DataFrame(rows).assign(**row0).set_index("name")


# ============================================================================= choosing under constraints
def pareto_front(table, cost: str, gain: str = "top1"):
    """Boolean Series: True for models no other model beats on both axes (lower `cost`, higher `gain`).

    A model is dominated when another has cost <= and gain >= with at least one strict. Rows with a missing
    value are never on the front.
    """
    import pandas as pd

    c = table[cost].astype(float).to_numpy()
    g = table[gain].astype(float).to_numpy()
    ok = np.isfinite(c) & np.isfinite(g)
    front = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (c <= c[i]) & (g >= g[i]) & ((c < c[i]) | (g > g[i]))
        front[i] = not dominated.any()
    return pd.Series(front, index=table.index, name=f"pareto_{cost}")


@dataclass(frozen=True)
class Constraints:
    """What a deployment allows. None = no limit. ``fps`` turns into a per-image budget of 1000 / fps ms."""

    max_ms: float | None = None
    max_mb: float | None = None
    min_top1: float | None = None
    fps: float | None = None

    @property
    def budget_ms(self) -> float | None:
        limits = [v for v in (self.max_ms, None if not self.fps else 1000.0 / self.fps) if v]
        return min(limits) if limits else None


def shortlist(table, max_ms: float | None = None, max_mb: float | None = None, min_top1: float | None = None,
              fps: float | None = None, ms_col: str = "ms_bs1", mb_col: str = "file_mb", top1_col: str = "top1"):
    """The models that meet every constraint, most accurate first.

    ``fps`` (real time) means at most 1000/fps ms per image, combined with ``max_ms`` by the stricter. A model
    whose latency (or size, accuracy) is unknown is left out once that constraint is set: it cannot be checked.
    """
    import pandas as pd

    for name, v in (("max_ms", max_ms), ("max_mb", max_mb), ("fps", fps)):
        if v is not None and v <= 0:
            raise CourseLibError(f"{name} must be positive, got {v}; use None for no limit.")
    budget = Constraints(max_ms, max_mb, min_top1, fps).budget_ms
    keep = pd.Series(True, index=table.index)
    if budget is not None:
        keep &= table[ms_col].astype(float) <= budget
    if max_mb is not None:
        keep &= table[mb_col].astype(float) <= max_mb
    if min_top1 is not None:
        keep &= table[top1_col].astype(float) >= min_top1
    return table[keep.fillna(False)].sort_values(top1_col, ascending=False)


def plot_pareto(table, cost: str, gain: str = "top1", ax=None, logx: bool = True, highlight: Iterable[str] = (),
                budget: float | None = None, xlabel: str | None = None, title: str | None = None):
    """Each model as a point (cost vs gain), the Pareto front as a line, `highlight`ed names ringed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    data = table[[cost, gain]].astype(float).dropna()
    front = pareto_front(data, cost, gain)
    highlight = set(highlight)
    ax.scatter(data[cost], data[gain], color="#999999", s=28, label="dominated", zorder=2)
    on = data[front].sort_values(cost)
    ax.scatter(on[cost], on[gain], color="#C44E52", s=40, label="Pareto front", zorder=3)
    ax.step(on[cost], on[gain], where="post", color="#C44E52", lw=1.2, zorder=1)
    for name, (x, y) in data.iterrows():
        ax.annotate(name.replace("tf_efficientnet_", ""), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if name in highlight:
            ax.scatter([x], [y], s=140, facecolors="none", edgecolors="#4C72B0", lw=1.6, zorder=4)
    if highlight:
        ax.scatter([], [], s=140, facecolors="none", edgecolors="#4C72B0", lw=1.6, label="shortlisted")
    if budget is not None:
        ax.axvline(budget, ls="--", color="grey", lw=1, label=f"budget {budget:g}")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or cost)
    ax.set_ylabel("ImageNet top-1 (%)" if gain == "top1" else gain)
    ax.set_title(title or f"{gain} vs {cost}")
    ax.legend(fontsize=7, loc="best")
    return ax


def constraint_panel(table, ms_col: str = "ms_bs1", max_ms: float = 50.0, max_mb: float = 100.0,
                     min_top1: float = 70.0, fps: float = 0.0):
    """An ipywidget: sliders for max ms per image, max MB, min top-1 and fps; it plots and lists the shortlist.

    Built the same with or without a browser; ipywidgets draws the defaults once when it is built, and
    ``panel.result`` holds that shortlist (what CI and tests read). fps = 0 means no real-time need.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def draw(max_ms=max_ms, max_mb=max_mb, min_top1=min_top1, fps=fps):
        picked = shortlist(table, max_ms=max_ms, max_mb=max_mb, min_top1=min_top1, fps=fps or None, ms_col=ms_col)
        budget = Constraints(max_ms, max_mb, min_top1, fps or None).budget_ms
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        plot_pareto(table, ms_col, highlight=picked.index, budget=budget, ax=ax, xlabel="ms per image (batch 1, here)",
                    title=f"{len(picked)} of {len(table)} models meet the constraints")
        fig.tight_layout()
        plt.show()
        try:
            from IPython.display import display

            display(picked[[c for c in (ms_col, "file_mb", "top1") if c in picked]].round(2))
        except ImportError:
            print(picked)
        return picked

    top_ms = float(max(table[ms_col].astype(float).max() * 2, max_ms))
    return widgets.interactive(
        draw,
        max_ms=widgets.FloatSlider(value=max_ms, min=1.0, max=round(top_ms), step=1.0, description="max ms"),
        max_mb=widgets.FloatSlider(value=max_mb, min=5.0, max=600.0, step=5.0, description="max MB"),
        min_top1=widgets.FloatSlider(value=min_top1, min=60.0, max=90.0, step=0.5, description="min top-1"),
        fps=widgets.FloatSlider(value=fps, min=0.0, max=120.0, step=5.0, description="fps (0: none)"))


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
        cost = math.log2(max(gflops, 0.1))
        weight = {"cpu": 3.0, "mobile": 4.0, "gpu": 0.5}[compute]
        score = float(quality) - weight * cost
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
    parameters on tiny data, plus 1 if real weights are on this machine. Over-budget models are left out.
    """
    task = _check_choice("task", task, TASKS)
    domain = _check_choice("domain", domain, DOMAINS)
    compute = _check_choice("compute", compute, COMPUTE)
    regime = data_regime(int(n_per_class))
    if task != "classification":
        return _task_models(task, compute)[:top]
    if realtime and (fps is None or fps <= 0):
        raise CourseLibError(f"realtime=True needs a frame rate: fps={fps!r}.")
    budget = Constraints(latency_ms, None, None, fps if realtime else None).budget_ms
    strategy = strategy_for(int(n_per_class), domain)

    if zoo is None:
        from .models import zoo_table

        zoo = zoo_table()
    measured = dict(measured or {})
    w_acc = {"tiny": 0.5, "medium": 1.0, "large": 1.5}[regime] * (0.5 if domain == "far" else 1.0)
    w_cost = {"cpu": 2.0, "mobile": 3.0, "gpu": 0.5}[compute] + (1.0 if realtime else 0.0)
    out, over = [], []
    for name, e in zoo.iterrows():
        reasons = []
        if name in measured:
            ms = float(measured[name])
            reasons.append(f"{ms:.1f} ms per image measured at batch 1.")
        else:
            ms = estimate_ms(e.get("gflops"), compute)
            if ms is None:
                continue
            reasons.append(f"about {ms:.0f} ms per image on {compute}, estimated from {e['gflops']:g} GMACs "
                           "(not measured).")
        if budget is not None and ms > budget:
            over.append((ms, name))
            continue
        if compute == "mobile" and e["family"] not in MOBILE_FAMILIES:
            continue
        score = w_acc * (float(e["top1"]) - 75.0) - w_cost * math.log2(max(ms, 0.5))
        reasons.insert(0, f"ImageNet top-1 {e['top1']:.1f}% ({e['weights']}), {e['params_m']:.1f} M params, "
                          f"{e['file_mb']:.0f} MB.")
        if budget is not None:
            reasons.append(f"fits the {budget:.0f} ms budget" + (f" of {fps:g} fps" if realtime else "") + ".")
        if compute == "mobile":
            score -= math.log2(max(float(e["file_mb"]), 1.0))
            reasons.append(f"{e['family']} is built for phones (depthwise convolutions, small file).")
        if regime == "tiny":
            score -= 0.5 * math.log2(max(float(e["params_m"]), 1.0))
            reasons.append("little data: ImageNet accuracy counts less, and a small model is the place to start "
                           "(lab 03 measures whether the bigger one pays off).")
        elif regime == "large":
            reasons.append("plenty of data: a larger, more accurate model can pay off once fine-tuned.")
        if domain == "far":
            reasons.append("far from ImageNet: ImageNet top-1 predicts transfer weakly here; score candidates on your "
                           "data (LogME, a linear probe) before choosing.")
        if str(e.get("weights_here", "")).startswith("yes"):
            score += 1.0
            reasons.append("real pretrained weights are on this machine.")
        out.append(Recommendation(str(name), round(score, 2), reasons, strategy,
                                  {"top1": float(e["top1"]), "params_m": float(e["params_m"]),
                                   "file_mb": float(e["file_mb"]), "ms": round(ms, 2), "measured": name in measured}))
    out.sort(key=lambda r: -r.score)
    if domain_model:
        out.insert(0, Recommendation(domain_model, math.inf, [
            "pretrained on data like yours: the closest source task beats any ImageNet model's top-1; check its "
            "license and input format, and compare it with the best ImageNet candidate on a linear probe."],
            strategy, {}))
    if not out and over:
        ms, name = min(over)
        out.append(Recommendation(name, -math.inf, [f"nothing fits the {budget:.0f} ms budget; the fastest model "
                                                    f"takes {ms:.1f} ms. Relax the budget, lower the input size, or "
                                                    "quantise."], strategy, {"ms": ms}))
    return out[:top]


def recommendation_table(rows: Sequence[Recommendation]):
    """The shortlist as a DataFrame (one row per model, reasons joined)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in rows]).set_index("model") if rows else pd.DataFrame()


def recommend_form(measured: Mapping[str, float] | None = None, zoo=None, **defaults):
    """The five questions as an ipywidget form; it shows the shortlist table, drawn once with the defaults when built.

    ``form.result`` holds the last shortlist (a list of :class:`Recommendation`).
    """
    import ipywidgets as widgets

    if zoo is None:
        from .models import zoo_table

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

    return widgets.interactive(
        show,
        task=widgets.Dropdown(options=TASKS, value=d["task"], description="1. problem"),
        domain=widgets.Dropdown(options=DOMAINS, value=d["domain"], description="2. domain"),
        n_per_class=widgets.IntSlider(value=d["n_per_class"], min=5, max=5000, step=5, description="3. per class"),
        compute=widgets.Dropdown(options=COMPUTE, value=d["compute"], description="4. compute"),
        latency_ms=widgets.FloatSlider(value=d["latency_ms"], min=0.0, max=500.0, step=5.0, description="ms (0: any)"),
        realtime=widgets.Checkbox(value=d["realtime"], description="5. real time"),
        fps=widgets.FloatSlider(value=d["fps"], min=1.0, max=120.0, step=1.0, description="fps"))
