"""Ensembles at equal latency: two small models' linear probes averaged, against one larger model's probe, on the
same folds, with the measured latencies side by side."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CourseLibError

ENSEMBLE = "ensemble"


def ensemble_cv(features: Mapping[str, Any], labels, members: Sequence[str], n_splits: int = 5, seed: int = 0,
                C: float = 1.0) -> dict[str, list[float]]:
    """Per-fold accuracy of each feature set's linear probe, and of the ensemble of `members` (the average of their
    probes' predicted probabilities), all on the same folds.

    Folds and probe are ``train.cross_val_probe``'s (stratified k-fold shuffled with `seed`; ``train.probe_pipeline(C,
    2000, seed)``), so each feature set's scores equal that function's and every list is paired with every other.
    Returns ``{name: [accuracy per fold], ..., "ensemble": [...]}``.
    """
    from sklearn.model_selection import StratifiedKFold

    from .. import train

    y = np.asarray(labels).ravel()
    X = {k: np.asarray(v) for k, v in features.items()}
    missing = [m for m in members if m not in X]
    if missing or not members:
        raise CourseLibError(f"ensemble members {list(members)} must be keys of the features ({list(X)}).")
    if any(v.ndim != 2 or len(v) != len(y) for v in X.values()):
        raise CourseLibError(f"every feature set needs one row per label ({len(y)}): got "
                             f"{ {k: v.shape for k, v in X.items()} }.")
    out: dict[str, list[float]] = {k: [] for k in (*X, ENSEMBLE)}
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for tr, va in splitter.split(np.zeros((len(y), 1)), y):
        probs = []
        for name, Xs in X.items():
            pipe = train.probe_pipeline(C, 2000, seed).fit(Xs[tr], y[tr])
            out[name].append(float((pipe.predict(Xs[va]) == y[va]).mean()))
            if name in members:
                probs.append((pipe.classes_, pipe.predict_proba(Xs[va])))
        classes = probs[0][0]
        mean = np.mean([p for _, p in probs], axis=0)
        out[ENSEMBLE].append(float((classes[mean.argmax(axis=1)] == y[va]).mean()))
    return out


def ensemble_latency(speed, members: Sequence[str]) -> list[float]:
    """Batch-1 latency of running `members` one after the other, per repeat: the sum of their measured latencies in
    the same interleaved repeat of :func:`measure_zoo` (``ms_bs1_all``), not a timing of one combined network."""
    runs = [np.asarray(speed.loc[m, "ms_bs1_all"], dtype=float) for m in members]
    if len({len(r) for r in runs}) != 1:
        raise CourseLibError("the members were timed a different number of times; time them in one measure_zoo call.")
    return [float(v) for v in np.sum(runs, axis=0)]


def ensemble_table(feats: Mapping[str, Any], members: Sequence[str], single: str, speed, n_splits: int = 5,
                   seed: int = 0):
    """Per data set: each member's probe, their ensemble and the `single` larger model's probe (5-fold, paired), next
    to batch-1 latency at the size the features were extracted at (``speed`` from :func:`measure_zoo` at that size;
    the ensemble's = :func:`ensemble_latency`).

    ``feats`` maps data set names to ``transfer.candidate_features`` results holding each model's whole network.
    Returns ``(table, folds)``: ``folds[(data, "ensemble")]`` and ``folds[(data, single)]`` are paired per-fold
    accuracies; ``n_eval`` / ``n_train`` are images per test and training fold (for ``design="splits"``).
    """
    import pandas as pd

    from ..transfer import Candidate

    names = {m: Candidate(m).name for m in (*members, single)}
    ms = {m: float(speed.loc[m, "ms_bs1"]) for m in (*members, single)}
    ms[ENSEMBLE] = float(np.median(ensemble_latency(speed, members)))
    label = {**names, ENSEMBLE: " + ".join(names[m] for m in members)}
    rows, folds = [], {}
    for data_name, cf in feats.items():
        n = len(cf.labels)
        n_eval = int(round(n / n_splits))
        cv = ensemble_cv({m: cf.X[names[m]] for m in (*members, single)}, cf.labels, members, n_splits, seed)
        for key in (*members, ENSEMBLE, single):
            folds[(data_name, key)] = cv[key]
            role = "member" if key in members else ENSEMBLE if key == ENSEMBLE else "single"
            rows.append({"data": data_name, "model": label[key], "role": role, "px": int(speed.loc[single, "img_size"]),
                         "ms_bs1": ms[key], "probe_acc": float(np.mean(cv[key])), "probe_std": float(np.std(cv[key])),
                         "n_eval": n_eval, "n_train": n - n_eval})
    table = pd.DataFrame(rows)
    single_rows = table[table["role"] == "single"].set_index("data")
    table["gain_vs_single"] = table["probe_acc"] - table["data"].map(single_rows["probe_acc"])
    table["latency_vs_single"] = table["ms_bs1"] / table["data"].map(single_rows["ms_bs1"])
    return table, folds


def ensemble_sentence(entry: Mapping[str, Any]) -> str:
    """The sentence a lab prints for one ``ensemble_equal_latency`` ledger entry: accuracies, latencies, verdict."""
    d, v = entry["details"], entry["verdict"]
    words = {"supported": "beats", "contradicted": "loses to"}.get(v, "cannot be told apart from")
    return (f"{d['data']}: {d['ensemble']} {entry['mean_a']:.3f} vs {d['single']} {entry['mean_b']:.3f} (difference "
            f"{entry['diff']:+.3f}, 90% interval [{entry['low']:+.3f}, {entry['high']:+.3f}]): the ensemble {words} "
            f"{d['single']} ({v}), at {d['ensemble_ms']:.1f} ms against {d['single_ms']:.1f} ms per image "
            f"({d['latency_ratio']:.2f}x; the ensemble's latency is the sum of its two measured members).")
