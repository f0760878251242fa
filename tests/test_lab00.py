"""Lab 00's exercise: a prediction made before the measurement, checked against it afterwards."""
from __future__ import annotations

from course_lib.exercises import lab00


def _bound():
    ns = {}
    (q1,) = lab00.bind_exercises(ns, lab00.EXERCISES)
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
