"""The exercise framework: checks pass right answers, reject wrong ones with reasons, and notice blanks."""
from __future__ import annotations

import pytest

from course_lib import checks


class Double(checks.Problem):
    vars = ("x", "y")
    hints = ("y is twice x.", "Multiply by 2.")
    solution_code = "y = 2 * x"

    def verify(self, x, y):
        if y != 2 * x:
            raise checks.Incorrect(f"expected y = {2 * x}, got {y}: y must be twice x.")
        return "y is twice x."


class Pi(checks.EqualityProblem):
    vars = ("pi",)
    expected = 3.14159
    tolerance = 1e-3
    why = "Four digits are enough here."


class Pick(checks.ChoiceProblem):
    vars = ("choice",)
    choices = ("probe", "fine-tune")
    answer = "probe"
    explanations = {"fine-tune": "with 10 images per class, fine-tuning overfits: the lab measured it."}


def test_bind_creates_q_variables_that_read_the_namespace(capsys):
    ns: dict = {}
    q1, q2, q3 = checks.bind_exercises(ns, [Double, Pi, Pick])
    assert ns["q1"] is q1 and ns["q3"] is q3 and ns["____"] is checks.____
    assert q1.outcome().status == "not attempted" and "`x`" in q1.last.message
    ns.update(x=2, y=checks.____)
    assert q1.outcome().status == "not attempted" and "____" in q1.last.message
    ns["y"] = 5
    q1.assert_check_failed()
    assert "expected y = 4, got 5" in q1.last.message
    ns["y"] = 4
    q1.assert_check_passed()
    q1.check()
    assert "Correct" in capsys.readouterr().out


def test_equality_and_choice_explain():
    ns = {"pi": 3.0, "choice": "fine-tune"}
    _, q2, q3 = checks.bind_exercises(ns, [Double, Pi, Pick])
    q2.assert_check_failed()
    assert "3.14159" in q2.last.message and "3.0" in q2.last.message
    ns["pi"] = 3.1416
    q2.assert_check_passed()
    q3.assert_check_failed()
    assert "overfits" in q3.last.message
    ns["choice"] = "retrain"
    q3.assert_check_failed()
    assert "one of" in q3.last.message
    ns["choice"] = "probe"
    q3.assert_check_passed()


def test_hints_cycle_and_solution_shows_code(capsys):
    (q1,) = checks.bind_exercises({}, [Double])
    q1.hint()
    q1.hint()
    q1.solution()
    out = capsys.readouterr().out
    assert "twice" in out and "Multiply" in out and "y = 2 * x" in out


def test_assert_helpers_raise_on_the_wrong_outcome():
    ns = {"x": 1, "y": 2}
    (q1,) = checks.bind_exercises(ns, [Double])
    with pytest.raises(AssertionError):
        q1.assert_check_failed()
    ns["y"] = 3
    with pytest.raises(AssertionError, match="expected y = 2"):
        q1.assert_check_passed()


def test_a_function_stub_counts_as_not_attempted():
    class UsesFunction(checks.Problem):
        vars = ("double",)

        def verify(self, double):
            if double(2) != 4:
                raise checks.Incorrect("double(2) should be 4.")

    def stub(x):
        raise NotImplementedError("Student exercise: double x")

    ns = {"double": stub}
    (q1,) = checks.bind_exercises(ns, [UsesFunction])
    assert q1.outcome().status == "not attempted" and "Student exercise" in q1.last.message
    ns["double"] = lambda x: 2 * x
    q1.assert_check_passed()


def test_an_answer_that_raises_is_incorrect_with_its_error_and_line_not_a_traceback(capsys):
    class UsesFunction(checks.Problem):
        vars = ("mean_of",)

        def verify(self, mean_of):
            if mean_of([2, 4]) != 3:
                raise checks.Incorrect("mean_of([2, 4]) should be 3.")

    def mean_of(values):
        return sum(values) / len(value)   # noqa: F821 - the learner's typo

    ns = {"mean_of": mean_of}
    (q1,) = checks.bind_exercises(ns, [UsesFunction])
    q1.check()                                        # reports, does not raise
    said = capsys.readouterr().out
    assert said.startswith("Incorrect:") and "NameError" in said and "'value' is not defined" in said
    assert "in `mean_of`, line" in said and "sum(values) / len(value)" in said and "Traceback" not in said
    assert q1.last.status == "incorrect"
    ns["mean_of"] = lambda v: sum(v) / len(v)
    q1.assert_check_passed()
