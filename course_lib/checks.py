"""Exercises that check themselves, in the spirit of Kaggle's learntools: ``q1.check()``, ``q1.hint()``, ``q1.solution()``.

A lab defines each question as a small :class:`Problem` subclass and binds it to the notebook's globals::

    bind_exercises(globals(), [FreezeBackbone, PickStage], prefix="q")   # creates q1, q2
    q1.check()        # reads the learner's variable(s), says what is right or wrong and why

Checks read the learner's objects by value and by behaviour (a frozen model really has no trainable backbone
parameter), and a wrong answer gets expected vs got and a reason, never a bare "incorrect".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence


class _Blank:
    """The placeholder learners replace: ``answer = ____``."""

    def __repr__(self) -> str:
        return "____"


____ = _Blank()


class Incorrect(Exception):
    """The answer is wrong; the message says how."""


class NotAttempted(Exception):
    """The learner has not filled in the answer yet."""


def check_function(fn, name: str, signature: str) -> None:
    """For exercises that ask for a function: one whose body is still ``____`` is not attempted yet; anything not
    callable is wrong."""
    if not callable(fn):
        raise Incorrect(f"`{name}` should be a function {signature}.")
    if "____" in getattr(getattr(fn, "__code__", None), "co_names", ()):
        raise NotAttempted(f"replace `____` in the body of `{name}` with your code, then run the cell again.")


@dataclass
class Outcome:
    status: str   # "correct", "incorrect", "not attempted"
    message: str


def _show(kind: str, text: str) -> None:
    colours = {"correct": "#33cc33", "incorrect": "#cc3333", "not attempted": "#ccaa33", "hint": "#3366cc",
               "solution": "#555555"}
    label = {"correct": "Correct", "incorrect": "Incorrect", "not attempted": "Check",
             "hint": "Hint", "solution": "Solution"}[kind]
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(f'<span style="color:{colours[kind]}">**{label}:**</span> {text}'))
            return
    except ImportError:
        pass
    print(f"{label}: {text}")


def _raised(error: Exception) -> str:
    """What a learner needs from an exception raised by their answer: its type, message and the line of their own
    code it came from (the last frame outside this kit), not a traceback through the checker."""
    import traceback
    from pathlib import Path

    kit = Path(__file__).resolve().parent
    frames = [f for f in traceback.extract_tb(error.__traceback__) if kit not in Path(f.filename).resolve().parents]
    where = ""
    if frames:
        f = frames[-1]
        code = f" (`{f.line.strip()}`)" if f.line else ""
        where = f" in `{f.name}`, line {f.lineno}{code}"
    return (f"your answer raised {type(error).__name__}: {error}{where}. Fix that line and run the cell that defines "
            "it again, then `check()`.")


class Problem:
    """One question. Subclasses set ``vars`` (names read from the notebook), ``hints``, ``solution_code`` and
    implement :meth:`verify`, which raises :class:`Incorrect` with an explanation or returns a message."""

    vars: Sequence[str] = ()
    hints: Sequence[str] = ()
    solution_code: str = ""
    correct_message: str = "well done."

    def __init__(self, namespace: dict | None = None):
        self.namespace = namespace if namespace is not None else {}
        self._hints_shown = 0
        self.last: Outcome | None = None

    # -- what subclasses write
    def verify(self, *values: Any) -> str | None:
        raise NotImplementedError

    # -- what learners call
    def _values(self) -> list[Any]:
        values = []
        for name in self.vars:
            if name not in self.namespace:
                raise NotAttempted(f"create the variable `{name}` first, then run `check()` again.")
            value = self.namespace[name]
            if value is ____ or value is Ellipsis:
                raise NotAttempted(f"replace `____` in the cell that sets `{name}` with your answer.")
            values.append(value)
        return values

    def outcome(self) -> Outcome:
        """Check without printing: what ``check()`` would say."""
        try:
            message = self.verify(*self._values()) or self.correct_message
            self.last = Outcome("correct", message)
        except NotAttempted as e:
            self.last = Outcome("not attempted", str(e))
        except NotImplementedError as e:  # the learner's function is still the exercise stub
            self.last = Outcome("not attempted", f"finish the function first ({e or 'it still raises NotImplementedError'}).")
        except Incorrect as e:
            self.last = Outcome("incorrect", str(e))
        except Exception as e:  # the learner's function (or object) failed while being checked: say where, no traceback
            self.last = Outcome("incorrect", _raised(e))
        return self.last

    def check(self) -> None:
        out = self.outcome()
        _show(out.status, out.message)

    def hint(self, n: int | None = None) -> None:
        """The next hint (or hint number `n`); later hints say more."""
        if not self.hints:
            _show("hint", "no hint for this one: read the question again, then the lab's text above it.")
            return
        i = (self._hints_shown if n is None else n - 1) % len(self.hints)
        self._hints_shown = i + 1
        _show("hint", self.hints[i])

    def solution(self) -> None:
        """Show a worked answer as code."""
        _show("solution", f"\n```python\n{self.solution_code}\n```")

    # -- for instructor copies and tests
    def assert_check_passed(self) -> None:
        out = self.outcome()
        if out.status != "correct":
            raise AssertionError(f"expected the check to pass, it said ({out.status}): {out.message}")

    def assert_check_failed(self) -> None:
        out = self.outcome()
        if out.status != "incorrect":
            raise AssertionError(f"expected the check to fail, it said ({out.status}): {out.message}")


class EqualityProblem(Problem):
    """The learner's value must equal ``expected`` (numbers within ``tolerance``); ``why`` explains the answer."""

    expected: Any = None
    tolerance: float = 1e-6
    why: str = ""

    def expected_value(self) -> Any:
        return self.expected

    def verify(self, value: Any) -> str | None:
        want = self.expected_value()
        ok = (math.isclose(float(value), float(want), rel_tol=self.tolerance, abs_tol=self.tolerance)
              if isinstance(want, (int, float)) and isinstance(value, (int, float)) else value == want)
        if not ok:
            raise Incorrect(f"expected `{self.vars[0]}` = {want!r}, got {value!r}. {self.why}".strip())
        return f"{want!r}. {self.why}".strip()


class ChoiceProblem(Problem):
    """Pick one of ``choices``; ``explanations`` says, per wrong choice, why it is wrong."""

    choices: Sequence[str] = ()
    answer: str = ""
    explanations: dict = {}
    why: str = ""

    def verify(self, value: Any) -> str | None:
        if value not in self.choices:
            raise Incorrect(f"`{self.vars[0]}` must be one of {list(self.choices)}, got {value!r}.")
        if value != self.answer:
            raise Incorrect(self.explanations.get(value, f"{value!r} is not what the measurement shows."))
        return self.why or self.correct_message


def bind_exercises(namespace: dict, problems: Iterable[type], prefix: str = "q") -> list[Problem]:
    """Create ``q1, q2, ...`` in `namespace` (a notebook's ``globals()``), each reading its answers from there."""
    bound = []
    for i, cls in enumerate(problems, start=1):
        problem = cls(namespace)
        namespace[f"{prefix}{i}"] = problem
        bound.append(problem)
    namespace.setdefault("____", ____)
    return bound
