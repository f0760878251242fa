"""The claims ledger: what course texts say about choosing pre-trained models, and what the labs measured.

A :class:`Claim` is registered once (statement as usually quoted, where, which lab measures it, how). A lab that
measures it calls :func:`record` with the values per seed or fold; the entries go to a small JSON ledger beside the
lab's results, written atomically. :func:`verdict` turns the values into *supported*, *contradicted* or
*inconclusive* by one stated rule, and :func:`report` puts claim, numbers with spread and verdict side by side.
A registered claim with no measurement is listed as "not measured", never dropped.

The statistics (the verdict rule, t intervals, power) live in :mod:`course_lib.stats`; their names are
re-exported here, so ``claims.paired_verdict``, ``claims.RULE`` ... keep working.

Adding a claim: one ``register_claim(Claim(...))`` below, plus one ``claims.record(...)`` in the lab cell that measures it.
"""
from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._atomic import atomic_write
from ._registry import Registry
from .errors import CourseLibError
from .stats import (CONFIDENCE, CONTRADICTED, DESIGNS, INCONCLUSIVE, MIN_PAIRS, NOT_MEASURED, POWER,  # noqa: F401
                    RULE, SUPPORTED, Verdict, figure_verdict, paired_verdict, t_interval)


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str               # as course texts usually put it
    quoted_in: str               # where it is quoted
    lab: str                     # the lab that measures it (notebook stem)
    how: str                     # metric, data, what is compared
    a: str = ""                  # the side the claim says wins
    b: str = ""                  # the side it says loses
    margin: float = 0.0          # A must beat B by more than this to count as supported
    direction: str = "a_wins"    # "a_wins": A beats B by > margin; "no_gain": A does NOT beat B by more than margin


CLAIMS: Registry[Claim] = Registry("claim", "course_lib.claims.list_claims()", key=lambda c: c.id)


def register_claim(claim: Claim) -> Claim:
    return CLAIMS.register(claim)


def list_claims(pattern: str = "*") -> list[str]:
    """Claim ids matching a shell-style `pattern`, in the order the labs teach them (registration order)."""
    return CLAIMS.names(pattern)


def get_claim(claim_id: str) -> Claim:
    return CLAIMS[claim_id]


# --------------------------------------------------------------------------- the ledger
def ledger_path(results_path: str | os.PathLike) -> Path:
    """The ledger sits beside a lab's results file: ``<lab>.json`` -> ``<lab>.claims.json``."""
    p = Path(results_path)
    return p.with_name(p.stem + ".claims.json")


def record(ledger: str | os.PathLike, claim_id: str, *, a: Sequence[float] = (), b: Sequence[float] = (),
           design: str | None = None, n_eval: int | None = None, n_train: int | None = None,
           correct_a=None, correct_b=None, quoted: float | None = None, reference: float | None = None,
           tolerance: float | None = None, profile: str = "", unit: str = "", note: str = "", **details) -> dict:
    """Append one measurement of `claim_id` to the ledger file (atomically rewritten) and return the entry.

    Paired values need their `design` (see ``DESIGNS``): ``"seeds"`` with `n_eval` (and, better, the per-image
    results `correct_a` / `correct_b`), ``"splits"`` with `n_eval` and `n_train`, or ``"independent"``.
    """
    import timm
    import torch

    claim = get_claim(claim_id)
    if quoted is not None:
        if reference is None or tolerance is None:
            raise CourseLibError("a quoted figure needs its reference and a tolerance.")
        v = figure_verdict(quoted, reference, tolerance)
    else:
        if design is None:
            raise CourseLibError(f"claims.record({claim_id!r}, ...) needs design= one of {sorted(DESIGNS)}: the "
                                 "width of an honest interval depends on where the pairs come from.")
        v = paired_verdict(a, b, claim.margin, claim.direction, design=design, n_eval=n_eval, n_train=n_train,
                           correct_a=correct_a, correct_b=correct_b)
    entry = {"claim": claim_id, "lab": claim.lab, "a": [float(x) for x in a], "b": [float(x) for x in b],
             "quoted": quoted, "reference": reference, "tolerance": tolerance, "profile": profile, "unit": unit,
             "note": note, "n_eval": n_eval, "n_train": n_train, "details": details, **asdict(v),
             "versions": {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__}}
    path = Path(ledger)
    entries = load_ledger(path) if path.exists() else []
    entries.append(entry)
    with atomic_write(path, "w") as f:
        json.dump(entries, f, indent=1)
    return entry


def load_ledger(path: str | os.PathLike) -> list[dict]:
    return json.loads(Path(path).read_text())


def collect(folder: str | os.PathLike) -> list[dict]:
    """Every ledger entry under `folder` (all ``*.claims.json`` files)."""
    entries = []
    for f in sorted(Path(folder).rglob("*.claims.json")):
        entries.extend(load_ledger(f))
    return entries


def report_rows(entries: list[dict]) -> list[dict]:
    """One row per (claim, profile) measured, plus one "not measured" row per registered claim without entries."""
    rows = []
    for cid in list_claims():
        claim = get_claim(cid)
        mine = [e for e in entries if e["claim"] == cid]
        if not mine:
            rows.append({"claim": cid, "statement": claim.statement, "lab": claim.lab, "profile": "-",
                         "measured": "-", "verdict": NOT_MEASURED, "why": "no lab has recorded it yet"})
        for e in mine:
            if e.get("quoted") is not None:
                measured = f"quoted {e['quoted']:g} vs {e['reference']:g} {e['unit']}".strip()
            else:
                sa = np.std(e["a"]) if e["a"] else 0.0
                sb = np.std(e["b"]) if e["b"] else 0.0
                power = f"; detects {e['power']:+.3f}" if e.get("power") is not None else ""
                measured = (f"{claim.a or 'A'} {e['mean_a']:.3f}±{sa:.3f} vs {claim.b or 'B'} {e['mean_b']:.3f}±{sb:.3f} "
                            f"(n={e['n']} {e.get('design') or ''}; diff {e['diff']:+.3f}, {CONFIDENCE:.0%} CI "
                            f"[{e['low']:+.3f}, {e['high']:+.3f}]{power})" if e["n"] else "-")
            label = f"{e['note']}" if e.get("note") else ""
            rows.append({"claim": cid, "statement": claim.statement + (f" [{label}]" if label else ""), "lab": claim.lab,
                         "profile": e.get("profile") or "-", "measured": measured, "verdict": e["verdict"], "why": e["why"],
                         "power": e.get("power")})
    return rows


def report_markdown(entries: list[dict]) -> str:
    rows = report_rows(entries)
    lines = ["# Claims ledger", "", RULE, "", "| claim | statement | lab | profile | measured | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['statement']} | {r['lab']} | {r['profile']} | {r['measured']} | "
                     f"**{r['verdict']}** |")
    return "\n".join(lines) + "\n"


TIMING_UNITS = ("ms", "s", "img/s")   # verdicts on timings depend on the machine and its load: shown, never compared


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def docs_markdown(entries: list[dict], stamp: str = "") -> str:
    """The page ``docs/CLAIMS.md``: generated from the labs' ledgers (``python -m course_lib claims --docs``), never
    typed by hand. One row per measurement, keyed by claim and note, with its design, power and verdict, and one line
    per claim that reads the verdicts. `stamp` says which run produced it."""
    lines = ["# The claims ledger: what course texts say, what the labs measured", "",
             "<!-- generated by `python -m course_lib claims --docs docs/CLAIMS.md`; do not edit by hand -->", "",
             "Course texts on choosing pre-trained models repeat a handful of claims. Each lab measures the ones in "
             "its topic on real images and records the per-seed, per-split or per-repeat numbers with "
             "`claims.record(...)` in a ledger beside its results (`build/results/<lab>.claims.json`). This page is "
             "built from those ledgers" + (f" ({stamp})" if stamp else "") + "; `tests/test_claims.py` checks, "
             "verdict by verdict, that it matches what the fast profile measures (timings excepted: they depend on "
             "the machine). Rebuild it from your own runs with `COURSE_THREADS=1 python -m course_lib run-notebooks` "
             "then `python -m course_lib claims --docs docs/CLAIMS.md` (one torch thread, as the tests run: sums "
             "split across threads round differently).", "", "## The rule", "", RULE, "",
             "## Verdicts", "", "| claim | measurement | lab | measured | design | power | verdict |",
             "|---|---|---|---|---|---|---|"]
    rows = [r for r in report_rows(entries)]
    by_entry = [e for cid in list_claims() for e in entries if e["claim"] == cid]
    for r, e in zip([r for r in rows if r["verdict"] != NOT_MEASURED], by_entry):
        power = f"{e['power']:+.3f}" if e.get("power") is not None else "-"
        lines.append(f"| {r['claim']} | {_cell(e.get('note') or '-')} | {r['lab']} | {_cell(r['measured'])} | "
                     f"{e.get('design') or '-'} | {power} | **{r['verdict']}** |")
    for r in rows:
        if r["verdict"] == NOT_MEASURED:
            lines.append(f"| {r['claim']} | - | {r['lab']} | - | - | - | **{NOT_MEASURED}** |")
    lines += ["", "## Reading it", ""]
    for cid in list_claims():
        claim, mine = get_claim(cid), [e for e in entries if e["claim"] == cid]
        if not mine:
            lines.append(f"- **{cid}**: not measured; run {claim.lab}.")
            continue
        parts = []
        for e in mine:
            bit = f"{e['verdict']} on {e.get('note') or 'its measurement'}"
            if e["verdict"] == INCONCLUSIVE and e.get("power") is not None:
                bit += (f" (observed {e['diff']:+.3f}; this design would need a true difference beyond "
                        f"{e['power']:+.3f} to decide)")
            parts.append(bit)
        lines.append(f"- **{cid}** ({_cell(claim.statement)}): " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def docs_verdicts(text: str) -> dict[tuple[str, str], str]:
    """(claim, measurement) -> verdict, read back from a ``docs_markdown`` page (for the test that the committed
    page matches a fresh run)."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[-1].startswith("**") and cells[0] != "claim":
            out[(cells[0], cells[1])] = cells[-1].strip("*")
    return out


def plot_claim(claim_id: str, entries: list[dict]):
    """One small figure per claim: each measurement's A - B with its interval, against zero and the claim's margin
    (quoted figures: quoted minus reference, against the tolerance), and a blue tick at the difference its design
    could detect. Colour = verdict."""
    import matplotlib.pyplot as plt

    claim = get_claim(claim_id)
    mine = [e for e in entries if e["claim"] == claim_id and e.get("diff") is not None]
    if not mine:
        raise CourseLibError(f"no measurement of {claim_id!r} to plot; run its lab ({claim.lab}) first.")
    colours = {SUPPORTED: "#55A868", CONTRADICTED: "#C44E52", INCONCLUSIVE: "#8C8C8C"}
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(mine) + 1.3))
    for i, e in enumerate(mine):
        ax.errorbar(e["diff"], i, xerr=[[e["diff"] - e["low"]], [e["high"] - e["diff"]]], fmt="o", capsize=3,
                    color=colours.get(e["verdict"], "black"))
        if e.get("power") is not None:       # what this design could have called supported (80% of the time)
            ax.plot(e["power"], i, marker="|", ms=12, color="#4C72B0", label="power (80%)" if i == 0 else None)
    ax.axvline(0, color="black", lw=0.8)
    if mine[0].get("quoted") is not None:
        tol = mine[0]["tolerance"]
        ax.axvspan(-tol, tol, color="#55A868", alpha=0.12, label=f"within tolerance (±{tol:g})")
        ax.set_xlabel(f"quoted minus reference ({mine[0].get('unit') or 'units'})")
    else:
        if claim.margin:
            ax.axvline(claim.margin, color="grey", ls="--", lw=0.8, label=f"margin {claim.margin:g}")
        ax.set_xlabel(f"{claim.a or 'A'} minus {claim.b or 'B'} (mean, {CONFIDENCE:.0%} interval)")
    ax.set_yticks(range(len(mine)), [f"{e.get('note') or e['claim']} [{e.get('profile') or '-'}]"[:60] for e in mine],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_title(f"{claim_id}: " + ", ".join(sorted({e['verdict'] for e in mine})), fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def write_report(entries: list[dict], out: str | os.PathLike) -> Path:
    """The markdown report at `out`, with one plot per measured claim beside it (``<claim>.png``), linked below the
    table. Returns the report's path."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [report_markdown(entries), "## Plots", ""]
    for cid in list_claims():
        if any(e["claim"] == cid and e.get("diff") is not None for e in entries):
            fig = plot_claim(cid, entries)
            png = out.with_name(f"{cid}.png")
            with atomic_write(png, "wb") as f:
                fig.savefig(f, format="png", dpi=110)
            plt.close(fig)
            lines += [f"### {cid}", "", f"![{cid}]({png.name})", ""]
        else:
            lines += [f"### {cid}", "", f"{NOT_MEASURED}: run {get_claim(cid).lab} to measure it.", ""]
    with atomic_write(out, "w") as f:
        f.write("\n".join(lines))
    return out


# --------------------------------------------------------------------------- the claims the course teaches
for _c in (
    Claim("hierarchy", "Early layers learn generic features, late layers task-specific ones.",
          "Yosinski et al. 2014; most transfer-learning course texts", "01_hierarchical_features",
          "linear-probe accuracy on the far domain (EuroSAT): the mid stage chosen on `eurosat` (500 tiles: the best "
          "stage before the final one; that entry is exploratory) against the final stage, confirmed once on "
          "`eurosat_more` (1,500 disjoint tiles, repeated stratified 5-fold CV, design 'splits'); only the "
          "confirmation bears the verdict",
          a="mid-stage probe (chosen on eurosat)", b="final-stage probe"),
    Claim("small_data_extraction", "With a small data set, feature extraction is preferable to fine-tuning.",
          "PyTorch transfer-learning tutorial; CS231n notes", "02_feature_extraction_vs_finetuning",
          "accuracy at 5 images per class on the near and the far domain: frozen backbone + linear probe vs full "
          "fine-tuning from a new head, paired by seed (same images, same validation set; design 'seeds' with "
          "per-image results)",
          a="feature extraction", b="fine-tuning"),
    Claim("more_data_finetune", "With more data, fine-tuning overtakes feature extraction.",
          "CS231n notes; Kornblith et al. 2019", "02_feature_extraction_vs_finetuning",
          "accuracy with every training image (hymenoptera 122 per class; eurosat 185 per class: its train split "
          "plus eurosat_more, scored on eurosat's own 150 val images): the fine-tuning variant chosen on an inner "
          "stratified split of the training images (never on the validation set) vs frozen backbone + linear probe, "
          "paired by seed (design 'seeds' with per-image results)",
          a="fine-tuning (variant chosen on an inner split)", b="feature extraction"),
    Claim("pretrained_beats_scratch", "A pretrained model beats training from scratch on small data.",
          "most course texts", "02_feature_extraction_vs_finetuning",
          "accuracy at <= 20 images per class: full fine-tuning from ImageNet weights vs the same network from "
          "random weights, with the same images, batches and number of optimiser steps (the lab prints them), "
          "scratch scored after re-estimating its BatchNorm statistics on its training images "
          "(recalibrate_batchnorm); paired by size and seed (design 'seeds' with per-image results)",
          a="pretrained (full fine-tuning)", b="scratch (same steps)", margin=0.20),
    Claim("bigger_overfits", "Bigger models overfit more on small data.",
          "course texts on model capacity (CS231n notes: fine-tuning a large network on a small data set risks "
          "overfitting)", "02_feature_extraction_vs_finetuning",
          "full fine-tuning of EfficientNet-Lite0, -Lite1 and -Lite2 (4.7, 5.4, 6.1 M parameters, ImageNet weights) on "
          "the same 20 hymenoptera images per class (a seed picks them, the same for all three), at one input size, "
          "with the same epochs, optimiser steps and learning-rate schedule: the gap = accuracy on the training "
          "images (no augmentation) minus validation accuracy, Lite2's gap against Lite0's, paired by seed (design "
          "'seeds': the seed-to-seed spread plus the validation images' own sampling variance, per image)",
          a="Lite2 train - val gap", b="Lite0 train - val gap"),
    Claim("far_domain_poor", "An ImageNet model transfers poorly to satellite imagery and X-rays.",
          "course texts on domain shift", "01_hierarchical_features",
          "linear probe on the final stage, ImageNet weights vs the same architecture with random weights (the "
          "claim predicts no real gain): EuroSAT (500 tiles, stratified 5-fold CV) and bacterial vs viral pneumonia "
          "on `chest_xray_more` (682 X-rays, 5-fold CV grouped by patient, a fresh random network per repeat); "
          "design 'splits'. Raw pixels and the scan's aspect ratio are reported beside it in lab 01",
          a="ImageNet features", b="random-init features", margin=0.05, direction="no_gain"),
    Claim("source_match", "A source from a well-matched domain transfers better than a poorly matched one.",
          "course texts on choosing a pre-trained model (compatibility of task and data)", "03_model_comparison",
          "linear probe on the target's frozen pooled features (hymenoptera, 5-fold CV repeated, paired folds, design "
          "'splits'): the ImageNet network against the same network after fine-tuning every layer on chest X-rays "
          "(chest_xray_more, normal vs pneumonia, patient-grouped split)",
          a="ImageNet source", b="X-ray-adapted source"),
    Claim("negative_transfer", "Transfer from a poorly matched source can hurt: worse than no pretraining at all.",
          "course texts (the first warning of transfer learning); Rosenstein et al. 2005", "03_model_comparison",
          "the same probe and folds: the architecture with random weights (no transfer) against the X-ray-adapted "
          "source; supported would mean the mismatched source is worse than none",
          a="random init (no transfer)", b="X-ray-adapted source"),
    Claim("start_small", "Bigger models are not always better: start with the smallest.",
          "practitioner advice", "03_model_comparison",
          "5-fold cross-validated linear probe on all images of one data set (design 'splits'), pooled features of "
          "Lite2 vs Lite0, with probe and batch-1 latency measured at the same input size: one shared size for both "
          "(128 px) in the fast profile, each model's native size (Lite0 224 px, Lite2 260 px) in the full profile "
          "(the note says which); the claim predicts no real gain for the bigger model",
          a="Lite2", b="Lite0", margin=0.02, direction="no_gain"),
    Claim("ensemble_equal_latency", "Two small models ensembled beat one larger model at equal latency.",
          "course texts (ensembles: combining several models' power)", "03_model_comparison",
          "5-fold cross-validated linear probes on all images of one data set (design 'splits'), pooled features at "
          "the probe's input size (128 px in the fast profile, each model's native size in the full one): the "
          "average of the predicted probabilities of Lite0's and Lite1's probes (each trained exactly as the single "
          "model's probe, on the same folds) against Lite2's probe. Latency beside it, not part of the verdict: the "
          "ensemble's is the sum of its two members' measured batch-1 latencies (run one after the other), repeat "
          "by repeat; the note gives the measured ratio, so 'equal latency' is shown, not assumed",
          a="Lite0 + Lite1 ensemble", b="Lite2"),
    Claim("quoted_figures", "Published figures as quoted (e.g. ResNet-50: 74.9% top-1, 98 MB, 26 M parameters) match "
          "their source.",
          "Keras Applications table (https://keras.io/api/applications/), blog posts", "03_model_comparison",
          "each quoted figure (top-1, size in MB, parameters) against what its own source states (the Keras "
          "Applications table; for ViT-B/16's parameters the ViT paper's Table 1): supported when the quote is the "
          "source's figure correctly rounded (within half a unit of its last digit). How far the quote is from the "
          "torchvision weights this kit loads is a difference between two sets of weights, kept in each entry's "
          "details (kit_value, difference_from_kit), not a verdict"),
    Claim("realtime_latency", "For real-time processing, models with lower latency (e.g. EfficientNet, ResNet-50) "
          "should be prioritised over large transformers: does each fit a 30 fps frame budget?",
          "practitioner advice", "03_model_comparison",
          "per model (ResNet-18/50, EfficientNet-B0, EfficientNet-Lite0, MobileNet-V2, MobileNet-V3-Large, ViT-B/16, "
          "Swin-T; random weights, which do not change the time): the 30 fps frame budget (33.3 ms) minus the batch-1 "
          "latency at the model's own input size, one median of timed steps after warm-up per repeat, repeats "
          "interleaved across models on one machine (design 'independent'). Supported = fits the budget, "
          "contradicted = over it, on the machine the note names (cores, torch threads)",
          a="frame budget", b="measured latency"),
    Claim("convnets_faster_than_transformers", "Convnets such as EfficientNet and ResNet-50 have lower latency than "
          "large transformers (ViT, Swin).",
          "practitioner advice (the reason given for the real-time advice)", "03_model_comparison",
          "per named convnet: batch-1 latency of the faster of ViT-B/16 and Swin-T minus the convnet's, in the same "
          "interleaved repeat, each at its own input size, on one machine (design 'independent')",
          a="faster transformer (ms)", b="convnet (ms)"),
    Claim("imagenet_features_beat_shortcuts", "On your own images, pretrained features beat the shortcuts: the "
          "image's size and shape, raw pixels, and the same network with random weights.",
          "the capstone's risk check (lab 01's shortcut baselines)", "05_choose_for_your_data",
          "linear-probe accuracy over repeated stratified 5-fold CV (design 'splits') on the capstone's images: the "
          "features `choose.choose` picked vs the best of the shortcut baselines on the same folds",
          a="chosen pretrained features", b="best shortcut"),
    Claim("wildlife_little_compute", "With little compute, a pretrained classifier on whole frames is the practical option.",
          "wildlife case study text", "04_wildlife_case_study",
          "accuracy over event-grouped splits of the camera-trap frames, the pretrained whole-image classifier "
          "fine-tuned vs the same network trained from scratch, with the same optimiser steps and the same "
          "BatchNorm treatment (statistics re-estimated on the training images before scoring), at the "
          "classifier's measured cost per frame",
          a="pretrained classifier, fine-tuned", b="scratch, same steps"),
):
    register_claim(_c)
