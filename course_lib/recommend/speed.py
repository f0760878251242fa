"""Speed measured here: the zoo timed with interleaved repeats, real-time verdicts and their sentences, multiply-adds
per millisecond, and "start small" measured."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CourseLibError


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

    from .. import env

    if threads:
        env.set_threads(threads)
    steps, warmup, repeats = (_per_batch_size(v, what, batch_sizes)
                              for v, what in ((steps, "steps"), (warmup, "warmup"), (repeats, "repeats")))
    skip = {b: set(v) for b, v in (skip or {}).items()}
    if 1 in batch_sizes and skip.get(1):
        raise CourseLibError("every model is timed at batch 1 (latency); skip only larger batch sizes.")
    sizes = _input_sizes(names, input_size)
    times, params, dev = _time_interleaved(names, sizes, batch_sizes, steps, warmup, repeats, skip, device, progress)
    rows = [_zoo_row(name, params.get(name), sizes[name], times, batch_sizes) for name in names]
    row0 = {"threads": torch.get_num_threads(), "repeats": repeats.get(1, max(repeats.values())), "device": dev}
    return pd.DataFrame(rows).assign(**row0).set_index("name")


def _per_batch_size(value: Mapping[int, int] | int, what: str, batch_sizes: Sequence[int]) -> dict[int, int]:
    """A setting of :func:`measure_zoo` per batch size: a mapping as given (it must cover every batch size), or one
    number for all."""
    out = dict(value) if isinstance(value, Mapping) else {b: int(value) for b in batch_sizes}
    missing = [b for b in batch_sizes if b not in out]
    if missing:
        raise CourseLibError(f"{what} has no value for batch size(s) {missing}.")
    return out


def _input_sizes(names: Sequence[str], input_size: int | None) -> dict[str, int]:
    """The input size to time each model at: `input_size`, else the zoo's, else 224."""
    from .. import models

    sizes = {}
    for name in names:
        try:
            sizes[name] = input_size or models.get_entry(name).input_size
        except CourseLibError:
            sizes[name] = input_size or 224
    return sizes


def _random_net(name: str):
    """`name` with random weights, built without touching the global random state (later cells stay seeded)."""
    import torch

    from .. import models

    with torch.random.fork_rng(devices=[]):
        return models.load_model(name, pretrained=False)


def _time_interleaved(names: Sequence[str], sizes: Mapping[str, int], batch_sizes: Sequence[int],
                      steps: Mapping[int, int], warmup: Mapping[int, int], repeats: Mapping[int, int],
                      skip: Mapping[int, set], device: Any, progress: bool) -> tuple[dict, dict, Any]:
    """Batch size by batch size, every model once per repeat, then every model again: ``{(name, batch size): [ms per
    batch, one per repeat]}``, each model's parameter count and the device the timing ran on.

    Latency (batch 1) is timed with every network held, as a deployed model is (long-lived weights: built afresh
    for each turn they measured 5-15% slower here). Larger batches build one network per turn and free it with the
    batch's activations: holding all 14 of the fast profile's, about 1 GiB, while a batch of 32 ran through
    DenseNet-121 took lab 03's kernel over 4 GiB (the tuned allocator keeps what a batch touched)."""
    from .. import bench, env

    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in names for b in batch_sizes}
    params: dict[str, int] = {}
    dev = None
    for b in batch_sizes:
        held = {name: _random_net(name) for name in names} if b == 1 else {}
        for r in range(repeats[b]):
            for name in (n for n in names if n not in skip.get(b, ())):
                net = held[name] if name in held else _random_net(name)
                if name not in params:
                    params[name] = bench.count_parameters(net)
                lat = bench.measure_latency(net, batch_size=b, input_size=sizes[name], warmup=warmup[b],
                                            steps=steps[b], device=device)
                times[(name, b)].append(lat.ms_per_batch)
                dev = lat.device
                if progress:
                    print(f"repeat {r + 1}/{repeats[b]} {name} batch {b}: {lat.ms_per_batch:.1f} ms")
                del net
                env.release_memory()   # a batch's activations (and a built network), freed but kept by the allocator
        del held
        env.release_memory()
    return times, params, dev


def _zoo_row(name: str, n_params: int | None, size: int, times: Mapping[tuple[str, int], list[float]],
             batch_sizes: Sequence[int]) -> dict[str, Any]:
    """One row of :func:`measure_zoo`'s table: the medians over repeats, batch 1's spread, the zoo's facts."""
    from .. import models

    row: dict[str, Any] = {"name": name, "img_size": size, "params_m": round(n_params / 1e6, 3) if n_params else math.nan}
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
    return row


# The models the real-time advice names ("models with lower latency (e.g. EfficientNet, ResNet-50) should be
# prioritised over large transformers"), and the transformers it warns about.
REALTIME_CONVNETS = ("resnet18", "resnet50", "efficientnet_b0", "tf_efficientnet_lite0", "mobilenet_v2",
                     "mobilenet_v3_large")
REALTIME_TRANSFORMERS = ("vit_b_16", "swin_t")


def machine_note(speed) -> str:
    """Where a timing table was measured: cores, torch threads and device (goes into every latency claim's note)."""
    from .. import env

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

    from .. import claims

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

    from .. import claims

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

    from .. import bench, models, train
    from ..transfer import Candidate

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

