"""Exercises of lab 03 (comparing and choosing pretrained models), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab03 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables (and the lab's measured tables) from the notebook.

1. :class:`ParetoFront`: ``front``, the models of the measured ``speed`` table that no other model beats on both
   batch-1 latency and ImageNet top-1.
2. :class:`NCEByHand`: ``def my_nce(source_labels, target_labels)``, negative conditional entropy, checked on cases.
3. :class:`TauOfLogME`: ``tau_logme``, Kendall's tau between LogME and the accuracy after fine-tuning, from the
   lab's own ``scores`` and ``truth`` tables (hymenoptera).
4. :class:`FirstStep`: ``first_step``, how to start with 35 satellite images per class and a CPU.
"""
from __future__ import annotations

import math

import numpy as np

from .. import recommend, transfer
from ..checks import (ChoiceProblem, Incorrect, NotAttempted, Problem, ____, bind_exercises,  # noqa: F401  (re-exported)
                      check_function)

__all__ = ["EXERCISES", "FirstStep", "NCEByHand", "ParetoFront", "TauOfLogME", "____", "bind_exercises"]


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


class FirstStep(ChoiceProblem):
    vars = ("first_step",)
    choices = ("feature extraction", "fine-tune the whole network", "train from scratch")
    answer = "feature extraction"
    why = ("with 35 images per class a linear probe on frozen features is seconds of work and a strong baseline "
           "(section 6 measured it on eurosat); fine-tune only if it plateaus. recommend(n_per_class=35, "
           "domain='far') says the same, and adds: probe several stages.")
    explanations = {
        "fine-tune the whole network": ("350 images for millions of weights on a CPU: minutes per epoch and easy "
                                        "overfitting. Start with the cheap, strong baseline and fine-tune only if "
                                        "it plateaus."),
        "train from scratch": ("random-init features probe far below ImageNet ones on eurosat (section 6: about "
                               "half the accuracy with 35 images per class): far from ImageNet is not useless."),
    }
    hints = ("Which option costs seconds on a CPU and, measured in this lab, already works far from ImageNet?",)
    solution_code = 'first_step = "feature extraction"'


EXERCISES = [ParetoFront, NCEByHand, TauOfLogME, FirstStep]
