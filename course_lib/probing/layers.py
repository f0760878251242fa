"""Layer-wise linear probes: features after every stage, probe scores, summaries, paired comparisons and verdicts.

Random-init twins, stage depths and widths, raw-pixel and aspect-ratio references, the cross-validated probe per
stage (:func:`layerwise_probe`), its summary and curves, choosing and confirming a stage, and the paired
comparisons that go to the claims ledger (:func:`record_comparison`, :func:`paired_comparison`, :func:`verdict_line`).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data, env, features, models, train
from ..errors import CourseLibError

PRETRAINED, RANDOM = "pretrained", "random init"
COLUMNS = ["dataset", "features", "stage", "depth", "seed", "fold", "accuracy", "n_images"]


one_blas_thread = env.one_blas_thread   # kept under this name for the labs that call it


# ----------------------------------------------------------------------------- models and features
def random_init_model(name: str, seed: int = 0) -> nn.Module:
    """The architecture of `name` with random weights drawn from `seed`; its feature-cache identity names the seed.

    ``load_model(pretrained=False)`` marks every random model ``course_weights = "random"``, so two random draws
    would share one features-cache entry; here the identity carries the seed and a digest of the weights.
    """
    env.seed_everything(seed)
    model = models.load_model(name, pretrained=False)
    digest = hashlib.sha256()
    for key, t in model.state_dict().items():
        digest.update(key.encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    model.course_weights = f"random:seed={seed}:{digest.hexdigest()[:16]}"
    return model


def stage_depths(model: nn.Module) -> dict[str, int]:
    """Each stage's position from the input (0 = first stage); ``"pooled"`` gets the last stage's depth."""
    names = models.stage_names(model)
    depth = {s: i for i, s in enumerate(names)}
    depth[features.POOLED] = len(names) - 1
    return depth


def stage_shapes(model: nn.Module, input_size: int = 64) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) of each stage's output for an `input_size` px square image."""
    x = torch.zeros(1, 3, input_size, input_size)
    was_training = model.training
    model.eval()
    try:
        maps = models.stage_features(model, x)
    finally:
        model.train(was_training)
    return {s: tuple(int(d) for d in m.shape[1:]) for s, m in maps.items()}


def stage_widths(model: nn.Module) -> dict[str, int]:
    """Channels of each stage's output (the width of its pooled feature vector)."""
    return {s: shape[0] for s, shape in stage_shapes(model).items()}


raw_pixel_features = features.raw_pixels   # the kit's one raw-pixel reference, under lab 01's name


def aspect_ratio_feature(table: data.ImageTable) -> np.ndarray:
    """log(width / height) of each original image (``orig_width``/``orig_height`` if the table has them), ``N x 1``.

    One number about the scan, nothing about the body in it: if it predicts the label, the data set has a shortcut.
    """
    frame = table.frame
    if {"orig_width", "orig_height"} <= set(frame.columns) and frame[["orig_width", "orig_height"]].notna().all().all():
        w, h = frame["orig_width"].astype(float).to_numpy(), frame["orig_height"].astype(float).to_numpy()
    else:
        sizes = [data.open_image(p).size for p in table.paths]
        w, h = np.array([s[0] for s in sizes], float), np.array([s[1] for s in sizes], float)
    return np.log(w / h).reshape(-1, 1).astype(np.float32)


def stage_feature_matrices(model: nn.Module, table: data.ImageTable, stages: Sequence[str] | None = None, *,
                           transform=None, input_size: int | None = None) -> features.Features:
    """Features after each stage (maps averaged over space) and the pooled head input, in one cached pass.

    The pooled features are always extracted too, so every call with the same stages shares one cache entry.
    """
    stages = list(stages) if stages is not None else models.stage_names(model)
    layers = list(dict.fromkeys([*stages, features.POOLED]))
    return features.extract_features(model, table, layers=layers, transform=transform, input_size=input_size,
                                     progress=False)


# ----------------------------------------------------------------------------- probes
def probe_scores(X, labels, groups=None, n_splits: int = 5,
                 seeds: Sequence[int] = (0,)) -> list[tuple[int, int, float]]:
    """(seed, fold, accuracy) of a linear probe cross-validated with `n_splits` folds for each seed.

    Folds are stratified; with `groups` (patient, camera) no group is on both sides (``train.cross_val_probe``).
    """
    out = []
    with one_blas_thread():
        for seed in seeds:
            scores = train.cross_val_probe(X, labels, groups=groups, n_splits=n_splits, seed=int(seed))["scores"]
            out += [(int(seed), fold, float(acc)) for fold, acc in enumerate(scores)]
    return out


def _rows(dataset: str, kind: str, stage: str, depth: float, scores, n_images: int) -> list[dict]:
    return [dict(dataset=dataset, features=kind, stage=stage, depth=depth, seed=s, fold=f, accuracy=a,
                 n_images=n_images) for s, f, a in scores]


def layerwise_probe(model: nn.Module | Callable[[int], nn.Module], table: data.ImageTable,
                    stages: Sequence[str] | None = None, *, seeds: Sequence[int] = (0,), n_splits: int = 5,
                    groups=None, transform=None, input_size: int | None = None, dataset: str | None = None,
                    kind: str = PRETRAINED) -> pd.DataFrame:
    """Cross-validated linear-probe accuracy of the features after each stage: one row per stage, seed and fold.

    - `model`: a network, or a function ``seed -> network`` (e.g. ``lambda s: random_init_model(name, s)``) so
      each seed also draws its own random weights.
    - `stages`: default every stage of ``models.stage_names(model)``; ``"pooled"`` may be added.
    - `groups`: one entry per image (patient, camera), kept on one side of every split.
    Columns: dataset, features (`kind`), stage, depth, seed, fold, accuracy, n_images.
    """
    if len(table) < n_splits:
        raise CourseLibError(f"{len(table)} images cannot make {n_splits} folds; lower n_splits.")
    rows: list[dict] = []
    for seed in seeds:
        net = model(int(seed)) if callable(model) and not isinstance(model, nn.Module) else model
        names = list(stages) if stages is not None else models.stage_names(net)
        depth = stage_depths(net)
        feats = stage_feature_matrices(net, table, names, transform=transform, input_size=input_size)
        for stage in names:
            scores = probe_scores(feats.layers[stage], table.labels, groups, n_splits, [seed])
            rows += _rows(dataset or table.name, kind, stage, depth[stage], scores, len(table))
    return pd.DataFrame(rows, columns=COLUMNS)


def reference_probe(X, table: data.ImageTable, kind: str, *, seeds: Sequence[int] = (0,), n_splits: int = 5,
                    groups=None, dataset: str | None = None) -> pd.DataFrame:
    """The same cross-validated probe on features that belong to no stage (raw pixels, one number per image)."""
    X = np.asarray(X, dtype=np.float32)
    scores = probe_scores(X, table.labels, groups, n_splits, seeds)
    return pd.DataFrame(_rows(dataset or table.name, kind, "", float("nan"), scores, len(table)), columns=COLUMNS)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count of the accuracy per data set, features and stage, in depth order."""
    keys = ["dataset", "features", "stage"]
    g = rows.assign(depth=rows["depth"].fillna(-1)).groupby(keys, sort=False)
    out = g.agg(depth=("depth", "first"), mean=("accuracy", "mean"), std=("accuracy", "std"),
                n=("accuracy", "size")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["depth"] = out["depth"].where(out["depth"] >= 0)
    return out.sort_values(["dataset", "features", "depth"], kind="stable").reset_index(drop=True)


def curve(summary: pd.DataFrame, dataset: str, kind: str = PRETRAINED) -> pd.DataFrame:
    """One data set's stage-by-stage rows of `summary` for one kind of features, indexed by stage, in depth order."""
    rows = summary[(summary["dataset"] == dataset) & (summary["features"] == kind) & summary["depth"].notna()]
    if rows.empty:
        raise CourseLibError(f"no stage rows for dataset={dataset!r}, features={kind!r}; the summary holds "
                             f"{sorted(set(zip(summary['dataset'], summary['features'])))}.")
    return rows.sort_values("depth").set_index("stage")


def best_stage(summary: pd.DataFrame, dataset: str, kind: str = PRETRAINED) -> str:
    """The stage whose probe has the highest mean accuracy (the earlier stage on a tie)."""
    c = curve(summary, dataset, kind)
    return str(c["mean"].idxmax())


def reference(summary: pd.DataFrame, dataset: str, kind: str) -> dict:
    """mean, std, n of a stage-less reference probe (e.g. raw pixels) as plain floats."""
    rows = summary[(summary["dataset"] == dataset) & (summary["features"] == kind)]
    if len(rows) != 1:
        raise CourseLibError(f"expected one {kind!r} row for {dataset!r}, found {len(rows)}.")
    r = rows.iloc[0]
    return {"mean": float(r["mean"]), "std": float(r["std"]), "n": int(r["n"])}


def paired_folds(rows: pd.DataFrame, dataset: str, a: tuple[str, str], b: tuple[str, str]) -> tuple[list, list]:
    """Per-fold accuracies of two feature sets, each given as ``(kind, stage)``, on the same (seed, fold) pairs.

    The folds depend only on the seed and the labels, so pretrained and random-init probes of one seed share them:
    the paired differences are what :func:`course_lib.claims.record` needs for a verdict.
    """
    def one(kind: str, stage: str) -> pd.Series:
        sel = rows[(rows["dataset"] == dataset) & (rows["features"] == kind) & (rows["stage"] == stage)]
        if sel.empty:
            raise CourseLibError(f"no probe rows for dataset={dataset!r}, features={kind!r}, stage={stage!r}; "
                                 f"stages there: {sorted(set(rows.loc[rows['dataset'] == dataset, 'stage']))}.")
        return sel.set_index(["seed", "fold"])["accuracy"]

    x, y = one(*a), one(*b)
    common = x.index.intersection(y.index)
    if common.empty:
        raise CourseLibError(f"{a} and {b} on {dataset!r} share no (seed, fold): probe them with the same seeds.")
    return [float(v) for v in x[common]], [float(v) for v in y[common]]


def choose_stage(summary: pd.DataFrame, dataset: str, kind: str = PRETRAINED) -> str:
    """The stage to set against the final features: the best-probing stage *before* the final one (earlier on a tie).

    Call it on the exploration set only. The stage it returns was picked because it scored best on those folds, so
    its lead there is biased upward (the winner's curse); the honest test of that choice is one measurement on a
    disjoint set with the stage fixed in advance (:func:`confirm_stages`).
    """
    c = curve(summary, dataset, kind)
    if len(c) < 2:
        raise CourseLibError(f"{dataset!r} has {len(c)} stage(s) for {kind!r}; choosing a stage before the final one "
                             "needs at least two.")
    return str(c["mean"].iloc[:-1].idxmax())


def split_sizes(n_images: int, n_splits: int) -> tuple[int, int]:
    """(n_eval, n_train): test and training images per split of `n_splits`-fold cross-validation.

    Every image is tested once per repeat, so the test folds average exactly ``n_images / n_splits`` images (grouped
    folds vary around that); rounded to whole images. These are what the Nadeau-Bengio correction of
    ``claims.record(design="splits")`` needs.
    """
    if not 2 <= n_splits <= n_images:
        raise CourseLibError(f"n_splits must be between 2 and the number of images ({n_images}), got {n_splits}.")
    n_eval = int(round(n_images / n_splits))
    return n_eval, int(n_images) - n_eval


def confirm_stages(model: nn.Module, table: data.ImageTable, stages: Sequence[str], *, repeats: Sequence[int],
                   n_splits: int = 5, transform=None, dataset: str | None = None) -> pd.DataFrame:
    """Repeated stratified `n_splits`-fold probes of fixed `stages` on a confirmation set: one row per stage, repeat,
    fold (the rows of :func:`layerwise_probe`). Each repeat reshuffles the folds with its own seed; the features are
    extracted once (cached). Nothing is chosen here: the stages come from the exploration set."""
    return layerwise_probe(model, table, list(stages), seeds=repeats, n_splits=n_splits, groups=table.groups,
                           transform=transform, dataset=dataset)


def transfer_vs_references(model: nn.Module, random_model: Callable[[int], nn.Module], table: data.ImageTable,
                           stage: str, *, seeds: Sequence[int], n_splits: int = 5, transform=None, raw_size: int = 16,
                           aspect_ratio: bool = True, dataset: str | None = None) -> pd.DataFrame:
    """One fixed `stage` of the pretrained `model` against the same stage of a random-init network (a fresh one per
    seed: ``random_model(seed)``), raw pixels (`raw_size` px) and, with `aspect_ratio`, the scan's aspect ratio, all
    probed on the same (grouped by ``table.groups``) cross-validation splits, one shuffle per seed.

    Rows as :func:`layerwise_probe` returns them; pair them with :func:`paired_folds`.
    """
    groups = table.groups
    parts = [layerwise_probe(model, table, [stage], seeds=seeds, n_splits=n_splits, groups=groups,
                             transform=transform, dataset=dataset),
             layerwise_probe(random_model, table, [stage], seeds=seeds, n_splits=n_splits, groups=groups,
                             transform=transform, dataset=dataset, kind=RANDOM),
             reference_probe(raw_pixel_features(table, raw_size), table, f"raw pixels {raw_size}x{raw_size}",
                             seeds=seeds, n_splits=n_splits, groups=groups, dataset=dataset)]
    if aspect_ratio:
        parts.append(reference_probe(aspect_ratio_feature(table), table, "aspect ratio", seeds=seeds,
                                     n_splits=n_splits, groups=groups, dataset=dataset))
    return pd.concat(parts, ignore_index=True)


def entry_numbers(entry: Mapping) -> dict:
    """The numbers of a ledger entry (or :func:`paired_comparison`) a lab keeps in its results JSON."""
    keys = ("verdict", "mean_a", "mean_b", "diff", "low", "high", "se", "power", "n", "n_eval", "n_train", "design",
            "note")
    out = {k: entry.get(k) for k in keys}
    out.update({k: v for k, v in (entry.get("details") or {}).items() if k in ("a_features", "b_features", "dataset",
                                                                            "role", "chosen_on")})
    return out


def paired_comparison(rows: pd.DataFrame, dataset: str, a: tuple[str, str], b: tuple[str, str], *, n_splits: int,
                      margin: float = 0.0, direction: str = "a_wins") -> dict:
    """The verdict rule of ``claims.paired_verdict`` (design ``"splits"``) on two feature sets' per-split accuracies,
    without writing to a ledger: for references (raw pixels, the aspect ratio) the lab reports beside its claims.

    Returns the Verdict's fields plus ``a``, ``b`` (per-split accuracies), ``n_eval``, ``n_train``, ``direction``,
    ``margin`` and ``details`` (what A and B are), shaped like a ledger entry.
    """
    from dataclasses import asdict

    from .. import claims

    x, y = paired_folds(rows, dataset, a, b)
    n_eval, n_train = split_sizes(int(rows.loc[rows["dataset"] == dataset, "n_images"].iloc[0]), n_splits)
    v = claims.paired_verdict(x, y, margin, direction, design="splits", n_eval=n_eval, n_train=n_train)
    return {**asdict(v), "a": x, "b": y, "n_eval": n_eval, "n_train": n_train, "direction": direction, "margin": margin,
            "details": {"dataset": dataset, "a_features": " ".join(a).strip(), "b_features": " ".join(b).strip()}}


def record_comparison(ledger, claim_id: str, rows: pd.DataFrame, dataset: str, a: tuple[str, str],
                      b: tuple[str, str], *, n_splits: int, profile: str = "", note: str = "", **details) -> dict:
    """``claims.record`` of `claim_id` on the paired per-split accuracies of `a` and `b` (each ``(kind, stage)``) on
    `dataset`, with ``design="splits"`` and the test / training images per split; returns the ledger entry."""
    from .. import claims

    x, y = paired_folds(rows, dataset, a, b)
    n_eval, n_train = split_sizes(int(rows.loc[rows["dataset"] == dataset, "n_images"].iloc[0]), n_splits)
    return claims.record(ledger, claim_id, a=x, b=y, design="splits", n_eval=n_eval, n_train=n_train,
                         profile=profile, unit="accuracy", note=note, dataset=dataset, a_features=" ".join(a).strip(),
                         b_features=" ".join(b).strip(), **details)


def verdict_line(entry: Mapping, label: str = "") -> str:
    """One sentence from a ledger entry (or :func:`paired_comparison`): means, difference, interval, power, verdict."""
    from .. import claims

    details = entry.get("details") or {}
    a_name, b_name = details.get("a_features", "A"), details.get("b_features", "B")
    direction = entry.get("direction") or (claims.get_claim(entry["claim"]).direction if entry.get("claim")
                                           else "a_wins")
    power = entry.get("power")
    if power is None:
        reach = ""
    elif direction == "no_gain":
        reach = f"; power: 'no gain' is called 80% of the time only if the true difference is below {power:+.3f}"
    else:
        reach = f"; power: 'supported' 80% of the time if the true difference is {power:+.3f}"
    return (f"{label + ': ' if label else ''}{a_name} {entry['mean_a']:.3f} vs {b_name} {entry['mean_b']:.3f} over "
            f"{entry['n']} splits ({entry.get('n_eval')} test / {entry.get('n_train')} training images each), "
            f"difference {entry['diff']:+.3f}, 90% interval {entry['low']:+.3f} to {entry['high']:+.3f}{reach}: "
            f"{entry['verdict']}")


def summary_table(summary: pd.DataFrame, datasets: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """"mean ± std" per (data set, features) and stage, for display; references (raw pixels, ...) fill one column."""
    datasets = list(datasets) if datasets is not None else list(dict.fromkeys(summary["dataset"]))
    rows = summary[summary["dataset"].isin(datasets)].copy()
    rows["text"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(rows["mean"], rows["std"])]
    rows["column"] = rows["stage"].where(rows["depth"].notna(), "no stage (reference)")
    order = list(dict.fromkeys(rows.sort_values("depth", na_position="last")["column"]))
    wide = rows.pivot(index=["dataset", "features"], columns="column", values="text").reindex(columns=order)
    keys = list(dict.fromkeys(zip(rows["dataset"], rows["features"])))
    first = {PRETRAINED: 0, RANDOM: 1}
    keys.sort(key=lambda k: (datasets.index(k[0]), first.get(k[1], 2)))
    return wide.reindex(pd.MultiIndex.from_tuples(keys, names=["dataset", "features"])).fillna("")


def results_dict(summary: pd.DataFrame) -> dict:
    """The summary as nested plain dicts for the results JSON: dataset -> features -> stage -> {mean, std, n}."""
    out: dict = {}
    for r in summary.itertuples(index=False):
        cell = {"mean": round(float(r.mean), 4), "std": round(float(r.std), 4), "n": int(r.n)}
        if pd.notna(r.depth):
            out.setdefault(r.dataset, {}).setdefault(r.features, {})[r.stage] = {**cell, "depth": int(r.depth)}
        else:
            out.setdefault(r.dataset, {})[r.features] = cell
    return out


def majority_fraction(labels) -> float:
    """Accuracy of always answering the most frequent class."""
    labels = np.asarray(labels)
    return float(np.bincount(labels).max() / len(labels))
