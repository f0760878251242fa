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


# ----------------------------------------------------------------------------- written answers
class Reading(checks.WrittenAnswer):
    vars = ("reading", "scores")
    MIN_WORDS = 12
    NEEDS_NUMBER = "a number"
    PARTS = {"a verdict": r"verdict|inconclusive|supported"}

    def run_parts(self, scores):
        return {f"the model ({scores['model']})": checks.name_pattern(scores["model"])}

    def quoted(self, scores):
        return {"the measured accuracy": (scores["accuracy"], 0.006)}


def _reading(text):
    ns = {"scores": {"model": "mobilenet_v3_large", "accuracy": 0.912}, "reading": text}
    (q,) = checks.bind_exercises(ns, [Reading])
    return q


def test_written_answer_too_short_says_how_many_words():
    q = _reading("MobileNet-V3 large: 91.2%, supported.")
    q.assert_check_failed()
    assert q.last.message.startswith("4 words:") and "at least 12" in q.last.message


def test_written_answer_names_every_missing_part_in_order():
    q = _reading("I think the network I picked is clearly better than the other one by a wide margin here.")
    q.assert_check_failed()
    m = q.last.message
    assert m.startswith("a reader could not check your answer yet; add ")
    assert m.index("the model (mobilenet_v3_large)") < m.index("a number") < m.index("a verdict") < m.index(
        "the measured accuracy")


def test_written_answer_needs_the_number_this_run_measured():
    q = _reading("MobileNet V3 Large reached 0.85 on the validation folds, and the verdict was supported by them.")
    q.assert_check_failed()
    assert q.last.message.endswith("add the measured accuracy.")
    for quoted in ("0.912", "0.91", "91.2%", "91 %"):
        q = _reading(f"MobileNet V3 Large reached {quoted} on the validation folds, and the verdict was supported.")
        q.assert_check_passed()


def test_written_answer_blank_is_not_attempted_and_quotes_value():
    assert _reading(checks.____).outcome().status == "not attempted"
    assert checks.quotes_value("a gap of 7 points", -0.07, 0.006) is False
    assert checks.quotes_value("a gap of 7% lower", -0.07, 0.006) and checks.quotes_value("took 12 ms", 12.4, 0.6)
    assert not checks.quotes_value("took 13 ms", 12.4, 0.5)


def test_lab05_written_exercises_keep_their_messages():
    from types import SimpleNamespace

    from course_lib.exercises import lab05

    ns = {"choice": SimpleNamespace(chosen="Lite0@blocks.5")}
    _, _, q3, q4 = lab05.bind_exercises(ns, lab05.EXERCISES)
    ns["justification"] = "Lite0 is good."
    q3.assert_check_failed()
    assert q3.last.message.startswith("3 words: a justification needs at least 40 (a short paragraph)")
    ns["justification"] = " ".join(["word"] * 40)
    q3.assert_check_failed()
    assert q3.last.message == ("a reader could not check your choice yet; add the network you chose (Lite0@blocks.5); "
                               "a number from the evidence (an accuracy, an interval, or ms per image); how sure the "
                               "evidence is (an interval or a verdict, not only a mean); a risk checked (shortcuts, "
                               "random weights, duplicates, imbalance, leakage).")
    ns["justification"] = "I chose lite0: 0.93 accuracy, interval 0.90-0.95, beats every shortcut. " + "x " * 40
    q3.assert_check_passed()
    ns["my_answer"] = "short"
    q4.assert_check_failed()
    assert q4.last.message == "1 words: an interview answer that covers five factors needs at least 80."
    ns["my_answer"] = "the task and its source, the size, the domain, the accuracy, a probe " + "x " * 80
    q4.assert_check_failed()
    assert q4.last.message.startswith("back at least two factors with numbers")
    ns["my_answer"] = "the size, the accuracy, a probe " + "x " * 80
    q4.assert_check_failed()
    assert q4.last.message == "an interviewer would miss: compatibility of task and source; similarity of the data."
