"""Lab 00's exercise: a prediction made before the measurement, checked against it afterwards."""
from __future__ import annotations

import pytest

from course_lib.exercises import lab00


def _bound():
    ns = {}
    q1, _ = lab00.bind_exercises(ns, lab00.EXERCISES)
    return ns, q1


def test_prediction_is_not_attempted_until_the_measurement_exists_then_checked_against_it():
    ns, q1 = _bound()
    assert q1.outcome().status == "not attempted"                         # no prediction yet
    ns["my_prediction"] = lab00.____
    assert q1.outcome().status == "not attempted"
    ns["my_prediction"] = True
    assert q1.outcome().status == "not attempted" and "Run section 4" in q1.last.message
    ns["probe"] = {"pretrained": 0.93, "random init": 0.62}
    q1.assert_check_passed()
    assert "+31.0%" in q1.last.message
    ns["my_prediction"] = False
    q1.assert_check_failed()
    assert "measured" in q1.last.message
    ns["probe"] = {"pretrained": 0.70, "random init": 0.65}                # a gap below 10 points: False is right
    q1.assert_check_passed()
    ns["my_prediction"] = "yes"
    q1.assert_check_failed()
    assert "True or False" in q1.last.message
    assert q1.hints and "my_prediction = True" in q1.solution_code


def _reading_ns(text):
    ns = {"probe": {"pretrained": 0.941, "random init": 0.627}, "zero_shot": 0.882, "majority": 0.542,
          "first_reading": text}
    _, q2 = lab00.bind_exercises(ns, lab00.EXERCISES)
    return ns, q2


GOOD = ("On ants vs bees, a linear probe on the pretrained features scored 0.941 and the same probe on the same "
        "network with random weights 0.627; the untouched ImageNet head, with no training at all, 88.2%, against "
        "0.542 for always guessing the commoner class. Same architecture, same preprocessing, same probe: only the "
        "weights differ, so what ImageNet taught them makes the gap. What it does not show: ants and bees are "
        "ImageNet classes and these photos come from ImageNet, the closest domain there is, so it says nothing "
        "yet about X-rays or satellite tiles.")


def test_q2_a_reading_with_this_runs_numbers_passes():
    _, q2 = _reading_ns(GOOD)
    q2.assert_check_passed()
    assert "rubric" in q2.last.message


@pytest.mark.parametrize("text,words", [
    ("Pretraining helps a lot: 0.94 against 0.63.", "words: the reading needs at least 80"),
    (GOOD.replace("0.941", "0.90"), "the pretrained probe's accuracy your run printed"),           # not this run's
    (GOOD.replace(", against 0.542 for always guessing the commoner class", ""), "the majority-class accuracy"),
    (GOOD.replace("only the weights differ", "pretraining matters").replace("random weights", "random init")
     .replace("Same architecture", "As expected")
     .replace("same network", "network"), "only its weights"),
    (GOOD[:GOOD.index("What it does not show")] + "Pretraining is therefore always the right choice for any "
     "image task at all, whatever the images show, and everyone should use it for everything they ever train.",
     "what the result does not show"),
])
def test_q2_typical_weak_readings_fail_and_say_what_is_missing(text, words):
    _, q2 = _reading_ns(text)
    q2.assert_check_failed()
    assert words in q2.last.message, q2.last.message


def test_q2_blank_is_not_attempted_and_the_solution_passes_in_the_lab():
    ns, q2 = _reading_ns(lab00.____)
    assert q2.outcome().status == "not attempted"
    assert q2.hints and "first_reading" in q2.solution_code
