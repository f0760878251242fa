"""Exercises of lab 05 (choosing a model for your own images), checked against what the lab measured.

In the lab: ``from course_lib.exercises.lab05 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables and the lab's own measurements from the notebook.

1. :class:`DoesTheBiggerPay`: ``bigger_pays`` (True/False), read off the finalists' paired verdict.
2. :class:`HalfTheData`: ``prediction`` ("wider", "narrower", "about the same") for the 90% intervals of the
   cross-validated accuracies with half the images, made *before* the lab runs it; checked against ``half``
   (``choose.half_the_data``).
3. :class:`Justify`: ``justification``, a few sentences defending the choice with the evidence; the check looks
   for the parts a rubric asks for (the instructor copy has the rubric).
4. :class:`InterviewAnswer`: ``my_answer``, the student's own answer to "how do you choose a pre-trained model?",
   five factors backed by measured numbers (rubric: docs/RUBRICS.md and the instructor copy).
"""
from __future__ import annotations

import re

from .. import choose, claims
from ..checks import Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["DoesTheBiggerPay", "EXERCISES", "HalfTheData", "InterviewAnswer", "Justify", "____", "bind_exercises"]


def _finalists_verdict(choice: choose.Choice) -> tuple[str, dict]:
    [(what, v)] = [(k, v) for k, v in choice.verdicts.items() if k != "chosen vs the best shortcut"][:1] or [("", {})]
    if not v:
        raise Incorrect("this run has a single finalist, so there is no bigger one to weigh: set finalists=2.")
    return what, v


class DoesTheBiggerPay(Problem):
    vars = ("bigger_pays", "choice")
    hints = ("Find the verdict that compares the two finalists (costlier minus cheaper) in `choice.verdicts`.",
             "Only a *supported* verdict says the costlier network is better by more than the folds' noise.")
    solution_code = ("what, v = [(k, v) for k, v in choice.verdicts.items() if k != 'chosen vs the best shortcut'][0]\n"
                     "bigger_pays = v['verdict'] == 'supported'")

    def verify(self, bigger_pays, choice):
        if not isinstance(bigger_pays, bool):
            raise Incorrect(f"`bigger_pays` should be True or False, got {bigger_pays!r}.")
        what, v = _finalists_verdict(choice)
        want = v["verdict"] == claims.SUPPORTED
        if bigger_pays == want:
            return (f"{what}: {v['diff']:+.3f}, 90% interval [{v['low']:+.3f}, {v['high']:+.3f}], {v['verdict']}. "
                    + ("The costlier network earns its cost here." if want else
                       "An inconclusive verdict is not a win: the cheaper network stays the choice until a larger "
                       "evaluation shows the gain (its power says how large a gain it could have shown)."))
        if want:
            raise Incorrect(f"the interval of {what} lies above zero ({v['low']:+.3f} to {v['high']:+.3f}): the "
                            "costlier network is better by more than the folds' noise.")
        raise Incorrect(f"{what}: the interval [{v['low']:+.3f}, {v['high']:+.3f}] includes zero (or lies below it): "
                        f"the verdict is {v['verdict']}, so the gain is not shown. A higher mean alone does not pay "
                        "for a costlier network.")


class HalfTheData(Problem):
    vars = ("prediction", "half")
    hints = ("The interval's half-width grows like 1 / sqrt(number of test images per fold), roughly.",
             "Half the images: each fold tests half as many, so the interval widens by about sqrt(2).")
    solution_code = 'prediction = "wider"'

    def verify(self, prediction, half):
        options = ("wider", "narrower", "about the same")
        if prediction not in options:
            raise Incorrect(f"`prediction` should be one of {list(options)}, got {prediction!r}.")
        if half is None:
            raise NotAttempted("run the cell that measures the intervals with half of the images, then check again.")
        ratio = half.attrs["ratio"]
        measured = "wider" if ratio > 1.1 else "narrower" if ratio < 1 / 1.1 else "about the same"
        said = (f"with {half.attrs['per_class_half']} images per class instead of twice as many, the 90% intervals "
                f"were {ratio:.2f}x as wide (summed over {len(half)} feature sets and {half.attrs['draws']} draws; "
                "1/sqrt(n) predicts about 1.41x)")
        if prediction == measured:
            return f"{said}. Fewer test images per fold, more noise in each fold's accuracy: halving the data costs "\
                   "certainty before it costs accuracy."
        raise Incorrect(f"you predicted {prediction!r}; measured: {said}, i.e. {measured!r}.")


class Justify(WrittenAnswer):
    vars = ("justification", "choice")
    hints = ("Name the network you chose and the number that supports it (its cross-validated accuracy and "
             "interval), and what it costs here (ms per image).",
             "Say what you ruled out and why (a verdict, not just a lower mean), and one risk the checks found or "
             "ruled out (shortcuts, duplicates, imbalance).")
    solution_code = ('justification = """I chose <model>: cross-validated accuracy <x> (90% interval <a>-<b>) at <ms> ms '
                     'per image here. The costlier finalist was not better by a margin the folds could show '
                     '(inconclusive), so it does not pay for its cost. The chosen features beat every shortcut '
                     '(raw pixels, image size, random weights) by a supported margin, so the score is not a '
                     'shortcut. Next I would fine-tune it on a held-out split."""')
    MIN_WORDS = 40
    TOO_SHORT = ("{n} words: a justification needs at least {min_words} (a short paragraph) to name the choice, its "
                 "evidence, what was ruled out and a risk.")
    MISSING = "a reader could not check your choice yet; add "
    NEEDS_NUMBER = "a number from the evidence (an accuracy, an interval, or ms per image)"
    PARTS = {"how sure the evidence is (an interval or a verdict, not only a mean)":
             r"interval|verdict|inconclusive|supported|significan|noise|folds?",
             "a risk checked (shortcuts, random weights, duplicates, imbalance, leakage)":
             r"shortcut|raw pixel|random|duplicate|imbalanc|leak|risk|majority"}
    correct_message = ("each part a reviewer looks for is there. Your instructor's rubric also asks whether the "
                       "reasoning follows from the numbers; read it against the report in build/reports/.")

    def run_parts(self, choice):
        return {f"the network you chose ({choice.chosen})": re.escape(choice.chosen.split("@")[0])}


class InterviewAnswer(WrittenAnswer):
    vars = ("my_answer",)
    hints = ("Answer in your own words, one or two sentences per factor: compatibility of the source's task with "
             "yours, model size against your compute, how similar your data is to the source's, the metric that "
             "decides, and how the model adapts (head, freezing, fine-tuning).",
             "Back at least two factors with a number this course measured (an accuracy with its interval, a "
             "verdict, ms per image), and say which lab or run it comes from.")
    solution_code = ('my_answer = """First, compatibility: is the source task like mine? ImageNet features beat '
                     'every shortcut on my tiles (supported), but an X-ray-adapted source fell to random level on '
                     'photos (lab 03). Second, size against compute: Lite0 runs at about 30 ms per image here and '
                     'Lite2 was not better (start_small). Third, data similarity: far from ImageNet, mid-level stages '
                     'serve as well as the last (lab 01). Fourth, the metric: cross-validated accuracy with its '
                     'interval, and latency for real time. Fifth, adaptation: with under 1,000 images per class a '
                     'frozen backbone and a linear probe; fine-tune the last stages at a lower rate when data '
                     'grows."""')
    MIN_WORDS = 80
    TOO_SHORT = "{n} words: an interview answer that covers five factors needs at least {min_words}."
    MISSING = "an interviewer would miss: "
    PARTS = {"compatibility of task and source": r"compatib|task|source",
             "model size vs compute": r"size|compute|latency|ms\b|cost|gmac|param",
             "similarity of the data": r"similar|domain|far|near|distribution",
             "the metric that matters": r"metric|accuracy|recall|precision|f1|interval",
             "how the model adapts": r"fine-tun|freez|head|probe|adapt|custom"}
    FACTOR_WORDS = PARTS
    correct_message = ("all five factors are there, with numbers. The rubric (docs/RUBRICS.md) also asks whether each "
                       "number supports the point it is attached to.")

    def more_checks(self, text):
        if len(re.findall(r"\d+(?:\.\d+)?\s*(?:%|ms)?", text)) < 2:
            raise Incorrect("back at least two factors with numbers this course measured (an accuracy, an "
                            "interval, ms per image).")


EXERCISES = [DoesTheBiggerPay, HalfTheData, Justify, InterviewAnswer]
