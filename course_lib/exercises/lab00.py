"""Exercise of lab 00 (setup and a first measurement): predict, then run.

In the lab: ``from course_lib.exercises.lab00 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates ``q1``.

1. :class:`PredictTheFirstMeasurement`: ``my_prediction`` (True/False), made *before* section 4 runs: will a linear
   probe on the pretrained features beat the same probe on random-init features by more than 10 points? Checked
   against ``probe``, the accuracies section 4 measures.
2. :class:`FirstReading`: ``first_reading``, a short paragraph: what the three scores of section 4 were on this run,
   what they show and what they do not. The check looks for the numbers this run printed and the parts a rubric
   grades (the instructor copy and docs/RUBRICS.md have the rubric).
"""
from __future__ import annotations

from ..checks import Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["EXERCISES", "FirstReading", "PredictTheFirstMeasurement", "____", "bind_exercises"]


class PredictTheFirstMeasurement(Problem):
    vars = ("my_prediction",)          # `probe` is read when present: the check runs before section 4 too
    MARGIN = 0.10
    hints = ("Random weights compute features too, just not ones learned from images: what can a linear model do "
             "with them?",
             "ImageNet holds ants and bees among its 1,000 classes, so its features were trained to tell such "
             "photos apart.")
    solution_code = "my_prediction = True"

    def verify(self, my_prediction):
        probe = self.namespace.get("probe")
        if not isinstance(my_prediction, bool):
            raise Incorrect(f"`my_prediction` should be True or False, got {my_prediction!r}.")
        if not probe:
            raise NotAttempted("prediction noted. Run section 4, then check again to compare it with the measurement.")
        gap = probe["pretrained"] - probe["random init"]
        measured = gap > self.MARGIN
        said = (f"the pretrained features scored {probe['pretrained']:.1%}, random-init ones {probe['random init']:.1%}: "
                f"a gap of {gap:+.1%}")
        if my_prediction == measured:
            return (f"{said}. Features learned on ImageNet photos already separate ants from bees; random features "
                    "carry colour and texture statistics, little more. Lab 01 asks *which layer* carries the gain.")
        raise Incorrect(f"you predicted {'more' if my_prediction else 'no more'} than {self.MARGIN:.0%}; measured: {said}.")


class FirstReading(WrittenAnswer):
    vars = ("first_reading", "probe", "zero_shot", "majority")
    MIN_WORDS = 80
    TOO_SHORT = ("{n} words: the reading needs at least {min_words} to give the three scores, what they show and what "
                 "they do not.")
    PARTS = {"what differs between the two probes (the same network: only its weights)":
             r"\bweights\b|same (network|architecture|model)",
             "what the result does not show, and why (how close these photos are to ImageNet's)":
             r"imagenet class|in imagenet|from imagenet|\bclose|\bnear\b|x-ray|satellite|eurosat|\bfar\b"}
    hints = ("Read the three scores off section 4's printout and chart: the probe on pretrained features, the probe on "
             "random-init features, the untouched ImageNet head; and the majority-class line the chart draws.",
             "What differs between the two probes? Same network, same preprocessing, same probe: only the weights. "
             "And where do the ants and bees come from? What would a photo far from ImageNet change?")
    solution_code = ('first_reading = """On ants vs bees, a linear probe on the pretrained features scored <a>, the '
                     'same probe on the same network with random weights <b>, and the untouched ImageNet head <c>, '
                     'against <m> for always guessing the commoner class. Same architecture, same preprocessing, same '
                     'probe: only the weights differ, so what ImageNet taught them makes the gap, not the network. '
                     'What it does not show: ants and bees are ImageNet classes and these photos come from ImageNet, '
                     'the closest domain there is; it says nothing yet about X-rays or satellite tiles, which the '
                     'next labs measure."""')

    def quoted(self, probe, zero_shot, majority):
        return {"the pretrained probe's accuracy your run printed": (probe["pretrained"], 0.006),
                "the random-init probe's accuracy your run printed": (probe["random init"], 0.006),
                "the untouched ImageNet head's accuracy your run printed": (zero_shot, 0.006),
                "the majority-class accuracy (the chart's reference line)": (majority, 0.006)}


EXERCISES = [PredictTheFirstMeasurement, FirstReading]
