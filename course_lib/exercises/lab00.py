"""Exercise of lab 00 (setup and a first measurement): predict, then run.

In the lab: ``from course_lib.exercises.lab00 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates ``q1``.

1. :class:`PredictTheFirstMeasurement`: ``my_prediction`` (True/False), made *before* section 4 runs: will a linear
   probe on the pretrained features beat the same probe on random-init features by more than 10 points? Checked
   against ``probe``, the accuracies section 4 measures.
"""
from __future__ import annotations

from ..checks import Incorrect, NotAttempted, Problem, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["EXERCISES", "PredictTheFirstMeasurement", "____", "bind_exercises"]


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


EXERCISES = [PredictTheFirstMeasurement]
