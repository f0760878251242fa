"""Exercises that check themselves, in the spirit of Kaggle's learntools: ``q1.check()``, ``q1.hint()``, ``q1.solution()``.

A lab defines each question as a small :class:`Problem` subclass and binds it to the notebook's globals::

    bind_exercises(globals(), [FreezeBackbone, PickStage], prefix="q")   # creates q1, q2
    q1.check()        # reads the learner's variable(s), says what is right or wrong and why

Checks read the learner's objects by value and by behaviour (a frozen model really has no trainable backbone
parameter), and a wrong answer gets expected vs got and a reason, never a bare "incorrect".
"""
from __future__ import annotations

import math
import re
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


NUMBER = r"\d+(?:\.\d+)?\s*(%)?"


def quotes_value(text: str, value: float, tol: float) -> bool:
    """Does `text` quote `value` (within `tol`, its rounding)? ``95.1%`` quotes 0.951; ``12 ms`` quotes 12.4. Signs
    are words as often as symbols ("2 points lower"), so a number quotes a value of either sign."""
    for m in re.finditer(NUMBER, text):
        n = float(m.group(0).rstrip("% \t\n"))
        if abs(n - abs(value)) <= tol or (m.group(1) and abs(n / 100 - abs(value)) <= tol):
            return True
    return False


def name_pattern(name: str) -> str:
    """A regex for a model or pipeline name as people write it: ``mobilenet_v3_large`` matches "MobileNet-V3 large"."""
    return r"[-_ ]?".join(re.escape(part) for part in re.split(r"[-_ ]+", name.strip()) if part)


class WrittenAnswer(Problem):
    """A short written answer a rubric grades; the check only looks for the parts a reader needs to check it.

    ``vars[0]`` holds the text. Subclasses set ``MIN_WORDS``, ``PARTS`` (what a reader looks for -> a
    case-insensitive regex) and ``NEEDS_NUMBER`` (a description of the number asked for, "" if none), and may add
    parts that depend on the run: :meth:`run_parts` (regexes, e.g. the chosen model's name) and :meth:`quoted`
    (values the text must quote from this run, each with its rounding tolerance). Missing parts are listed in one
    message, in the order run parts, the number, ``PARTS``, quoted values."""

    MIN_WORDS: int = 40
    PARTS: dict = {}
    NEEDS_NUMBER: str = ""
    NUMBER_PATTERN: str = r"\d\.\d|\d+\s*%|\d+\s*ms"
    TOO_SHORT: str = "{n} words: an answer needs at least {min_words} (a short paragraph) to say what it is asked."
    MISSING: str = "a reader could not check your answer yet; add "
    correct_message = ("each part a reviewer looks for is there. Your instructor's rubric also asks whether the "
                       "reasoning follows from your run's numbers.")

    def run_parts(self, *values: Any) -> dict:
        return {}

    def quoted(self, *values: Any) -> dict:
        """{what the text must quote: (value, tolerance)} from this run."""
        return {}

    def more_checks(self, text: str, *values: Any) -> None:
        """Checks after the parts (raise :class:`Incorrect`)."""

    def verify(self, text: Any, *values: Any) -> str | None:
        text = str(text)
        n = len(re.findall(r"[\w.%-]+", text))
        if n < self.MIN_WORDS:
            raise Incorrect(self.TOO_SHORT.format(n=n, min_words=self.MIN_WORDS))
        parts = dict(self.run_parts(*values))
        if self.NEEDS_NUMBER:
            parts[self.NEEDS_NUMBER] = self.NUMBER_PATTERN
        parts.update(self.PARTS)
        missing = [what for what, pattern in parts.items() if not re.search(pattern, text, re.I)]
        missing += [what for what, (value, tol) in self.quoted(*values).items()
                    if not quotes_value(text, value, tol)]
        if missing:
            raise Incorrect(self.MISSING + "; ".join(missing) + ".")
        self.more_checks(text, *values)
        return self.correct_message


def bind_exercises(namespace: dict, problems: Iterable[type], prefix: str = "q") -> list[Problem]:
    """Create ``q1, q2, ...`` in `namespace` (a notebook's ``globals()``), each reading its answers from there."""
    bound = []
    for i, cls in enumerate(problems, start=1):
        problem = cls(namespace)
        namespace[f"{prefix}{i}"] = problem
        bound.append(problem)
    namespace.setdefault("____", ____)
    return bound
