"""The capstone's measurements and decision: the question, risk checks, costs, paired cross-validation, the pick
rule, the pipeline :func:`choose` and :func:`half_the_data`. The report on a :class:`Choice` is in ``choose.report``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import claims, data, env, recommend, train, transfer
from ..errors import CourseLibError

SHORTCUTS = ("image size and shape", "raw pixels 16x16")


@dataclass(frozen=True)
class Question:
    """The answers the pipeline needs from the user (the five questions; the rest it measures)."""

    task: str = "classification"
    domain: str = "near"            # 'imagenet', 'near' (photos) or 'far' (X-rays, satellite, microscopy)
    compute: str = "cpu"
    fps: float | None = None        # a frame rate for real time; None: not real time
    models: tuple[str, ...] = transfer.LITES         # networks with real weights to compare
    stages: tuple[str, ...] = ("blocks.4", "blocks.5")  # cut variants of each (mid-level features)
    input_size: int | None = None   # None: each network's own input size
    per_class: int | None = None    # subsample this many images per class (a quick first look)
    n_splits: int = 5
    repeats: int = 2
    finalists: int = 2
    fine_tune: str = "auto"         # "auto": only at 1,000+ images per class (a rule of thumb; lab 02 never saw it pay); or
    fine_tune_epochs: int = 3       # "always" / "never"
    seed: int = 0


@dataclass
class Choice:
    """Everything :func:`choose` measured, and the decision."""

    name: str
    question: Question
    risks: dict
    shortlist: list
    costs: Any                       # DataFrame: one row per network
    scores: Any                      # DataFrame: one row per candidate (LogME, k-NN, probe)
    folds: dict[str, list[float]]    # CV accuracy per fold, finalists, shortcuts and the random floor
    verdicts: dict[str, dict]
    chosen: str
    advice: str
    seconds: dict[str, float] = field(default_factory=dict)
    n_eval: int = 0
    n_train: int = 0
    fine_tuned: dict | None = None   # the chosen network fine-tuned vs its probe on one held-out split, if run
    features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # the feature sets behind `folds`
    labels: np.ndarray | None = field(default=None, repr=False)
    groups: np.ndarray | None = field(default=None, repr=False)


# ============================================================================= 1. risks
def _duplicates(table: data.ImageTable) -> tuple[list[list[str]], int]:
    """Groups of byte-identical files (from ``image_folder``'s ``duplicate_of`` column, else hashed here), and how
    many of those groups mix labels."""
    import hashlib

    if "duplicate_of" in table.frame.columns:
        firsts = table.frame["duplicate_of"].where(table.frame["duplicate_of"].notna(), None)
        keys = [str(d) if d is not None else str(p) for d, p in zip(firsts, table.paths)]
    else:
        keys = [hashlib.blake2b(Path(p).read_bytes(), digest_size=16).hexdigest() for p in table.paths]
    by_key: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    groups = [rows for rows in by_key.values() if len(rows) > 1]
    conflicts = sum(len({int(table.labels[i]) for i in rows}) > 1 for rows in groups)
    return [[str(table.paths[i]) for i in rows] for rows in groups], conflicts


def _sizes(table: data.ImageTable) -> np.ndarray:
    """(width, height) of every image: from the table when it has them, else read from the file headers."""
    from PIL import Image

    if {"width", "height"} <= set(table.frame.columns):
        return table.frame[["width", "height"]].to_numpy(dtype=float)
    out = []
    for p in table.paths:
        with Image.open(p) as im:
            out.append(im.size)
    return np.asarray(out, dtype=float)


def risk_checks(table: data.ImageTable) -> dict:
    """What could make a score lie, found before any model runs; ``warnings`` says each in a sentence."""
    counts = table.class_counts()
    sizes = _sizes(table)
    aspect = np.maximum(sizes[:, 0], sizes[:, 1]) / np.maximum(np.minimum(sizes[:, 0], sizes[:, 1]), 1)
    dups, conflicts = _duplicates(table)
    risks = {"images": len(table), "classes": counts.to_dict(), "majority": float(counts.max() / counts.sum()),
             "imbalance": float(counts.max() / max(counts.min(), 1)), "duplicate_groups": len(dups),
             "duplicate_files": sum(len(g) - 1 for g in dups), "duplicate_label_conflicts": conflicts,
             "groups": None if table.groups is None else int(len(set(table.groups))),
             "small_images": int((np.minimum(sizes[:, 0], sizes[:, 1]) < 32).sum()),
             "extreme_aspect": int((aspect > 4).sum()), "distinct_sizes": int(len({tuple(s) for s in sizes})),
             "leak": None, "warnings": []}
    say = risks["warnings"].append
    if risks["imbalance"] > 3:
        say(f"classes are imbalanced ({risks['imbalance']:.1f}x between the largest and the smallest): accuracy "
            f"flatters the majority class ({risks['majority']:.0%} of the images); read balanced accuracy too.")
    if dups:
        say(f"{risks['duplicate_files']} duplicate file(s) in {len(dups)} group(s)"
            + (f", {conflicts} with different labels" if conflicts else "")
            + ": copies on both sides of a split inflate validation scores. Remove them, or group them.")
    if table.groups is not None and table.split is not None:
        train_g = set(table.groups[table.split == "train"])
        shared = train_g & set(table.groups[table.split != "train"])
        risks["leak"] = len(shared)
        if shared:
            say(f"{len(shared)} group(s) appear on both sides of the folder's own train/val split: its scores leak.")
    if risks["small_images"] or risks["extreme_aspect"]:
        say(f"{risks['small_images']} image(s) under 32 px and {risks['extreme_aspect']} with an aspect ratio above "
            "4:1: resizing them to a network's input distorts them.")
    if counts.min() < 10:
        say(f"the smallest class has {counts.min()} image(s): every number below has a wide interval.")
    return risks


# ============================================================================= 2-3. shortlist and costs
def measure_costs(candidates: Sequence[transfer.Candidate], input_size: int | None = None, warmup: int = 2,
                  steps: int = 5):
    """Batch-1 latency, batch-8 throughput and peak memory of each candidate's network (cut ones cut), with random
    weights (cost does not depend on them), measured here the way timm's benchmark script does
    (``bench.benchmark_model``: warm-up, then timed steps). One row per candidate name."""
    import pandas as pd

    from .. import bench, models

    rows = []
    for c in candidates:
        net = models.load_model(c.model, pretrained=False)
        net = transfer.truncate(net, c.stage) if c.stage else net
        size = input_size or models.get_entry(c.model).input_size
        row = bench.benchmark_model(net, batch_sizes=(1, 8), input_size=size, warmup=warmup, steps=steps, name=c.name)
        row["s_per_1000_images"] = round(1000 / row["img_s_bs8"], 1) if row.get("img_s_bs8") else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")


def adaptation_advice(n_per_class: int, domain: str) -> str:
    """How to adapt the chosen network, from lab 02's measurements (not run here: fine-tuning needs the compute)."""
    base = recommend.strategy_for(max(int(n_per_class), 1), domain)
    return (f"{base} Lab 02 measured the crossover: at 5 images per class the frozen probe beat full fine-tuning on "
            "EuroSAT, and with every image (122-185 per class) fine-tuning did not beat the probe by a margin its "
            "seeds could show. Fine-tune the chosen network only when a held-out split says the probe has plateaued.")


# ============================================================================= 4-5. ranking and cross-validation
def _features(question: Question, table: data.ImageTable, progress: bool = False):
    cands = transfer.lite_candidates(question.models, question.stages, random_model=question.models[0])
    return cands, transfer.candidate_features(cands, table, input_size=question.input_size, seed=question.seed,
                                              progress=progress)


def shortcut_features(table: data.ImageTable) -> dict[str, np.ndarray]:
    """Features that know nothing about the content: the image's size and shape, and 16x16 raw pixels. A network
    that does not beat them has learned a shortcut, or there is nothing to learn."""
    s = _sizes(table)
    return {SHORTCUTS[0]: np.column_stack([np.log(s[:, 0]), np.log(s[:, 1]), np.log(s[:, 0] / s[:, 1])]),
            SHORTCUTS[1]: transfer.raw_pixels(table)}


cross_validate = train.cross_validate_feature_sets   # paired folds for every feature set (train/probe.py)


def _fold_sizes(n: int, n_splits: int) -> tuple[int, int]:
    n_eval = round(n / n_splits)
    return n_eval, n - n_eval


def pick(finalists: Sequence[str], folds: dict[str, list[float]], cost: dict[str, float], n: int,
         n_splits: int) -> tuple[str, dict[str, dict]]:
    """The cheapest finalist that no costlier finalist beats with a supported verdict (margin 0, design
    'splits'): a costlier network must show its gain before it is chosen. `cost` orders them: :func:`choose`
    passes multiply-adds, which do not change with the machine's load (milliseconds do, and are reported beside).
    Returns the choice and the verdicts."""
    n_eval, n_train = _fold_sizes(n, n_splits)
    order = sorted(finalists, key=lambda c: cost[c])
    verdicts, chosen = {}, order[0]
    for costlier in order[1:]:
        v = claims.paired_verdict(folds[costlier], folds[chosen], design="splits", n_eval=n_eval, n_train=n_train)
        verdicts[f"{costlier} vs {chosen}"] = {"verdict": v.verdict, "diff": v.diff, "low": v.low, "high": v.high,
                                              "power": v.power, "a": costlier, "b": chosen}
        if v.verdict == claims.SUPPORTED:
            chosen = costlier
    return chosen, verdicts


def should_fine_tune(question: Question, n_per_class: int) -> bool:
    """'auto' fine-tunes only at 1,000+ images per class (``recommend.data_regime`` 'large', a stated rule of thumb,
    not a measurement): up to the 122-185 per class lab 02 could reach, it measured no gain of fine-tuning over the
    frozen probe that its seeds could show."""
    if question.fine_tune not in ("auto", "always", "never"):
        raise CourseLibError(f"fine_tune={question.fine_tune!r}: choose 'auto', 'always' or 'never'.")
    return question.fine_tune == "always" or (question.fine_tune == "auto"
                                               and recommend.data_regime(n_per_class) == "large")


def fine_tune_chosen(table: data.ImageTable, candidate: transfer.Candidate, X: np.ndarray, question: Question) -> dict:
    """The chosen network fine-tuned (all layers, a new head: ``transfer.fine_tune_candidates``) against a probe on
    its frozen features, both trained on the same 75% and scored on the same held-out 25% (grouped where the table
    has groups). One split, one seed: a first look at whether fine-tuning pays, not a verdict."""
    t0 = time.perf_counter()
    split = data.group_split if table.groups is not None else data.stratified_split
    tr, va = split(table, 0.25, seed=question.seed)
    where = {str(p): i for i, p in enumerate(table.paths)}
    rows_tr = [where[str(p)] for p in tr.paths]
    rows_va = [where[str(p)] for p in va.paths]
    probe = train.fit_linear_probe(X[rows_tr], tr.labels, X[rows_va], va.labels, classes=table.classes,
                                   seed=question.seed).metrics.accuracy
    recipe = transfer.FineTuneRecipe(epochs=question.fine_tune_epochs, input_size=question.input_size or 224)
    runs = transfer.fine_tune_candidates([candidate], tr, va, recipe, seeds=[question.seed])
    return {"probe": float(probe), "fine_tuned": float(runs["val_acc"].iloc[0]), "n_train": len(tr),
            "n_val": len(va), "epochs": recipe.epochs, "input_size": recipe.input_size,
            "train_seconds": float(runs["train_seconds"].iloc[0]), "seconds": time.perf_counter() - t0}


# ============================================================================= the pipeline
def choose(table: data.ImageTable, question: Question = Question(), progress: bool = False) -> Choice:
    """Answer the five questions for `table` from measurements here (see the module docstring for the steps).
    ``progress`` shows a progress bar while features are extracted (the slow step on a CPU)."""
    if question.task != "classification":
        raise CourseLibError(f"choose() compares classifiers; for {question.task!r} start from "
                             f"recommend.recommend(task={question.task!r}), which lists COCO-pretrained models.")
    if len(table.classes) < 2:
        raise CourseLibError(f"{table.name!r} has {len(table.classes)} class(es): a classifier needs at least two.")
    seconds, t0 = {}, time.perf_counter()
    if question.per_class:
        table = data.subsample_per_class(table, min(question.per_class, int(table.class_counts().min())),
                                         seed=question.seed)
    risks = risk_checks(table)
    n_per_class = int(table.class_counts().min())
    shortlist = recommend.recommend(domain=question.domain, n_per_class=n_per_class, compute=question.compute,
                                    realtime=question.fps is not None, fps=question.fps or 30.0, top=5)
    seconds["checks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cands, cf = _features(question, table, progress)
    scores, _ = transfer.score_candidates(cands, cf, n_splits=question.n_splits, seed=question.seed)
    seconds["features_and_scores"] = time.perf_counter() - t0
    by_name = {c.name: c for c in cands}
    pretrained = scores.drop(index=[c.name for c in cands if not c.pretrained])
    finalists = list(pretrained["LogME"].sort_values(ascending=False).index[:question.finalists])
    t0 = time.perf_counter()
    measured = [by_name[f] for f in finalists] + [transfer.Candidate(m) for m in question.models
                                                  if transfer.Candidate(m).name not in finalists]
    costs = measure_costs(measured, question.input_size)
    seconds["costs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    random_name = next(c.name for c in cands if not c.pretrained)
    feats = {c: cf.X[c] for c in [*finalists, random_name]} | shortcut_features(table)
    with env.one_blas_thread():   # small probes: OpenBLAS' idle threads only slow them on a busy machine
        folds = cross_validate(feats, table.labels, table.groups, question.n_splits, question.repeats, question.seed)
    seconds["cross_validation"] = time.perf_counter() - t0
    chosen, verdicts = pick(finalists, folds, costs["gmacs"].to_dict(), len(table), question.n_splits)
    n_eval, n_train = _fold_sizes(len(table), question.n_splits)
    floor = max([random_name, *SHORTCUTS], key=lambda k: np.mean(folds[k]))
    v = claims.paired_verdict(folds[chosen], folds[floor], design="splits", n_eval=n_eval, n_train=n_train)
    verdicts["chosen vs the best shortcut"] = {"verdict": v.verdict, "diff": v.diff, "low": v.low, "high": v.high,
                                              "power": v.power, "a": chosen, "b": floor}
    tuned = None
    if should_fine_tune(question, n_per_class):
        tuned = fine_tune_chosen(table, by_name[chosen], cf.X[chosen], question)
        seconds["fine_tune"] = tuned["seconds"]
    return Choice(table.name, question, risks, [r.to_dict() for r in shortlist], costs, scores, folds, verdicts,
                  chosen, adaptation_advice(n_per_class, question.domain), seconds, n_eval, n_train, tuned, feats,
                  np.asarray(table.labels), table.groups)


def _width(folds: list[float], n: int, n_splits: int) -> float:
    n_eval, n_train = _fold_sizes(n, n_splits)
    _, low, high, _, _ = claims.t_interval(np.asarray(folds), "splits", n_eval, n_train)
    return float(high - low)


def half_the_data(choice: Choice, draws: int = 5, seed: int = 0):
    """How much wider the 90% CV intervals get with half the images per class, measured on `choice`'s own feature
    sets (the chosen network's, random init's and the shortcuts'): each draw cross-validates every set on all the images and on a stratified half of them (both with the
    draw's seed), and the widths are averaged over the draws. One interval's width is itself noisy (it rests on a
    handful of folds); the average over draws and sets is not. A set whose accuracy never varies (a shortcut stuck
    at the majority class) has no width and is left out. One row per feature set, plus ``ratio`` = half / all."""
    import pandas as pd

    y = np.asarray(choice.labels)
    half = max(2, int(np.bincount(y).min()) // 2)
    k = choice.question.n_splits
    names = [n for n in choice.features if n == choice.chosen or n not in choice.costs.index]
    rows = {name: {"width_all": [], "width_half": []} for name in names}
    g = None if choice.groups is None else np.asarray(choice.groups)
    with env.one_blas_thread():
        for d in range(draws):
            rng = np.random.default_rng(seed + d)
            idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), half, replace=False)
                                          for c in np.unique(y)]))
            for name in names:
                X = choice.features[name]
                full = cross_validate({name: X}, y, g, k, 1, seed + d)[name]
                part = cross_validate({name: X[idx]}, y[idx], None if g is None else g[idx], k, 1, seed + d)[name]
                rows[name]["width_all"].append(_width(full, len(y), k))
                rows[name]["width_half"].append(_width(part, len(idx), k))
    t = pd.DataFrame({n: {c: float(np.mean(v)) for c, v in r.items()} for n, r in rows.items()}).T
    t = t[(t["width_all"] > 1e-9) & (t["width_half"] > 1e-9)]
    t["ratio"] = t["width_half"] / t["width_all"]
    t.attrs.update(per_class_half=half, draws=draws, ratio=float(t["width_half"].sum() / t["width_all"].sum()))
    return t
