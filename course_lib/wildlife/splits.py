"""Leak-free groups for camera traps: stations, capture times, events, event splits, grouped CV and baselines."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import data, train
from ..errors import DataError


# --------------------------------------------------------------------------- groups
_CAMTRAP = re.compile(r"(?P<station>[^/\\]+?)__(?P<date>\d{4}-\d{2}-\d{2})__(?P<h>\d{2})-(?P<m>\d{2})-(?P<s>\d{2})")
_SERENGETI = re.compile(r"S\d+_(?P<site>[A-Z]\d{2})_R\d+")


def stations(table: data.ImageTable) -> np.ndarray:
    """The camera location of every image: a camtrapR station, a Snapshot Serengeti site code, a CCT
    ``location`` column, else the source data set (one LILA test frame per place, so that is the honest unit)."""
    out = []
    frame = table.frame
    for i, p in enumerate(table.paths):
        m, s = _CAMTRAP.search(Path(p).name), _SERENGETI.search(Path(p).name)
        if "location" in frame and frame["location"].iloc[i] is not None and not pd.isna(frame["location"].iloc[i]):
            out.append(str(frame["location"].iloc[i]))
        elif m:
            out.append(m["station"])
        elif s:
            out.append(f"serengeti:{s['site']}")
        elif "source_dataset" in frame:
            out.append(str(frame["source_dataset"].iloc[i]))
        else:
            out.append(Path(p).parent.name)
    return np.array(out, dtype=object)


def capture_times(table: data.ImageTable) -> pd.Series:
    """When each image was taken, where the file name or a ``datetime`` column says (camtrapR names it); else NaT."""
    times = []
    for i, p in enumerate(table.paths):
        m = _CAMTRAP.search(Path(p).name)
        if m:
            times.append(pd.Timestamp(f"{m['date']} {m['h']}:{m['m']}:{m['s']}"))
        elif "datetime" in table.frame and table.frame["datetime"].iloc[i] is not None:
            times.append(pd.to_datetime(table.frame["datetime"].iloc[i], errors="coerce"))
        else:
            times.append(pd.NaT)
    return pd.Series(times, dtype="datetime64[ns]", name="time")


def event_groups(table: data.ImageTable, gap_minutes: float = 5.0) -> np.ndarray:
    """Independent events: frames of one station less than `gap_minutes` apart form one group (a chain: a visit
    that lasts ten minutes in one-minute bursts is one event). Near-identical frames of one visit must never sit on
    both sides of a split. Images without a time keep their table group. Ecologists call such groups independent
    detections (camtrapR's ``minDeltaTime``)."""
    times, where = capture_times(table), stations(table)
    base = table.groups if table.groups is not None else np.array([str(p) for p in table.paths])
    out = np.array([f"g:{g}" for g in base], dtype=object)
    frame = pd.DataFrame({"station": where, "time": times}).reset_index()
    for station, g in frame.dropna(subset=["time"]).sort_values("time").groupby("station"):
        event, last = 0, None
        for row in g.itertuples():
            if last is not None and (row.time - last).total_seconds() > gap_minutes * 60:
                event += 1
            out[row.index] = f"event:{station}#{event}"
            last = row.time
    return out.astype(str)


def with_groups(table: data.ImageTable, groups: Sequence[str]) -> data.ImageTable:
    """The same table with other groups (e.g. :func:`event_groups`), so ``data.group_split`` and
    ``data.assert_no_leak`` use them."""
    groups = np.asarray(groups, dtype=str)
    if len(groups) != len(table):
        raise DataError(f"need one group per image: {len(groups)} groups for {len(table)} images.")
    return dataclasses.replace(table, groups=groups, frame=table.frame.assign(group=groups))


def _concat(a: data.ImageTable, b: data.ImageTable) -> data.ImageTable:
    groups = None if a.groups is None or b.groups is None else np.concatenate([a.groups, b.groups])
    return data.ImageTable(a.name, a.task, [*a.paths, *b.paths], np.concatenate([a.labels, b.labels]), list(a.classes),
                           groups, None, pd.concat([a.frame, b.frame], ignore_index=True))


def shared_events(train_table: data.ImageTable, val_table: data.ImageTable, gap_minutes: float = 5.0) -> list[str]:
    """Events (:func:`event_groups`, computed over both sides together) that have frames in train and in val:
    each one is a visit the model has already seen when it is scored. An empty list means no leak."""
    both = _concat(train_table, val_table)
    ev = event_groups(both, gap_minutes)
    return sorted(set(ev[:len(train_table)]) & set(ev[len(train_table):]))


def event_split(table: data.ImageTable, val_fraction: float = 0.25, seed: int = 0,
                gap_minutes: float = 5.0) -> tuple[data.ImageTable, data.ImageTable]:
    """Train/val with whole events on one side (``data.group_split`` on :func:`event_groups`). Classes with a
    single event cannot be on both sides: they all go to train (a species seen once cannot be scored)."""
    grouped = with_groups(table, event_groups(table, gap_minutes))
    n_events = pd.Series(grouped.groups).groupby(grouped.labels).nunique()
    splittable = np.isin(grouped.labels, n_events[n_events >= 2].index.to_numpy())
    if not splittable.any():
        raise DataError("no class has two events, so no class can be on both sides; add images.")
    sub_idx, rest_idx = np.flatnonzero(splittable), np.flatnonzero(~splittable)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tr, va = data.group_split(grouped.subset(sub_idx).drop_rare(1), val_fraction=val_fraction, seed=seed)
    pos = {str(p): i for i, p in enumerate(grouped.paths)}
    train_idx = np.sort(np.concatenate([[pos[str(p)] for p in tr.paths], rest_idx]).astype(int))
    val_idx = np.sort(np.array([pos[str(p)] for p in va.paths], dtype=int))
    return grouped.subset(train_idx), grouped.subset(val_idx)


def random_vs_grouped_cv(X, y, groups, seeds: Iterable[int] = range(5), n_splits: int = 5,
                         C: float = 1.0) -> pd.DataFrame:
    """Linear-probe accuracy under random K-fold CV and under group K-fold CV, per seed (same features, same folds
    count): ``random - grouped`` is how much the random split flatters the model when near-duplicates leak."""
    import warnings

    rows = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            r = train.cross_val_probe(X, y, None, n_splits, seed=seed, C=C)
            g = train.cross_val_probe(X, y, groups, n_splits, seed=seed, C=C)
        rows.append({"seed": seed, "random": r["mean"], "grouped": g["mean"], "gap": r["mean"] - g["mean"]})
    return pd.DataFrame(rows)


def station_baseline(train_table: data.ImageTable, val_table: data.ImageTable) -> float:
    """Accuracy of predicting, for every val image, the most common training species at its station (no image
    looked at): what the background alone is worth. An unseen station counts as an error."""
    tr_st, va_st = stations(train_table), stations(val_table)
    majority = {}
    for st in set(tr_st):
        labels = train_table.labels[tr_st == st]
        majority[st] = int(np.bincount(labels).argmax())
    hits = [majority.get(st, -1) == int(y) for st, y in zip(va_st, val_table.labels)]
    return float(np.mean(hits))


def out_of_fold_proba(X, y, groups, n_classes: int, n_splits: int = 5, seed: int = 0, C: float = 1.0) -> np.ndarray:
    """Class probabilities for every image from a probe that never saw its group (StratifiedGroupKFold). A class
    missing from a training fold gets probability 0 there: a species never seen cannot be named."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    X, y = np.asarray(X), np.asarray(y)
    proba = np.zeros((len(y), n_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for tr, va in folds.split(X, y, groups):
            if len(np.unique(y[tr])) < 2:
                proba[va, y[tr][0]] = 1.0
                continue
            pipe = train.probe_pipeline(C, 2000, seed).fit(X[tr], y[tr])
            proba[np.ix_(va, pipe.classes_)] = pipe.predict_proba(X[va])
    return proba


def probe_proba(probe, X, n_classes: int) -> np.ndarray:
    """Probabilities of a fitted probe (``train.fit_linear_probe(...).model``) over all `n_classes` classes; classes
    it never saw get 0."""
    proba = np.zeros((len(X), n_classes))
    proba[:, probe.classes_] = probe.predict_proba(np.asarray(X))
    return proba

