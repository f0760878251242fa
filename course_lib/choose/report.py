"""The decision report on a :class:`~course_lib.choose.pipeline.Choice`: the accuracy table with intervals, its
figure, the verdict lines, ``REPORT.md`` and ``choice.png``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import claims
from .pipeline import SHORTCUTS, Choice


def accuracy_table(choice: Choice):
    """Mean CV accuracy per feature set with its 90% interval (Nadeau-Bengio corrected t over the folds: the folds
    share training images) and, for networks, the measured cost."""
    import pandas as pd

    rows = []
    for name, acc in choice.folds.items():
        mean, low, high, _, _ = claims.t_interval(np.asarray(acc), "splits", choice.n_eval, choice.n_train)
        row = {"features": name, "cv_accuracy": float(mean), "low": float(low), "high": float(high)}
        if name in choice.costs.index:
            row.update(ms_bs1=float(choice.costs.loc[name, "ms_bs1"]),
                       s_per_1000_images=choice.costs.loc[name, "s_per_1000_images"],
                       peak_mem_mb=choice.costs.loc[name, "peak_mem_mb"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("features").sort_values("cv_accuracy", ascending=False)


def plot_choice(choice: Choice, ax=None):
    """CV accuracy with its interval per feature set, the chosen one in red, the majority class dashed."""
    import matplotlib.pyplot as plt

    t = accuracy_table(choice)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(t) + 1.2))
    colours = ["#C44E52" if n == choice.chosen else "#4C72B0" if n in choice.costs.index else "#999999"
               for n in t.index]
    ax.barh(range(len(t)), t["cv_accuracy"], xerr=[t["cv_accuracy"] - t["low"], t["high"] - t["cv_accuracy"]],
            color=colours, capsize=3)
    ax.set_yticks(range(len(t)), t.index)
    ax.invert_yaxis()
    ax.axvline(choice.risks["majority"], ls="--", color="grey", label="majority class")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"linear-probe accuracy, {choice.question.repeats} x {choice.question.n_splits}-fold CV (90% interval)")
    ax.set_title(f"{choice.name}: the chosen features (red), other candidates (blue), shortcuts and random init (grey)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def _markdown_table(frame) -> str:
    """A DataFrame as a GitHub table (pandas' to_markdown needs the optional tabulate package)."""
    def cell(v):
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    head = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[str(i), *map(cell, r)] for i, r in zip(frame.index, frame.itertuples(index=False))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])


def _verdict_lines(choice: Choice) -> list[str]:
    lines = []
    for what, v in choice.verdicts.items():
        lines.append(f"- {v['a']} minus {v['b']}: {v['diff']:+.3f}, 90% interval [{v['low']:+.3f}, {v['high']:+.3f}] "
                     f"-> **{v['verdict']}** (this design detects {v['power']:+.3f} 80% of the time).")
    return lines


def report_markdown(choice: Choice) -> str:
    """The decision report: the choice, the evidence, what was ruled out and why, the risks, the cost, what next."""
    t = accuracy_table(choice)
    c = t.loc[choice.chosen]
    shortcut = choice.verdicts["chosen vs the best shortcut"]
    ruled_out = [n for n in choice.costs.index if n != choice.chosen]
    q = choice.question
    out = [f"# Which pretrained model for `{choice.name}`?", "",
           f"**Choice: {choice.chosen}**, read by a linear probe on its frozen features: cross-validated accuracy "
           f"{c.cv_accuracy:.3f} (90% interval {c.low:.3f}-{c.high:.3f}), {c.ms_bs1:.1f} ms per image at batch 1 and "
           f"{c.s_per_1000_images} s per 1,000 images at batch 8 on this machine, {c.peak_mem_mb} MB peak memory.", "",
           f"{choice.risks['images']} images, {len(choice.risks['classes'])} classes "
           f"({', '.join(f'{k} {v}' for k, v in choice.risks['classes'].items())}); "
           f"{q.repeats} x {q.n_splits}-fold cross-validation"
           + (" grouped so no group spans two folds" if choice.risks["groups"] else "") + ".", "",
           "## Evidence", "", _markdown_table(t.round(3)), "", *_verdict_lines(choice), "",
           "## Ruled out, and why", ""]
    for n in ruled_out:
        row = t.loc[n] if n in t.index else None
        why = (f"cross-validated {row.cv_accuracy:.3f}: not better than {choice.chosen} by a margin the folds can show"
               if row is not None else f"LogME ranked it below the finalists ({choice.scores.loc[n, 'LogME']:.3f})")
        out.append(f"- {n}: {why}; {choice.costs.loc[n, 'ms_bs1']:.1f} ms per image.")
    out += ["", "## Risks found before trusting a number", ""]
    out += [f"- {w}" for w in choice.risks["warnings"]] or ["- none of the checks fired (balance, duplicates, group "
                                                           "leakage, tiny or extreme images)."]
    if shortcut["verdict"] != claims.SUPPORTED:
        out.append(f"- the chosen features do not clearly beat the best shortcut ({shortcut['b']}): a high score here "
                   "may come from image size, colour or layout, not content. Look at the images before trusting it.")
    if choice.fine_tuned:
        f = choice.fine_tuned
        out += ["", "## Fine-tuning the choice", "",
                f"- On one held-out split ({f['n_train']} training, {f['n_val']} validation images): fine-tuned "
                f"({f['epochs']} epochs at {f['input_size']} px, {f['train_seconds']:.0f} s of training here) "
                f"{f['fine_tuned']:.3f} vs the frozen probe {f['probe']:.3f}. One split and one seed: a first look, "
                "not a verdict; repeat it over seeds (lab 02) before switching."]
    else:
        out += ["", "## Fine-tuning the choice", "",
                f"- Not run: with {min(choice.risks['classes'].values())} images in the smallest class, lab 02 "
                "measured no gain of fine-tuning over the frozen probe that its seeds could show "
                "(`Question(fine_tune='always')` runs it anyway)."]
    out += ["", "## What next", "", f"- {choice.advice}",
            "- With more compute: fine-tune the chosen network on a held-out split, and try the larger candidates "
            "at their native input size (`Question(input_size=None)`).",
            "", f"Shortlist from the five questions (domain {q.domain!r}, compute {q.compute!r}"
            + (f", {q.fps:g} fps" if q.fps else "") + "): "
            + ", ".join(r["model"] for r in choice.shortlist) + ".",
            "", f"Run time: {', '.join(f'{k} {v:.0f} s' for k, v in choice.seconds.items())}."]
    return "\n".join(out) + "\n"


def write_report(choice: Choice, folder: str | Path | None = None) -> Path:
    """``REPORT.md`` and ``choice.png`` in `folder` (default ``<output>/reports/<data set name>``), written atomically."""
    import matplotlib.pyplot as plt

    from .. import env
    from .._atomic import atomic_write

    folder = Path(folder) if folder is not None else env.output_dir() / "reports" / Path(choice.name).name
    folder.mkdir(parents=True, exist_ok=True)
    ax = plot_choice(choice)
    ax.figure.tight_layout()
    ax.figure.savefig(folder / "choice.png", dpi=110)
    plt.close(ax.figure)
    text = report_markdown(choice) + "\n![cross-validated accuracy per feature set](choice.png)\n"
    with atomic_write(folder / "REPORT.md", "w") as f:
        f.write(text)
    return folder / "REPORT.md"


def findings(choice: Choice) -> list[str]:
    """What this run showed, in sentences made from its numbers (the lab prints them; no result is typed into prose):
    the chosen features against the shortcuts, whether the image's shape alone carries the label, where the finalists
    are cut, and whether the costlier finalist earned its cost."""
    t, majority = accuracy_table(choice), choice.risks["majority"]
    v = choice.verdicts["chosen vs the best shortcut"]
    out = [f"- {v['a']} against the best shortcut ({v['b']}): {v['diff']:+.3f}, 90% interval "
           f"[{v['low']:+.3f}, {v['high']:+.3f}] -> **{v['verdict']}**."]
    shape = SHORTCUTS[0]
    if shape in t.index:
        acc = t.loc[shape, "cv_accuracy"]
        out.append(f"- The image's size and shape alone: {acc:.3f}, against {majority:.3f} for the majority class: "
                   + ("no better, so the shape holds no shortcut here." if t.loc[shape, "low"] <= majority else
                      "better than the majority, so the shape itself tells the classes apart: a shortcut to remove."))
    finalists = [n for n in choice.costs.index if n in choice.folds]
    cuts = ["whole" if "@" not in n else f"cut after {n.split('@')[1]}" for n in finalists]
    out.append("- Finalists (LogME's top two): " + ", ".join(f"{n} ({c})" for n, c in zip(finalists, cuts)) + ".")
    for key, w in choice.verdicts.items():
        if key != "chosen vs the best shortcut":
            out.append(f"- The costlier {w['a']} minus the cheaper {w['b']}: {w['diff']:+.3f} "
                       f"[{w['low']:+.3f}, {w['high']:+.3f}] -> {w['verdict']}; chosen: **{choice.chosen}**.")
    return out
