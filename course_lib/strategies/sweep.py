"""Many runs and what they say: data-size sweeps, the choice on an inner split, learning-rate runs, and the tables
that turn rows into curves with spread (:func:`summarize`), paired runs (:func:`claim_pairs`), crossings and a
decision table."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import CourseLibError
from . import run
from .names import ALL, COST_ORDER
from .task import Task, inner_task


def choose_on_inner_split(task: Task, candidates: Sequence[str], seeds: Sequence[int], epochs: int = 3,
                          val_fraction: float = 0.25, split_seed: int = 0, **run_kwargs) -> dict:
    """Pick one of `candidates` (strategy names) by their mean accuracy on an inner split of the training images
    (:func:`inner_task`), all of them trained on the inner train part with every seed in `seeds`. Exact ties go to
    the cheaper strategy (``COST_ORDER``). Returns ``{"winner", "scores": {strategy: mean inner accuracy},
    "n_inner_train", "n_inner_val", "rows"}``; the task's own validation set plays no part. A single candidate is
    returned as it is, with no training (``scores`` empty): it was fixed before any measurement, nothing is chosen.
    """
    if not candidates:
        raise CourseLibError("choose_on_inner_split needs at least one candidate strategy.")
    if len(candidates) == 1:
        return {"winner": candidates[0], "scores": {}, "n_inner_train": 0, "n_inner_val": 0,
                "split_seed": int(split_seed), "rows": []}
    inner = inner_task(task, val_fraction, split_seed)
    rows = [run.run_strategy(c, inner, None, s, epochs, **run_kwargs) for c in candidates for s in seeds]
    scores = pd.DataFrame(rows).groupby("strategy")["accuracy"].mean()
    order = [c for c in COST_ORDER if c in scores.index] + sorted(set(scores.index) - set(COST_ORDER))
    winner = next(c for c in order if scores[c] >= scores.max())
    return {"winner": winner, "scores": {c: float(scores[c]) for c in order}, "n_inner_train": len(inner.train),
            "n_inner_val": len(inner.val), "split_seed": int(split_seed), "rows": rows}



# ----------------------------------------------------------------------------- sweeps
def data_size_sweep(task: Task, plan: Mapping[str, Sequence[int | str | None]], seeds: Sequence[int], epochs: int = 3,
                    callback: Callable[[dict], None] | None = None, **run_kwargs) -> pd.DataFrame:
    """Every strategy in `plan` at each of its sizes (images per class; None or "all": the whole train set) for
    every seed: one row per run. The same seed picks the same images for every strategy."""
    rows = []
    for strategy, sizes in plan.items():
        for size in usable_sizes(task, sizes):
            for seed in seeds:
                row = run.run_strategy(strategy, task, None if size in (None, ALL) else int(size), seed, epochs,
                                       **run_kwargs)
                rows.append(row)
                if callback is not None:
                    callback(row)
    return pd.DataFrame(rows)


def usable_sizes(task: Task, sizes: Sequence[int | str | None]) -> list[int | str]:
    """`sizes` without those this data set cannot give (n per class >= its smallest class, when "all" is also
    asked for, is the whole train set again); None becomes "all"."""
    sizes = [ALL if s in (None, ALL) else int(s) for s in sizes]
    keep = [s for s in sizes if s == ALL or s < task.max_per_class or (s == task.max_per_class and ALL not in sizes)]
    return list(dict.fromkeys(keep))


def sweep_to_dict(sweep: pd.DataFrame, value: str = "accuracy") -> dict:
    """{dataset: {strategy: {size: {"mean", "std", "n_seeds", "n_per_class", "values", "seeds", "seconds"}}}} for the
    results JSON (``seconds``: mean wall time of one run)."""
    out: dict = {}
    for (dataset, strategy, size), g in sweep.groupby(["dataset", "strategy", "size"], sort=False):
        g = g.sort_values("seed")
        stats = mean_std(g[value])
        out.setdefault(dataset, {}).setdefault(strategy, {})[str(size)] = {
            "mean": stats["mean"], "std": stats["std"], "n_seeds": stats["n"],
            "n_per_class": float(g["n_per_class"].mean()), "values": [float(v) for v in g[value]],
            "seeds": [int(v) for v in g["seed"]], "seconds": float(g["seconds"].mean())}
    return out


def paired(sweep: pd.DataFrame, dataset: str, a: str, b: str, sizes: Iterable[str] | None = None,
           value: str = "accuracy") -> tuple[list[float], list[float]]:
    """Values of strategies `a` and `b` paired by (size, seed): same images, same seed, for paired comparisons."""
    s = sweep[sweep["dataset"] == dataset]
    if sizes is not None:
        s = s[s["size"].isin([str(x) for x in sizes])]
    wide = s[s["strategy"].isin([a, b])].pivot_table(index=["size", "seed"], columns="strategy", values=value)
    wide = wide.dropna()
    if a not in wide or b not in wide:
        return [], []
    return wide[a].tolist(), wide[b].tolist()


def claim_pairs(sweep: pd.DataFrame, dataset: str, a: str, b: str, sizes: Iterable[str] | None = None) -> dict:
    """The runs of strategies `a` and `b` paired by (size, seed), ready for ``claims.record(..., design="seeds",
    **pairs)``: their accuracies ``a`` and ``b``, each run's per-image results ``correct_a`` / ``correct_b`` (the
    same validation images in the same order) and ``n_eval``, the number of validation images."""
    s = sweep[sweep["dataset"] == dataset]
    if sizes is not None:
        s = s[s["size"].isin([str(x) for x in sizes])]
    left, right = (s[s["strategy"] == x].set_index(["size", "seed"]) for x in (a, b))
    for x, side in ((a, left), (b, right)):
        if side.index.has_duplicates:
            raise CourseLibError(f"{x!r} has several runs at the same size and seed on {dataset!r} (other "
                                 "settings?): pass runs with one row per strategy, size and seed.")
    keys = sorted(left.index.intersection(right.index),
                  key=lambda k: (k[0] == ALL, int(k[0]) if k[0] != ALL else 0, k[1]))
    if not keys:
        return {"a": [], "b": [], "correct_a": None, "correct_b": None, "n_eval": None}
    correct_a = [list(map(int, left.loc[k, "correct"])) for k in keys]
    correct_b = [list(map(int, right.loc[k, "correct"])) for k in keys]
    n_eval = {len(c) for c in correct_a + correct_b}
    if len(n_eval) != 1:
        raise CourseLibError(f"the runs of {a!r} and {b!r} on {dataset!r} were scored on different numbers of "
                             f"validation images ({sorted(n_eval)}); pair runs of one validation set only.")
    return {"a": [float(left.loc[k, "accuracy"]) for k in keys],
            "b": [float(right.loc[k, "accuracy"]) for k in keys],
            "correct_a": correct_a, "correct_b": correct_b, "n_eval": n_eval.pop()}


def summarize(sweep: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean, standard deviation (over seeds, ddof=1; 0 for one seed) and number of seeds per data set, strategy, size."""
    g = sweep.groupby(["dataset", "strategy", "size"], sort=False)
    out = g.agg(n_per_class=("n_per_class", "mean"), mean=(value, "mean"), std=(value, "std"), n_seeds=("seed", "nunique"),
                seconds=("seconds", "mean")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out.sort_values(["dataset", "strategy", "n_per_class"]).reset_index(drop=True)


def _curve(summary: pd.DataFrame, dataset: str, strategy: str) -> pd.Series:
    s = summary[(summary["dataset"] == dataset) & (summary["strategy"] == strategy)]
    return s.set_index("n_per_class")["mean"].sort_index()


def crossing_points(summary: pd.DataFrame, dataset: str, a: str, b: str) -> list[dict]:
    """Where the mean curves of strategies `a` and `b` cross, on the sizes both were run at.

    A crossing lies where ``mean_a - mean_b`` changes sign: between two neighbouring sizes it is interpolated
    linearly in log(images per class); if the curves meet exactly at a size in between, it is that size (a touch
    without a change of sign is no crossing). An empty list: the same curve is ahead wherever they differ.
    """
    ca, cb = _curve(summary, dataset, a), _curve(summary, dataset, b)
    common = ca.index.intersection(cb.index)
    d = (ca[common] - cb[common]).sort_index()
    xs, ds = d.index.to_numpy(dtype=float), d.to_numpy(dtype=float)
    out, last = [], None  # last: index of the previous size where the curves differ
    for i, di in enumerate(ds):
        if di == 0:
            continue
        if last is not None and np.sign(di) != np.sign(ds[last]):
            if i == last + 1:  # between two sizes: interpolate where the difference reaches 0
                t = ds[last] / (ds[last] - di)
                x = float(np.exp(np.log(xs[last]) + t * (np.log(xs[i]) - np.log(xs[last]))))
            else:  # the curves meet exactly at the size(s) in between
                x = float(np.exp(np.log(xs[last + 1:i]).mean()))
            out.append({"dataset": dataset, "a": a, "b": b, "between": [float(xs[last]), float(xs[i])],
                        "n_per_class": x, "ahead_before": a if ds[last] > 0 else b, "ahead_after": a if di > 0 else b})
        last = i
    return out


def leader(summary: pd.DataFrame, dataset: str, a: str, b: str) -> str | None:
    """The strategy ahead at every common size, or None if the curves cross or touch."""
    ca, cb = _curve(summary, dataset, a), _curve(summary, dataset, b)
    common = ca.index.intersection(cb.index)
    d = ca[common] - cb[common]
    if len(d) and (d > 0).all():
        return a
    if len(d) and (d < 0).all():
        return b
    return None


def all_crossings(summary: pd.DataFrame) -> list[dict]:
    """Crossings of every pair of strategies on every data set; pairs that never cross say who stays ahead."""
    out = []
    for dataset in summary["dataset"].unique():
        present = [s for s in COST_ORDER if s in set(summary.loc[summary["dataset"] == dataset, "strategy"])]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                found = crossing_points(summary, dataset, a, b)
                out.extend(found or [{"dataset": dataset, "a": a, "b": b, "between": None, "n_per_class": None,
                                      "ahead_before": leader(summary, dataset, a, b),
                                      "ahead_after": leader(summary, dataset, a, b)}])
    return out


def best_strategies(summary: pd.DataFrame, dataset: str, size: str | int, tolerance: float = 0.02) -> list[str]:
    """Strategies whose mean accuracy at `size` is within `tolerance` (or the best's seed spread) of the best,
    cheapest first: all of them are right answers for this cell; the first is what the decision table shows."""
    s = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
    if s.empty:
        raise CourseLibError(f"no sweep results for {dataset!r} at size {size!r}; sizes run: "
                             f"{sorted(set(summary.loc[summary['dataset'] == dataset, 'size']))}.")
    best = s.loc[s["mean"].idxmax()]
    margin = max(tolerance, float(best["std"]))
    close = set(s.loc[s["mean"] >= best["mean"] - margin, "strategy"])
    return [c for c in COST_ORDER if c in close] + sorted(close - set(COST_ORDER))


def decision_table(summary: pd.DataFrame, closeness: Mapping[str, str], tolerance: float = 0.02,
                   sizes: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows: training images per class; columns: how close each data set's domain is to the pretraining data.

    Each cell names the cheapest strategy within `tolerance` of the best measured one (more compute is only worth
    it when it buys accuracy), with its mean accuracy. `closeness` maps data set -> e.g. "near" / "far".
    """
    sizes = list(sizes) if sizes is not None else sorted(
        set(summary["size"]), key=lambda s: (s == ALL, int(s) if s != ALL else 0))
    table = pd.DataFrame(index=pd.Index(sizes, name="images per class"),
                         columns=pd.Index([f"{c} ({d})" for d, c in closeness.items()], name="domain"), dtype=object)
    for dataset, close in closeness.items():
        for size in sizes:
            s = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
            if s.empty:
                continue
            pick = best_strategies(summary, dataset, size, tolerance)[0]
            acc = float(s.loc[s["strategy"] == pick, "mean"].iloc[0])
            table.loc[size, f"{close} ({dataset})"] = f"{pick} ({100 * acc:.0f}%)"
    return table


def decision_dict(summary: pd.DataFrame, closeness: Mapping[str, str], tolerance: float = 0.02) -> dict:
    """The decision table as {closeness: {size: {"strategy", "accuracy", "ties"}}}, for the results JSON."""
    out: dict = {}
    for dataset, close in closeness.items():
        for size in summary.loc[summary["dataset"] == dataset, "size"].unique():
            ties = best_strategies(summary, dataset, size, tolerance)
            s = summary[(summary["dataset"] == dataset) & (summary["size"] == size)].set_index("strategy")["mean"]
            out.setdefault(close, {})[str(size)] = {"dataset": dataset, "strategy": ties[0],
                                                    "accuracy": float(s[ties[0]]), "ties": ties}
    return out



# ----------------------------------------------------------------------------- learning rate and LP-FT
def lr_experiment(task: Task, lrs: Sequence[float], seeds: Sequence[int], epochs: int = 3,
                  n_per_class: int | None = None, reuse: pd.DataFrame | None = None, **kw) -> pd.DataFrame:
    """Full fine-tuning with the backbone at each learning rate in `lrs` (the head keeps its own rate): accuracy and
    how far the backbone's weights moved from their pretrained values (``weight_change``).

    Runs already in `reuse` (e.g. the sweep's full fine-tuning at the same size, seed and rates) are taken from it.
    """
    lr_head = kw.get("lr_head", 1e-2)
    size = ALL if n_per_class in (None, ALL) else str(int(n_per_class))
    rows = []
    for lr in lrs:
        for seed in seeds:
            hit = pd.DataFrame()
            if reuse is not None and "lr_backbone" in reuse:
                hit = reuse[(reuse["dataset"] == task.name) & (reuse["strategy"] == "full_ft") & (reuse["size"] == size)
                            & (reuse["seed"] == seed) & np.isclose(reuse["lr_backbone"].astype(float), lr)
                            & np.isclose(reuse["lr_head"].astype(float), lr_head)]
            if len(hit):
                rows.append({**hit.iloc[0].to_dict(), "reused": True})
            else:
                row = run.run_strategy("full_ft", task, n_per_class, seed, epochs, **{**kw, "lr_backbone": lr})
                rows.append({**row, "reused": False})
    out = pd.DataFrame(rows)
    out["lr"] = out["lr_backbone"].astype(float)
    return out


def mean_std(values: Iterable[float]) -> dict:
    """{"mean", "std", "n"} of a list (std with ddof=1; 0 for one value): the shape every measured number takes."""
    v = np.asarray(list(values), dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}
