"""Lab 03's bookkeeping around the transferability study, one call each, so the lab's cells show what is measured.

- :func:`truth_by_seed` and :func:`study_costs`: the fine-tuning ground truth per candidate and seed, and what
  the cheap scores cost next to it;
- :func:`random_init_facts`: does every pretrained candidate beat random init after fine-tuning, and which scores
  rank random init last;
- :func:`compatibility_table`, :func:`compatibility_summary`: one linear probe on the val split per data set and
  kind of features (ImageNet Lite0 after each stage, random-init Lite0, raw pixels);
- the figures: :func:`plot_transferability` (LogME against fine-tuning, and each score's rank agreement next to a
  perfect score's) and :func:`plot_compatibility`.
Used in: 03.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import train
from .ranking import ranks_last

COMPAT_COLORS = {"ImageNet Lite0": "#4C72B0", "random": "#8172B2", "other": "#999999"}


def truth_by_seed(runs: pd.DataFrame, candidates: Sequence) -> tuple[pd.DataFrame, pd.Series]:
    """(val accuracy per candidate and seed, its mean over seeds), candidates in the order given."""
    by_seed = runs.pivot(index="candidate", columns="seed", values="val_acc").loc[[c.name for c in candidates]]
    return by_seed, by_seed.mean(axis=1)


def study_costs(feats, score_seconds: Mapping[str, float], runs: pd.DataFrame, first_seed: int) -> dict:
    """Seconds of the cheap route (extracting features, each score) and of fine-tuning every candidate once."""
    first = runs[runs["seed"] == first_seed]
    return {"extract_features_s": sum(feats.seconds.values()), **{f"{k}_s": v for k, v in score_seconds.items()},
            "fine_tune_all_s": float(first["train_seconds"].sum()),
            "resumed_runs": int(runs["resumed"].sum()), "runs": len(runs)}


def random_init_facts(truth: pd.Series, scores: pd.DataFrame, candidates: Sequence, random_name: str,
                      val_labels) -> dict:
    """What fine-tuning says about the random-init candidate, and which scores already rank it last."""
    pre = truth.drop(random_name)
    kind = {c.name: "random" if not c.pretrained else (c.stage or "whole") for c in candidates}
    val_labels = np.asarray(val_labels)
    return {"pretrained_min_acc": float(pre.min()), "random_acc": float(truth[random_name]),
            "majority": float(np.bincount(val_labels).max() / len(val_labels)),
            "pretrained_beats_random": bool(pre.min() > truth[random_name]),
            "group_means": truth.groupby(kind).mean().to_dict(),
            "score_group_means": scores.groupby(kind).mean().to_dict(),
            "random_ranked_last": {s: ranks_last(scores[s].dropna().to_dict(), random_name) for s in scores.columns}}


def probe_val(X, table, seed: int = 0) -> float:
    """A linear probe fitted on the table's train split, its accuracy on the val split."""
    tr, va = table.split == "train", table.split == "val"
    return train.fit_linear_probe(X[tr], table.labels[tr], X[va], table.labels[va], seed=seed).metrics.accuracy


def compatibility_table(sets: Mapping[str, tuple], stages: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """One row per data set and features: `sets` maps a name to (table, candidate features with "Lite0" and
    "Lite0 random", raw pixels). Columns data, features, layer, val_acc and the val split's majority fraction."""
    rows = []
    for name, (table, cf, raw) in sets.items():
        for stage in stages:
            rows.append({"data": name, "features": "ImageNet Lite0", "layer": stage,
                         "val_acc": probe_val(cf.layers["Lite0"][stage], table, seed)})
        rows.append({"data": name, "features": "random-init Lite0", "layer": "pooled",
                     "val_acc": probe_val(cf.layers["Lite0 random"]["pooled"], table, seed)})
        rows.append({"data": name, "features": "raw pixels 16x16", "layer": "-", "val_acc": probe_val(raw, table, seed)})
    compat = pd.DataFrame(rows)
    compat["majority"] = compat["data"].map(
        {n: float(np.bincount(t.labels[t.split == "val"]).max() / (t.split == "val").sum())
         for n, (t, _, _) in sets.items()})
    return compat


def compatibility_summary(compat: pd.DataFrame, names: Sequence[str]) -> dict:
    """Per data set: pretrained (pooled), random-init and raw-pixel accuracy, the best stage and every stage's."""
    def acc(name, features, layer):
        sel = compat[(compat["data"] == name) & (compat["features"] == features) & (compat["layer"] == layer)]
        return float(sel["val_acc"].iloc[0])

    out = {}
    for name in names:
        stages = compat[(compat["data"] == name) & (compat["features"] == "ImageNet Lite0")].set_index("layer")["val_acc"]
        out[name] = {"pretrained": acc(name, "ImageNet Lite0", "pooled"), "random": acc(name, "random-init Lite0", "pooled"),
                     "raw_pixels": acc(name, "raw pixels 16x16", "-"), "best_stage": stages.idxmax(),
                     "best_stage_acc": float(stages.max()), "stages": stages.to_dict()}
    return out


def plot_transferability(scores: pd.DataFrame, truth: pd.Series, agreement: pd.DataFrame, name: str,
                         score: str = "LogME"):
    """Left: `score` against the fine-tuned accuracy, one point per candidate; right: each score's Kendall tau with
    its interval, next to the tau a perfect score reaches."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4.2))
    s, t = scores[score], truth
    colors = ["#8172B2" if "random" in c else "#4C72B0" if "@" in c else "#C44E52" for c in s.index]
    a.scatter(s, t, c=colors)
    for c in s.index:
        a.annotate(c, (s[c], t[c]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    a.set_xlabel(f"{score} on training features"); a.set_ylabel("val accuracy after fine-tuning (mean of seeds)")
    a.set_title(f"{name}: {score} vs fine-tuning (red: whole, blue: cut, purple: random)")
    ag = agreement
    x = np.arange(len(ag))
    b.bar(x - 0.2, ag["kendall_tau"], 0.4, yerr=[ag["kendall_tau"] - ag["tau_low"], ag["tau_high"] - ag["kendall_tau"]],
          color="#4C72B0", capsize=3, label="Kendall tau (90% interval over candidates)")
    b.errorbar(x + 0.2, ag["perfect_tau"], yerr=[ag["perfect_tau"] - ag["perfect_low"], ag["perfect_high"] - ag["perfect_tau"]],
               fmt="s", color="grey", capsize=3, label="a perfect score (90% range)")
    b.set_xticks(x, ag.index)
    b.axhline(0, color="black", lw=0.8)
    b.set_ylim(-1.05, 1.05); b.set_ylabel("rank agreement with fine-tuning"); b.tick_params(axis="x", rotation=30)
    b.set_title("Each score vs the ground truth, next to a perfect score"); b.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_compatibility(compat: pd.DataFrame):
    """One panel per data set: val accuracy of each kind of features, the majority class dashed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, (name, part) in zip(axes, compat.groupby("data", sort=False)):
        labels = [f"{r.features}\n{r.layer}" if r.layer not in ("-", "pooled") or r.features == "ImageNet Lite0"
                  else r.features for r in part.itertuples()]
        colors = [COMPAT_COLORS["ImageNet Lite0"] if f == "ImageNet Lite0" else COMPAT_COLORS["random"]
                  if f.startswith("random") else COMPAT_COLORS["other"] for f in part["features"]]
        ax.bar(range(len(part)), part["val_acc"], color=colors)
        ax.set_xticks(range(len(part)), [l.replace("ImageNet Lite0\n", "") for l in labels], rotation=45, fontsize=7,
                      ha="right")
        ax.axhline(part["majority"].iloc[0], ls="--", color="grey", label="majority class")
        ax.set_ylim(0, 1.05); ax.set_ylabel("val accuracy (linear probe)")
        ax.set_title(f"{name}: ImageNet Lite0 stages (blue), random init (purple), raw pixels (grey)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


__all__ = ["COMPAT_COLORS", "compatibility_summary", "compatibility_table", "plot_compatibility",
           "plot_transferability", "probe_val", "random_init_facts", "study_costs", "truth_by_seed"]
