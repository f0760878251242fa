"""The claims ledger: what course texts say about choosing pre-trained models, and what the labs measured.

A :class:`Claim` is registered once (statement as usually quoted, where, which lab measures it, how). A lab that
measures it calls :func:`record` with the values per seed or fold; the entries go to a small JSON ledger beside the
lab's results, written atomically. :func:`verdict` turns the values into *supported*, *contradicted* or
*inconclusive* by one stated rule, and :func:`report` puts claim, numbers with spread and verdict side by side.
A registered claim with no measurement is listed as "not measured", never dropped.

Adding a claim: one ``register_claim(Claim(...))`` below, plus one ``claims.record(...)`` in the lab cell that measures it.
"""
from __future__ import annotations

import fnmatch
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._atomic import atomic_write
from .errors import CourseLibError, unknown_name

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not measured"
MIN_PAIRS = 3          # fewer paired values than this: inconclusive, whatever the means say
BOOTSTRAP = 2000       # resamples of the paired differences
CONFIDENCE = 0.90      # two-sided interval of the mean difference
RULE = (f"Each claim compares A with B on paired measurements (same seed or fold). We bootstrap the mean of A - B "
        f"({BOOTSTRAP} resamples, fixed seed) for a {CONFIDENCE:.0%} interval: supported if the whole interval is above "
        f"the claim's margin, contradicted if it is entirely below zero, inconclusive otherwise or with fewer than "
        f"{MIN_PAIRS} pairs. A claim that A brings no gain is supported if the whole interval is below its margin and "
        f"contradicted if the whole interval is above it. Quoted figures are supported when within the stated "
        f"tolerance of the reference.")


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


_CLAIMS: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    if claim.id in _CLAIMS:
        raise CourseLibError(f"a claim with id {claim.id!r} is already registered; pick another id.")
    _CLAIMS[claim.id] = claim
    return claim


def list_claims(pattern: str = "*") -> list[str]:
    return [c for c in _CLAIMS if fnmatch.fnmatch(c, pattern)]


def get_claim(claim_id: str) -> Claim:
    if claim_id not in _CLAIMS:
        raise unknown_name("claim", claim_id, _CLAIMS, "course_lib.claims.list_claims()")
    return _CLAIMS[claim_id]


# --------------------------------------------------------------------------- verdicts
@dataclass
class Verdict:
    verdict: str
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    why: str = ""


def paired_verdict(a: Sequence[float], b: Sequence[float], margin: float = 0.0, seed: int = 0,
                   direction: str = "a_wins") -> Verdict:
    """The stated rule (see ``RULE``) on paired values of A and B.

    ``direction="no_gain"`` is for claims that predict A is *not* better ("transfers poorly", "bigger is not better"):
    supported when the whole interval of A - B lies below `margin`, contradicted when it lies above it.
    """
    if direction not in ("a_wins", "no_gain"):
        raise CourseLibError(f"direction must be 'a_wins' or 'no_gain', got {direction!r}.")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise CourseLibError(f"paired measurements need as many A as B values, got {a.size} and {b.size}.")
    n = int(a.size)
    if n == 0:
        return Verdict(NOT_MEASURED, why="no values")
    d = a - b
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
    low, high = (float(np.quantile(means, q)) for q in ((1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2))
    out = Verdict(INCONCLUSIVE, float(a.mean()), float(b.mean()), float(d.mean()), low, high, n)
    if n < MIN_PAIRS:
        out.why = f"only {n} paired value(s); at least {MIN_PAIRS} are needed"
    elif direction == "no_gain":
        if high < margin:
            out.verdict, out.why = SUPPORTED, f"A gains less than {margin:g} over B across the whole interval"
        elif low > margin:
            out.verdict, out.why = CONTRADICTED, f"A beats B by more than {margin:g} across the whole interval"
        else:
            out.why = f"the interval [{low:.3f}, {high:.3f}] straddles {margin:g}"
    elif low > margin:
        out.verdict, out.why = SUPPORTED, f"A - B is above {margin:g} across the whole interval"
    elif high < 0:
        out.verdict, out.why = CONTRADICTED, "B beats A across the whole interval"
    else:
        out.why = f"the interval [{low:.3f}, {high:.3f}] does not clear {margin:g}" + (" and spans zero" if low <= 0 <= high else "")
    return out


def figure_verdict(quoted: float, reference: float, tolerance: float) -> Verdict:
    """A quoted figure against its reference (e.g. torchvision metadata), within an absolute tolerance."""
    diff = quoted - reference
    ok = abs(diff) <= tolerance
    return Verdict(SUPPORTED if ok else CONTRADICTED, quoted, reference, diff, diff, diff, 1,
                   f"quoted {quoted:g} vs reference {reference:g} (tolerance {tolerance:g})")


# --------------------------------------------------------------------------- the ledger
def ledger_path(results_path: str | os.PathLike) -> Path:
    """The ledger sits beside a lab's results file: ``<lab>.json`` -> ``<lab>.claims.json``."""
    p = Path(results_path)
    return p.with_name(p.stem + ".claims.json")


def record(ledger: str | os.PathLike, claim_id: str, *, a: Sequence[float] = (), b: Sequence[float] = (),
           quoted: float | None = None, reference: float | None = None, tolerance: float | None = None,
           profile: str = "", unit: str = "", note: str = "", **details) -> dict:
    """Append one measurement of `claim_id` to the ledger file (atomically rewritten) and return the entry."""
    import timm
    import torch

    claim = get_claim(claim_id)
    if quoted is not None:
        if reference is None or tolerance is None:
            raise CourseLibError("a quoted figure needs its reference and a tolerance.")
        v = figure_verdict(quoted, reference, tolerance)
    else:
        v = paired_verdict(a, b, claim.margin, direction=claim.direction)
    entry = {"claim": claim_id, "lab": claim.lab, "a": [float(x) for x in a], "b": [float(x) for x in b],
             "quoted": quoted, "reference": reference, "tolerance": tolerance, "profile": profile, "unit": unit,
             "note": note, "details": details, **asdict(v),
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
                measured = (f"{claim.a or 'A'} {e['mean_a']:.3f}±{sa:.3f} vs {claim.b or 'B'} {e['mean_b']:.3f}±{sb:.3f} "
                            f"(n={e['n']}; diff {e['diff']:+.3f}, {CONFIDENCE:.0%} CI [{e['low']:+.3f}, {e['high']:+.3f}])"
                            if e["n"] else "-")
            label = f"{e['note']}" if e.get("note") else ""
            rows.append({"claim": cid, "statement": claim.statement + (f" [{label}]" if label else ""), "lab": claim.lab,
                         "profile": e.get("profile") or "-", "measured": measured, "verdict": e["verdict"], "why": e["why"]})
    return rows


def report_markdown(entries: list[dict]) -> str:
    rows = report_rows(entries)
    lines = ["# Claims ledger", "", RULE, "", "| claim | statement | lab | profile | measured | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['statement']} | {r['lab']} | {r['profile']} | {r['measured']} | "
                     f"**{r['verdict']}** |")
    return "\n".join(lines) + "\n"


def plot_claim(claim_id: str, entries: list[dict]):
    """One small figure per claim: each measurement's A - B with its interval, against zero and the claim's margin
    (quoted figures: quoted minus reference, against the tolerance). Colour = verdict."""
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
          "linear-probe accuracy per stage, near (hymenoptera) vs far (eurosat) domain",
          a="mid-stage probe on the far domain", b="final-stage probe on the far domain"),
    Claim("small_data_extraction", "With a small data set, feature extraction is preferable to fine-tuning.",
          "PyTorch transfer-learning tutorial; CS231n notes", "02_feature_extraction_vs_finetuning",
          "accuracy at the smallest data size, frozen backbone + linear head vs full fine-tuning",
          a="feature extraction", b="fine-tuning"),
    Claim("more_data_finetune", "With more data, fine-tuning overtakes feature extraction.",
          "CS231n notes; Kornblith et al. 2019", "02_feature_extraction_vs_finetuning",
          "accuracy with all training images, fine-tuning vs frozen backbone + linear head",
          a="fine-tuning", b="feature extraction"),
    Claim("pretrained_beats_scratch", "A pretrained model beats training from scratch on small data.",
          "most course texts", "02_feature_extraction_vs_finetuning",
          "accuracy at <= 20 images per class, pretrained linear probe vs the same network trained from scratch",
          a="pretrained", b="scratch", margin=0.20),
    Claim("far_domain_poor", "An ImageNet model transfers poorly to satellite imagery and X-rays.",
          "course texts on domain shift", "01_hierarchical_features",
          "eurosat linear probe: ImageNet features vs random-init features (the claim predicts no real gain)",
          a="ImageNet features", b="random-init features", margin=0.05, direction="no_gain"),
    Claim("start_small", "Bigger models are not always better: start with the smallest.",
          "practitioner advice", "03_model_comparison",
          "linear-probe accuracy of Lite2 vs Lite0 (the claim predicts no real gain for the bigger model)",
          a="Lite2", b="Lite0", margin=0.02, direction="no_gain"),
    Claim("quoted_figures", "Published figures as quoted (e.g. ResNet-50: 74.9% top-1, 98 MB, 26 M parameters).",
          "Keras Applications table, blog posts", "03_model_comparison",
          "quoted figure vs torchvision / timm metadata"),
    Claim("realtime_latency", "For real time, prefer low-latency models: a small model fits a 30 fps budget on a CPU.",
          "practitioner advice", "03_model_comparison",
          "frame budget (33.3 ms) minus the measured batch-1 latency of the smallest zoo model, per repeat",
          a="frame budget", b="measured latency"),
    Claim("wildlife_little_compute", "With little compute, a pretrained classifier on whole frames is the practical option.",
          "wildlife case study text", "04_wildlife_case_study",
          "accuracy of the pretrained whole-image classifier vs training from scratch, at its measured cost",
          a="pretrained classifier", b="scratch"),
):
    register_claim(_c)
