"""Choosing a pretrained model: quoted figures checked, speed measured here, constraints, and the five questions.

- :data:`QUOTED_FIGURES` holds figures as course texts quote them, each with the source it comes from and what that
  source itself states (:class:`SourceFigures`). :func:`source_check` answers "does the quote match its own source?"
  (a fact, with the source named); :func:`weights_difference` says how far each quote is from the torchvision
  weights this kit loads (a difference between two sets of weights, not an error in the quote).
- :func:`measure_zoo` times zoo models on this machine (random weights: speed does not depend on them) with
  interleaved repeats; :func:`record_realtime` turns the batch-1 repeats into per-model verdicts against a frame
  budget; :func:`pareto_front`, :func:`shortlist` and :func:`plot_pareto` turn the table into a choice, and
  :func:`constraint_panel` is the same as an ipywidget.
- :func:`recommend` answers the practitioner's five questions (problem type; closest pretrained model in task and
  data; data set size; compute and latency budget; real time) with a ranked, explained shortlist and the adaptation
  strategy to start with; :func:`recommend_form` is its widget. Its scoring is a stated heuristic, not a
  measurement: lab 03 measures the parts it can (speed here, "start small", transferability).

Used in: 03.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import CourseLibError
from .widgets import panel

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

    from .models.stages import count_parameters

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


# ============================================================================= speed measured here
def measure_zoo(names: Sequence[str], input_size: int | None = None, batch_sizes: Sequence[int] = (1, 32),
                steps: Mapping[int, int] | int = 10, warmup: Mapping[int, int] | int = 2,
                repeats: Mapping[int, int] | int = 2, skip: Mapping[int, Sequence[str]] | None = None,
                threads: int | None = None, device: Any = None, progress: bool = False):
    """Latency (batch 1) and throughput (batch 32) of each model on this machine, with random weights.

    Timing is ``bench.measure_latency`` (timm's benchmark style: untimed warm-up steps, then timed steps, their
    median). Repeats are interleaved (every model once, then every model again), so load from other processes hits
    all models alike; the table keeps the median over repeats and the spread (max - min) of batch-1 latency.
    ``steps``, ``warmup`` and ``repeats`` may differ per batch size (a mapping); ``skip={32: [...]}`` leaves models
    out of one batch size (their columns stay empty). ``input_size`` None: each model's own size from the zoo;
    ``device`` None: ``env.pick_device()``. Models come from ``models.load_model(name, pretrained=False)``, so
    torchvision and timm names both work. Columns: ``ms_bs1``, ``ms_bs1_spread``, ``ms_bs1_all`` (the median of
    every repeat), ``img_s_bs32`` (for each batch size), ``params_m`` counted, and the zoo's published facts.
    """
    import pandas as pd
    import torch

    from . import bench, env, models

    if threads:
        env.set_threads(threads)

    def per_batch(v, what):
        out = dict(v) if isinstance(v, Mapping) else {b: int(v) for b in batch_sizes}
        missing = [b for b in batch_sizes if b not in out]
        if missing:
            raise CourseLibError(f"{what} has no value for batch size(s) {missing}.")
        return out

    steps, warmup, repeats = per_batch(steps, "steps"), per_batch(warmup, "warmup"), per_batch(repeats, "repeats")
    skip = {b: set(v) for b, v in (skip or {}).items()}
    if 1 in batch_sizes and skip.get(1):
        raise CourseLibError("every model is timed at batch 1 (latency); skip only larger batch sizes.")
    nets, sizes = {}, {}
    for name in names:
        nets[name] = models.load_model(name, pretrained=False)
        try:
            sizes[name] = input_size or models.get_entry(name).input_size
        except CourseLibError:
            sizes[name] = input_size or 224
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in names for b in batch_sizes}
    dev = None
    for r in range(max(repeats.values())):
        for name in names:
            for b in batch_sizes:
                if r >= repeats[b] or name in skip.get(b, ()):
                    continue
                lat = bench.measure_latency(nets[name], batch_size=b, input_size=sizes[name], warmup=warmup[b],
                                            steps=steps[b], device=device)
                times[(name, b)].append(lat.ms_per_batch)
                dev = lat.device
                if progress:
                    print(f"repeat {r + 1}/{repeats[b]} {name} batch {b}: {lat.ms_per_batch:.1f} ms")
    rows = []
    for name in names:
        row: dict[str, Any] = {"name": name, "img_size": sizes[name],
                               "params_m": round(bench.count_parameters(nets[name]) / 1e6, 3)}
        for b in batch_sizes:
            ms = times[(name, b)]
            row[f"ms_bs{b}"] = float(np.median(ms)) if ms else math.nan
            row[f"img_s_bs{b}"] = b * 1e3 / float(np.median(ms)) if ms else math.nan
            if b == 1:
                row["ms_bs1_spread"] = float(max(ms) - min(ms))
                row["ms_bs1_all"] = [round(v, 3) for v in ms]
        try:
            e = models.get_entry(name)
            row.update(top1=e.top1, file_mb=e.file_mb, gflops=e.gflops, family=e.family)
        except CourseLibError:
            row.update(top1=None, file_mb=None, gflops=None, family=None)
        rows.append(row)
    row0 = {"threads": torch.get_num_threads(), "repeats": repeats.get(1, max(repeats.values())), "device": dev}
    return pd.DataFrame(rows).assign(**row0).set_index("name")


# The models the real-time advice names ("models with lower latency (e.g. EfficientNet, ResNet-50) should be
# prioritised over large transformers"), and the transformers it warns about.
REALTIME_CONVNETS = ("resnet18", "resnet50", "efficientnet_b0", "tf_efficientnet_lite0", "mobilenet_v2",
                     "mobilenet_v3_large")
REALTIME_TRANSFORMERS = ("vit_b_16", "swin_t")


def machine_note(speed) -> str:
    """Where a timing table was measured: cores, torch threads and device (goes into every latency claim's note)."""
    from . import env

    n = int(speed["threads"].iloc[0])
    return f"{env.cpu_cores()} cores, {n} torch thread{'s' if n != 1 else ''}, {speed['device'].iloc[0]}"


def record_realtime(ledger, speed, fps: float = 30.0, convnets: Sequence[str] = REALTIME_CONVNETS,
                    transformers: Sequence[str] = REALTIME_TRANSFORMERS, profile: str = ""):
    """Record the real-time claims from :func:`measure_zoo`'s batch-1 repeats, and return one row per entry.

    - ``realtime_latency``, one entry per model (convnets and transformers): A = the frame budget 1000 / fps ms in
      every repeat, B = the model's median latency in each repeat; supported = fits the budget, contradicted =
      over it, across the whole interval.
    - ``convnets_faster_than_transformers``, one entry per convnet: A = the faster transformer's latency in each
      repeat, B = the convnet's in the same repeat (repeats are interleaved, so each pair shared the machine's load).
    Every pair comes from one machine's interleaved repeats: ``design="independent"``; the note names the machine.
    """
    import pandas as pd

    from . import claims

    missing = [m for m in (*convnets, *transformers) if m not in speed.index]
    if missing:
        raise CourseLibError(f"{missing} were not timed; add them to measure_zoo's names.")
    budget = 1000.0 / fps
    machine = machine_note(speed)
    ms = {m: [float(v) for v in speed.loc[m, "ms_bs1_all"]] for m in (*convnets, *transformers)}
    rows = []
    for m in (*convnets, *transformers):
        e = claims.record(ledger, "realtime_latency", a=[budget] * len(ms[m]), b=ms[m], design="independent",
                          profile=profile, unit="ms", note=f"{m}, batch 1, {speed.loc[m, 'img_size']} px; {machine}",
                          model=m, img_size=int(speed.loc[m, "img_size"]), fps=fps, budget_ms=budget, machine=machine)
        rows.append({"claim": "realtime_latency", "model": m, "ms_median": float(np.median(ms[m])),
                     "low_ms": budget - e["high"], "high_ms": budget - e["low"], "verdict": e["verdict"]})
    fastest_tf = np.min([ms[t] for t in transformers], axis=0)
    for m in convnets:
        e = claims.record(ledger, "convnets_faster_than_transformers", a=fastest_tf.tolist(), b=ms[m],
                          design="independent", profile=profile, unit="ms",
                          note=f"{m} vs the faster of {', '.join(transformers)}, batch 1; {machine}",
                          model=m, transformers=list(transformers), machine=machine)
        rows.append({"claim": "convnets_faster_than_transformers", "model": m, "ms_median": float(np.median(ms[m])),
                     "low_ms": e["low"], "high_ms": e["high"], "verdict": e["verdict"]})
    return pd.DataFrame(rows)


def realtime_sentence(entry: Mapping[str, Any]) -> str:
    """The sentence a lab prints for one ``realtime_latency`` or ``convnets_faster_than_transformers`` ledger entry:
    the measured numbers and the recorded verdict, in words."""
    d, v = entry["details"], entry["verdict"]
    if entry["claim"] == "realtime_latency":
        budget, lat = entry["mean_a"], entry["mean_b"]
        words = {"supported": "fits", "contradicted": "is over"}.get(v, "cannot be said to fit or miss")
        return (f"{d['model']} ({d['img_size']} px): {lat:.1f} ms per frame, 90% interval {budget - entry['high']:.1f}"
                f"-{budget - entry['low']:.1f} ms: {words} the {budget:.1f} ms budget of {d['fps']:g} fps here "
                f"({v}).")
    if entry["claim"] == "convnets_faster_than_transformers":
        words = {"supported": "faster than", "contradicted": "slower than"}.get(v, "not clearly faster than")
        return (f"{d['model']}: {entry['mean_b']:.1f} ms vs {entry['mean_a']:.1f} ms for the faster transformer "
                f"(difference {entry['diff']:+.1f} ms, 90% interval [{entry['low']:+.1f}, {entry['high']:+.1f}]): "
                f"{words} both transformers ({v}).")
    raise CourseLibError(f"no real-time sentence for claim {entry['claim']!r}.")


def macs_per_ms(speed, dense: str = "resnet18", others: Sequence[str] = ("mobilenet_v2", "mobilenet_v3_large")):
    """Do the measured milliseconds follow the published multiply-adds? For each model in `others`: how many times
    more multiply-adds per millisecond `dense` gets through, per interleaved repeat, with a verdict on the log of
    that ratio (``design="independent"``, margin 0: supported = `dense` does more per ms across the whole 90%
    interval). A loaded machine can move it either way, so it is a verdict with its interval, never an assert.
    One row per model: ``ratio`` (geometric mean), ``low``, ``high``, ``verdict``, ``sentence``."""
    import pandas as pd

    from . import claims

    def ms_per_gmac(name):
        return np.asarray(speed.loc[name, "ms_bs1_all"], dtype=float) / float(speed.loc[name, "gflops"])

    rows = []
    for other in others:
        a, b = np.log(ms_per_gmac(other)), np.log(ms_per_gmac(dense))
        v = claims.paired_verdict(a, b, design="independent")
        ratio, low, high = (float(np.exp(x)) for x in (v.diff, v.low, v.high))
        words = {"supported": "more", "contradicted": "fewer"}.get(v.verdict, "no clearly different number of")
        rows.append({"model": other, "ratio": ratio, "low": low, "high": high, "verdict": v.verdict, "n": v.n,
                     "sentence": f"{dense} gets through {ratio:.2f}x the multiply-adds per ms of {other} here (90% "
                                 f"interval {low:.2f}-{high:.2f}x over {v.n} repeats): {words} per ms ({v.verdict})."})
    return pd.DataFrame(rows).set_index("model")


def start_small_table(feats: Mapping[str, Any], lites: Sequence[str], speed, n_splits: int = 5, seed: int = 0):
    """"Start small", measured: per data set and model, a k-fold linear probe on pooled features next to the
    batch-1 latency and the GMACs at the same input size.

    ``feats`` maps data set names to ``transfer.candidate_features`` results that hold each model's whole-network
    candidate; ``speed`` is :func:`measure_zoo` run at the size those features were extracted at (its ``img_size``
    column says which), so accuracy and cost belong to the same input. Every model is probed on the same folds, so
    the per-fold accuracies in ``folds[(data, model)]`` are paired. Returns ``(table, folds)``; ``n_eval`` and
    ``n_train`` are the images per test fold and per training fold (for ``claims.record(design="splits")``);
    the ``*_vs_lite0`` columns compare each model with the first of `lites`.
    """
    import pandas as pd

    from . import bench, models, train
    from .transfer import Candidate

    sizes = {m: int(speed.loc[m, "img_size"]) for m in lites}
    macs = {m: bench.gmacs(bench.count_flops(models.load_model(m, pretrained=False), sizes[m])) for m in lites}
    rows, folds = [], {}
    for data_name, cf in feats.items():
        n = len(cf.labels)
        n_eval = int(round(n / n_splits))
        for m in lites:
            cv = train.cross_val_probe(cf.X[Candidate(m).name], cf.labels, n_splits=n_splits, seed=seed)
            folds[(data_name, m)] = cv["scores"]
            rows.append({"data": data_name, "model": m, "px": sizes[m], "probe_acc": cv["mean"], "probe_std": cv["std"],
                         "n_eval": n_eval, "n_train": n - n_eval, "top1": models.get_entry(m).top1,
                         "ms_bs1": float(speed.loc[m, "ms_bs1"]), "gmacs": round(macs[m], 4)})
    table = pd.DataFrame(rows)
    first = table.groupby("data")[["probe_acc", "ms_bs1", "gmacs"]].transform("first")
    table["gain_vs_lite0"] = table["probe_acc"] - first["probe_acc"]
    table["latency_vs_lite0"] = table["ms_bs1"] / first["ms_bs1"]
    table["gmacs_vs_lite0"] = table["gmacs"] / first["gmacs"]
    return table, folds


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

    Without a widget front end (papermill, nbconvert, tests) it is drawn once with the defaults as ordinary output
    (``widgets.panel``); ``panel.result`` holds that shortlist either way. fps = 0 means no real-time need.
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
    return panel(
        draw, "the constraint panel",
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
    """The five questions as an ipywidget form showing the shortlist table; without a widget front end it is drawn
    once with the defaults as ordinary output (``widgets.panel``).

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

    return panel(
        show, "the five-question form",
        task=widgets.Dropdown(options=TASKS, value=d["task"], description="1. problem"),
        domain=widgets.Dropdown(options=DOMAINS, value=d["domain"], description="2. domain"),
        n_per_class=widgets.IntSlider(value=d["n_per_class"], min=5, max=5000, step=5, description="3. per class"),
        compute=widgets.Dropdown(options=COMPUTE, value=d["compute"], description="4. compute"),
        latency_ms=widgets.FloatSlider(value=d["latency_ms"], min=0.0, max=500.0, step=5.0, description="ms (0: any)"),
        realtime=widgets.Checkbox(value=d["realtime"], description="5. real time"),
        fps=widgets.FloatSlider(value=d["fps"], min=1.0, max=120.0, step=1.0, description="fps"))
