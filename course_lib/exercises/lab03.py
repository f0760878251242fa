"""Exercises of lab 03 (comparing and choosing pretrained models), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab03 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables (and the lab's measured tables) from the notebook.

1. :class:`ParetoFront`: ``front``, the models of the measured ``speed`` table that no other model beats on both
   batch-1 latency and ImageNet top-1.
2. :class:`NCEByHand`: ``def my_nce(source_labels, target_labels)``, negative conditional entropy, checked on cases.
3. :class:`TauOfLogME`: ``tau_logme``, Kendall's tau between LogME and the accuracy after fine-tuning, from the
   lab's own ``scores`` and ``truth`` tables (hymenoptera).
4. :class:`FirstStep`: ``first_step``, per far-domain data set, the features to try first: the cheapest option of
   section 6's measured ``compat`` table within 2 points of the best (it differs between the two data sets).
5. :class:`Reconcile`: ``origins``, three figures the course texts quote (ResNet-50 76.2%, Inception-v3 78.8%,
   MobileNet 17 MB) traced to the weights, version and crop they belong to, among ``recommend.figure_origins()``.
6. :class:`ReplyToTheQuote`: ``reply``, a written reply to a colleague's quoted figures, with this run's latency of
   ViT-B/16, its real-time verdict and a model from this run's 30 fps shortlist (rubric: instructor copy and
   docs/RUBRICS.md).
"""
from __future__ import annotations

import math
import re

import numpy as np

from .. import recommend, transfer
from ..checks import (ChoiceProblem, Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises,  # noqa: F401  (re-exported)
                      check_function, name_pattern)

__all__ = ["EXERCISES", "FirstStep", "NCEByHand", "ParetoFront", "Reconcile", "ReplyToTheQuote", "TauOfLogME", "____", "bind_exercises"]


class ParetoFront(Problem):
    """The front of top-1 against published multiply-adds (``gflops``): the lab drew the latency and size fronts,
    this one the learner computes (nothing above the question prints it)."""
    vars = ("front", "speed")
    COST = "gflops"
    hints = ("A model is on the front when no other model needs at most as many multiply-adds and is at least as "
             "accurate (and strictly better on one of the two).",
             "Compare every pair of rows of `speed` on `gflops` (lower is better) and `top1` (higher is better); "
             "`recommend.pareto_front(speed, 'gflops')` returns the answer as a boolean Series.")
    solution_code = "front = list(speed.index[recommend.pareto_front(speed, cost='gflops', gain='top1')])"
    correct_message = ("every other model is beaten on both axes by one of these. Multiply-adds, unlike latency, do "
                       "not change with the machine's load; compare this front with the latency front of section 2.")

    def verify(self, front, speed):
        if isinstance(front, str) or not hasattr(front, "__iter__"):
            raise Incorrect(f"`front` should be a list of model names, got {type(front).__name__}.")
        got = [str(n) for n in front]
        unknown = [n for n in got if n not in speed.index]
        if unknown:
            raise Incorrect(f"{unknown} are not rows of `speed`; pick names from speed.index.")
        cost = self.COST
        want = set(speed.index[recommend.pareto_front(speed, cost, "top1")])
        extra, missing = sorted(set(got) - want), sorted(want - set(got))
        if extra:
            name = extra[0]
            c, top1 = speed.loc[name, cost], speed.loc[name, "top1"]
            better = speed[(speed[cost] <= c) & (speed["top1"] >= top1) & (speed.index != name)]
            raise Incorrect(f"{name!r} is dominated: {better.index[0]!r} needs at most as many multiply-adds "
                            f"({better[cost].iloc[0]:.2f} vs {c:.2f} G) and is at least as accurate "
                            f"({better['top1'].iloc[0]:.1f} vs {top1:.1f}%).")
        if missing:
            name = missing[0]
            raise Incorrect(f"{name!r} is missing: no model is both cheaper and more accurate than it "
                            f"({speed.loc[name, cost]:.2f} G multiply-adds, {speed.loc[name, 'top1']:.1f}%).")
        return None


class NCEByHand(Problem):
    vars = ("my_nce",)
    hints = ("Count how often each (source label z, target label y) pair occurs and divide by N: that is P(y, z); "
             "P(z) is its sum over y.",
             "NCE = sum over pairs of P(y, z) * log(P(y, z) / P(z)), with the natural log: minus the conditional "
             "entropy H(Y | Z), so it is at most 0.")
    solution_code = ("def my_nce(source_labels, target_labels):\n"
                     "    z, y = np.asarray(source_labels), np.asarray(target_labels)\n"
                     "    total = 0.0\n"
                     "    for zi in np.unique(z):\n"
                     "        p_z = np.mean(z == zi)\n"
                     "        for yi in np.unique(y):\n"
                     "            p_yz = np.mean((z == zi) & (y == yi))\n"
                     "            if p_yz > 0:\n"
                     "                total += p_yz * np.log(p_yz / p_z)\n"
                     "    return total")
    correct_message = ("0 when each ImageNet class the source model predicts maps to one target class, -H(Y) when "
                       "they tell nothing about it.")

    @staticmethod
    def cases():
        rng = np.random.default_rng(3)
        z_rand = rng.integers(0, 5, 40)
        y_rand = (z_rand + (rng.random(40) < 0.3) * rng.integers(1, 3, 40)) % 3
        return [("a perfect mapping", [3, 3, 7, 7, 9, 9], [0, 0, 1, 1, 1, 1]),
                ("a useless source", [5, 5, 5, 5], [0, 1, 0, 1]),
                ("a partial mapping", [1, 1, 1, 2, 2, 2], [0, 0, 1, 1, 1, 1]),
                ("40 random pairs", z_rand.tolist(), y_rand.tolist())]

    def verify(self, my_nce):
        check_function(my_nce, "my_nce", "my_nce(source_labels, target_labels)")
        for what, z, y in self.cases():
            want = transfer.nce(np.array(z), np.array(y))
            got = my_nce(list(z), list(y))
            if got is None:
                raise Incorrect("my_nce returned None: did you forget a `return` statement?")
            got = float(got)
            if math.isclose(got, want, abs_tol=1e-9):
                continue
            why = ""
            if math.isclose(got, -want, abs_tol=1e-9) and want != 0:
                why = " The sign is flipped: NCE is *minus* the conditional entropy (higher = better transfer)."
            elif want != 0 and math.isclose(got, want / math.log(2), rel_tol=1e-9):
                why = " That is in bits (log2); use the natural log, as LEEP does."
            raise Incorrect(f"on {what} (source {z}, target {y}) expected {want:.4f}, got {got:.4f}.{why}")
        # Behaviour: renaming the source classes must not change the score.
        z, y = self.cases()[3][1:]
        renamed = [100 + 7 * v for v in z]
        if not math.isclose(float(my_nce(renamed, y)), float(my_nce(z, y)), abs_tol=1e-9):
            raise Incorrect("renaming the source classes (0 -> 100, 1 -> 107, ...) changed your score; NCE may depend "
                            "only on which images share a source class.")
        return None


class TauOfLogME(Problem):
    vars = ("tau_logme", "scores", "truth")
    hints = ("Kendall's tau compares orders, not values: count candidate pairs that LogME and fine-tuning order "
             "the same way, minus those they order differently, over the number of pairs.",
             "`scipy.stats.kendalltau(scores['hymenoptera']['LogME'], truth['hymenoptera'])` (tau-b, which handles "
             "ties); line the candidates up by name first.")
    solution_code = ("from scipy.stats import kendalltau\n"
                     "s = scores['hymenoptera']['LogME']\n"
                     "t = truth['hymenoptera'].loc[s.index]\n"
                     "tau_logme = kendalltau(s, t).statistic")

    def verify(self, tau_logme, scores, truth):
        from scipy.stats import pearsonr, spearmanr

        try:
            got = float(tau_logme)
        except (TypeError, ValueError):
            raise Incorrect(f"`tau_logme` should be a number, got {type(tau_logme).__name__}; a kendalltau result "
                            "holds it in `.statistic`.") from None
        s = scores["hymenoptera"]["LogME"].astype(float)
        t = truth["hymenoptera"].astype(float).loc[s.index]
        want = transfer.kendall_tau(s, t)
        if math.isclose(got, want, abs_tol=1e-6):
            return (f"tau = {want:.2f} over {len(s)} candidates: read it next to what a perfect score reaches before "
                    "calling a score good or bad.")
        if math.isclose(got, float(spearmanr(s, t).statistic), abs_tol=1e-6):
            raise Incorrect("that is Spearman's rho (correlation of ranks); the lab reports Kendall's tau (pairs "
                            "ordered alike minus pairs ordered differently).")
        if math.isclose(got, float(pearsonr(s, t).statistic), abs_tol=1e-6):
            raise Incorrect("that is Pearson's r on the raw values; a ranking only needs the order: Kendall's tau.")
        shuffled = transfer.kendall_tau(s.to_numpy(), truth["hymenoptera"].astype(float).to_numpy())
        if math.isclose(got, shuffled, abs_tol=1e-6) and not math.isclose(shuffled, want, abs_tol=1e-6):
            raise Incorrect("the candidates are not lined up: take the truth in the order of the scores' index "
                            "(truth['hymenoptera'].loc[s.index]).")
        raise Incorrect(f"expected {want:.4f}, got {got:.4f}.")


# The options of section 6's `compat` table, cheapest first: raw pixels need no network, a cut network costs less the
# earlier it stops, and the random-init network costs what the whole pretrained one does.
FIRST_STEP_COST = {"raw pixels 16x16": 0, "Lite0 blocks.2": 1, "Lite0 blocks.3": 2, "Lite0 blocks.4": 3,
                   "Lite0 blocks.5": 4, "Lite0 blocks.6": 5, "Lite0 pooled": 6, "random-init Lite0": 6}
FIRST_STEP_SLACK = 0.02   # "no more than 2 points below the best"


def first_step_options(compat) -> dict[str, dict[str, float]]:
    """Validation accuracy per data set and option, named as the question names them."""
    out: dict[str, dict[str, float]] = {}
    for r in compat.itertuples():
        option = {"ImageNet Lite0": f"Lite0 {r.layer}"}.get(r.features, r.features)
        out.setdefault(r.data, {})[option] = float(r.val_acc)
    return out


def first_step_answers(compat) -> dict[str, set[str]]:
    """Per data set, the cheapest options within FIRST_STEP_SLACK of the best (a set: equal costs tie)."""
    out = {}
    for data, acc in first_step_options(compat).items():
        ok = [o for o, a in acc.items() if a >= max(acc.values()) - FIRST_STEP_SLACK - 1e-9]
        cheapest = min(FIRST_STEP_COST[o] for o in ok)
        out[data] = {o for o in ok if FIRST_STEP_COST[o] == cheapest}
    return out


class FirstStep(Problem):
    """What to run first on each far-domain task, decided by section 6's measured table and a stated rule (the
    cheapest option within 2 points of the best), not by a rule of thumb."""
    vars = ("first_step", "compat")
    hints = ("For each data set, find the best validation accuracy in `compat`, keep the options no more than 0.02 "
             "below it, and take the cheapest of those (the cost order is in the question).",
             "In pandas: `compat[compat.data == name]`; ImageNet rows are named 'Lite0 ' + layer, "
             "the others by their `features` column.")
    solution_code = ("COST = ['raw pixels 16x16', 'Lite0 blocks.2', 'Lite0 blocks.3', 'Lite0 blocks.4', 'Lite0 blocks.5',\n"
                     "        'Lite0 blocks.6', 'Lite0 pooled', 'random-init Lite0']   # cheapest first\n"
                     "first_step = {}\n"
                     "for name, part in compat.groupby('data'):\n"
                     "    acc = {('Lite0 ' + r.layer if r.features == 'ImageNet Lite0' else r.features): r.val_acc\n"
                     "           for r in part.itertuples()}\n"
                     "    ok = [o for o, a in acc.items() if a >= max(acc.values()) - 0.02 - 1e-9]\n"
                     "    first_step[name] = min(ok, key=COST.index)")

    def verify(self, first_step, compat):
        options, want = first_step_options(compat), first_step_answers(compat)
        if not isinstance(first_step, dict) or set(first_step) != set(options):
            raise Incorrect(f"`first_step` should be a dict with one option per data set, keys {sorted(options)}; "
                            f"got {first_step!r}. A strategy name alone ('feature extraction') does not say which "
                            "features: the measurement does.")
        for data, got in first_step.items():
            acc = options[data]
            if got not in acc:
                raise Incorrect(f"{data}: {got!r} is not an option; pick one of {sorted(acc, key=FIRST_STEP_COST.get)}.")
            best = max(acc, key=acc.get)
            if got in want[data]:
                continue
            if acc[got] < acc[best] - FIRST_STEP_SLACK - 1e-9:
                raise Incorrect(f"{data}: {got!r} measured {acc[got]:.3f}, more than 2 points below the best option "
                                f"({best!r}, {acc[best]:.3f}).")
            cheaper = min(want[data], key=FIRST_STEP_COST.get)
            why = " It is the most accurate, but accuracy alone is not the rule." if got == best else ""
            raise Incorrect(f"{data}: {got!r} ({acc[got]:.3f}) is within 2 points of the best, but {cheaper!r} "
                            f"({acc[cheaper]:.3f}) is too and costs less on a laptop CPU.{why}")
        return "; ".join(f"{d}: {first_step[d]!r} ({options[d][first_step[d]]:.3f}, best "
                         f"{max(options[d].values()):.3f})" for d in sorted(first_step)) + (
            ". Far from ImageNet the first step is still feature extraction, but *which* features (or none at all) "
            "is a measurement, and it differs from one data set to the next. On a few dozen validation images one "
            "image moves accuracy by several points: confirm a close call on more data before you deploy it.")


class Reconcile(Problem):
    """Three texts' figures traced to the weights, version and crop they belong to, from the stored sources and the
    kit's own parameter counts (recommend.figure_origins): the table is data, the matching is the learner's."""
    vars = ("origins",)
    hints = ("A figure printed with one decimal ('76.2') is its source's value correctly rounded: within 0.05 of it. "
             "'17' (no decimal) allows 0.5. Compare each quote with every row of `figure_origins` for the same figure "
             "and architecture.",
             "Two rows can hold the same weights evaluated twice (torchvision V1: its metadata and its older docs); "
             "only one rounds to the quote. For a size, a row may be a file or the float32 weights (parameters x 4 "
             "bytes); and 'MobileNet' names no version.")
    solution_code = ("table = recommend.figure_origins()\n"
                     "origins = {q.label: recommend.quote_origins(q, table)[0] for q in recommend.TEXT_QUOTES}")
    TYPICAL = {
        "resnet50/torchvision V1 (meta)": "The right weights (V1), but its metadata's {value:g} rounds to {rounded}: "
                                          "the quote is another evaluation of the same weights.",
        "resnet50/torchvision V2 (meta)": "V2 is a newer training recipe for the same architecture: a top-1 belongs "
                                          "to a set of weights, not to a network.",
        "resnet50/keras": "{value:g} is Keras' weights (the original Caffe release, converted): the other text's "
                          "figure; the two texts quote different weights for one architecture.",
        "inception_v3/keras": "That is a library's evaluation of its own weights; look for the network's authors.",
        "inception_v3/torchvision V1 (meta)": "That is a library's evaluation of its own weights (a port); look for "
                                              "the network's authors.",
        "mobilenet_v1/keras file": "{value:g} MB is Keras' file; the quote is a size of the same weights counted "
                                   "another way.",
    }
    SUMMARY = ("The texts disagree because each quotes other weights or another evaluation: ResNet-50 74.9 (Keras' "
               "converted Caffe weights) and 76.2 (torchvision's V1 weights) are two sets of weights; Inception-v3 "
               "77.9 (Keras) and 78.8 (the paper's own network) likewise; and 'MobileNet' without a version names no "
               "file at all. Quote a figure with its weights, its crop and its source.")

    def verify(self, origins):
        table = recommend.figure_origins()
        quotes = {q.label: q for q in recommend.TEXT_QUOTES}
        if not isinstance(origins, dict) or set(origins) != set(quotes):
            raise Incorrect(f"`origins` should be a dict with the keys {sorted(quotes)}, each mapped to a row name "
                            f"(key) of `recommend.figure_origins()`; got {origins!r}.")
        for label, got in origins.items():
            self._check_one(quotes[label], got, table)
        return " ".join(self._explain(quotes[label], origins[label], table) for label in quotes) + " " + self.SUMMARY

    def _check_one(self, q, got, table):
        if isinstance(got, (int, float)):
            raise Incorrect(f"{q.label}: give the row's name (its key), not its value ({got!r}).")
        if got not in table.index:
            raise Incorrect(f"{q.label}: {got!r} is not a row of `recommend.figure_origins()`.")
        row = table.loc[got]
        if row["figure"] != q.figure or row["model"] not in q.models:
            raise Incorrect(f"{q.label}: {got!r} is a {row['figure']} figure of {row['model']}; the quote is a "
                            f"{q.figure} figure of {' or '.join(q.models)}.")
        if got in recommend.quote_origins(q, table):
            return
        value = float(row["value"])
        typical = self.TYPICAL.get(got, "").format(value=value, rounded=f"{value:.{len(q.printed.partition('.')[2])}f}")
        raise Incorrect(f"{q.label}: {got!r} states {value:g} ({row['weights']}; {row['how']}), {value - q.value:+.2f} "
                        f"from the quote, more than the {q.tolerance:g} a correct rounding allows. {typical}".strip())

    @staticmethod
    def _explain(q, key, table):
        r = table.loc[key]
        crop = f", {int(r['crop_px'])} px crop" if r["crop_px"] == r["crop_px"] and r["crop_px"] else ""
        return f"{q.label}: {r['weights']}{crop}, {r['how']} ({r['source']})."


class ReplyToTheQuote(WrittenAnswer):
    vars = ("reply", "speed", "realtime", "shortlist_30fps")
    MODEL = "vit_b_16"
    MIN_WORDS = 120
    TOO_SHORT = ("{n} words: a reply that checks both figures, the latency and an alternative needs at least "
                 "{min_words}.")
    PARTS = {"the frame budget 30 fps leaves, in ms": r"33(\.3)?\s*ms|33\.3",
             "where the quoted figures come from (whose parameter count, which source for the top-1)":
             r"source|paper|published|vit-base|86\s*M",
             "for what the verdict holds (this machine, batch 1; other hardware can order models differently)":
             r"this (machine|cpu|laptop|computer)|batch[- ]?(size )?1|gpu|phone"}
    hints = ("Find ViT-B/16 in section 2's `speed` table (`ms_bs1`, batch 1) and its `realtime_latency` verdict "
             "printed under 'Real time, model by model'; 30 fps leaves 1000 / 30 ms per frame.",
             "Section 1 traced quoted figures to their sources: whose parameter count is 86 M? Then name a model of "
             "`shortlist_30fps` with its measured latency, and say for what machine the verdicts hold.")
    solution_code = ('reply = """86 M is the parameter count of ViT-Base in the ViT paper; the 85.8% top-1 has no source '
                     'the lab could find (torchvision\'s closest figure belongs to weights pretrained on far more data '
                     'at 384 px). Size aside, 30 fps leaves 33.3 ms per frame, and ViT-B/16 took <ms> ms at batch 1 on '
                     'this machine: verdict <contradicted>. Models that fit: <model> at <ms> ms (top-1 <x>%) ... '
                     'test them on our task with a probe, starting small. This holds for this CPU and batch 1; a GPU or '
                     'a phone can order the models differently."""')

    def run_parts(self, speed, realtime, shortlist):
        rt = realtime[(realtime["claim"] == "realtime_latency") & (realtime["model"] == self.MODEL)]
        names = list(getattr(shortlist, "index", shortlist))
        alternatives = "|".join(name_pattern(n) for n in names) or r"none|no (timed )?model"
        return {"ViT-B/16's real-time verdict your run recorded (`realtime_latency`)": re.escape(rt["verdict"].iloc[0]),
                "a model from your run's 30 fps shortlist, by name": alternatives}

    def quoted(self, speed, realtime, shortlist):
        ms = float(speed.loc[self.MODEL, "ms_bs1"])
        return {"ViT-B/16's batch-1 latency your run measured (ms)": (ms, max(0.6, 0.03 * ms))}


EXERCISES = [ParetoFront, NCEByHand, TauOfLogME, FirstStep, Reconcile, ReplyToTheQuote]
