"""The interview answer: "how do you choose a pre-trained model?", answered with five factors and measured evidence.

Course texts answer that question with five factors: the compatibility of the source task with yours, the size of
the model against the compute you have, how similar your data is to the source data, the metric that matters, and
how easily the model can be adapted. Here each factor comes with what this course measured: the capstone's own run
on the student's images and, when the other labs have written their ledgers into the same results folder, their
verdicts. A factor without evidence says which lab would give it.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

from .pipeline import Choice
from .report import accuracy_table

FACTORS = ("compatibility of task and source", "model size vs compute", "similarity of the data",
           "the metric that matters", "how the model adapts")
# the claims that bear on each factor, in the ledger's names (labs 01-04)
EVIDENCE = {FACTORS[0]: ("source_match", "negative_transfer"), FACTORS[1]: ("start_small", "realtime_latency"),
            FACTORS[2]: ("far_domain_poor", "hierarchy"), FACTORS[3]: ("wildlife_little_compute",),
            FACTORS[4]: ("small_data_extraction", "more_data_finetune", "pretrained_beats_scratch")}


def ledger_lines(entries: Sequence[Mapping], claim_ids: Sequence[str], per_claim: int = 3) -> list[str]:
    """One line per ledger entry of `claim_ids` (at most `per_claim` each, then a count): the claim, the data it was
    measured on and its verdict."""
    out = []
    for cid in claim_ids:
        mine = [e for e in entries if e["claim"] == cid]
        for e in mine[:per_claim]:
            where = str((e.get("details") or {}).get("dataset") or e.get("note") or "").split(";")[0].strip()
            diff = f" ({e['diff']:+.3f})" if e.get("diff") is not None else ""
            out.append(f"  - `{cid}`{' on ' + where if where else ''}: **{e['verdict']}**{diff}")
        if len(mine) > per_claim:
            verdicts = Counter(e["verdict"] for e in mine[per_claim:])
            out.append(f"  - `{cid}`: {len(mine) - per_claim} more (" +
                       ", ".join(f"{n} {v}" for v, n in verdicts.items()) + ")")
    return out


def own_run_lines(choice: Choice) -> dict[str, str]:
    """What the capstone's own run says for each factor."""
    t = accuracy_table(choice)
    best = t.loc[choice.chosen]
    shortcut = choice.verdicts["chosen vs the best shortcut"]
    cost = choice.costs.loc[choice.chosen]
    return {
        FACTORS[0]: f"ImageNet features against shortcuts on `{choice.name}`: **{shortcut['verdict']}** "
                    f"({shortcut['diff']:+.3f}).",
        FACTORS[1]: f"{choice.chosen}: {cost['gmacs']:.2f} GMACs, {cost['ms_bs1']:.1f} ms per image here; the rule "
                    "kept the cheaper finalist unless the costlier one was shown better.",
        FACTORS[2]: f"domain `{choice.question.domain}`; the finalists: "
                    + ", ".join(n for n in choice.costs.index if n in choice.folds) + ".",
        FACTORS[3]: f"cross-validated accuracy {best['cv_accuracy']:.3f} (90% interval {best['low']:.3f}-"
                    f"{best['high']:.3f}) against {choice.risks['majority']:.3f} for the majority class.",
        FACTORS[4]: choice.advice,
    }


def interview_answer(choice: Choice, entries: Sequence[Mapping] = ()) -> str:
    """The answer as Markdown: per factor, the question to ask, this run's evidence and the course's verdicts."""
    questions = {FACTORS[0]: "Was the source trained for a task like mine (classes, images, labels)?",
                 FACTORS[1]: "What does it cost per image on the hardware I have, and does a smaller one do as well?",
                 FACTORS[2]: "How far are my images from the source's (photos, satellite, X-rays)?",
                 FACTORS[3]: "Which number decides: accuracy, recall of a rare class, latency, throughput?",
                 FACTORS[4]: "Can I replace its head, freeze it, fine-tune it with the data I have?"}
    mine = own_run_lines(choice)
    out = ["**How do you choose a pre-trained model?** Five factors, each checked by a measurement:", ""]
    for i, factor in enumerate(FACTORS, 1):
        out += [f"{i}. **{factor.capitalize()}.** {questions[factor]}", f"  - this run: {mine[factor]}"]
        lines = ledger_lines(entries, EVIDENCE[factor])
        out += lines or [f"  - the course: run the lab that measures {', '.join(f'`{c}`' for c in EVIDENCE[factor])} "
                         "to add its verdict here."]
    return "\n".join(out)
