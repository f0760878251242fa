"""Student and instructor copies from one lab: the student copy shows stubs and its checks say "not attempted",
the instructor copy keeps the answers and its checks pass; both execute (papermill) and are valid notebooks."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course_lib.notebooks import list_notebooks
from tools import copies

SETUP = '''from course_lib.checks import EqualityProblem, bind_exercises

class MeanAccuracy(EqualityProblem):
    vars = ("mean_acc",)
    expected = 0.75
    why = "the mean of the two runs."

class Doubled(EqualityProblem):
    vars = ("doubled",)
    expected = 42
    why = "twice 21."

bind_exercises(globals(), [MeanAccuracy, Doubled])
accs = [0.5, 1.0]'''

MARKED = '''# solution: the mean accuracy
# stub: mean_acc = ____   # the mean of `accs`
mean_acc = sum(accs) / len(accs)'''

DERIVED = '''# solution
def double(x: int) -> int:
    """Twice `x`."""
    y = x + x
    return y

doubled = double(21)
q2.check()'''

ANSWER_LINES = ["sum(accs) / len(accs)", "y = x + x", "double(21)", "Because the head is random"]


def _lab(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 96 · Exercises\n\nTwo small exercises."),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_markdown_cell("**Exercise 1.** Compute the mean accuracy of `accs` as `mean_acc`."),
        nbformat.v4.new_code_cell(MARKED),   # marked by its first line, stub given
        nbformat.v4.new_code_cell('q1.check()\nprint("status 1:", q1.outcome().status)'),
        nbformat.v4.new_code_cell("q1.assert_check_passed()", metadata={"tags": ["instructor"]}),
        nbformat.v4.new_markdown_cell("**Exercise 2.** Write `double`."),
        nbformat.v4.new_code_cell(DERIVED, metadata={"tags": ["solution"]}),  # tag + marker, stub derived
        nbformat.v4.new_code_cell('print("status 2:", q2.outcome().status)'),
        nbformat.v4.new_markdown_cell("Because the head is random, its gradients are large.",
                                      metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell('print("student-only cell ran")', metadata={"tags": ["student"]}),
    ]
    path = folder / "96_exercises.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("copies")
    return copies.write_copies(_lab(folder), folder / "build")


def _text(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def test_student_copy_has_stubs_and_no_answer(written):
    student = _text(written.student)
    for line in ANSWER_LINES:
        assert line not in student
    assert "mean_acc = ____   # the mean of `accs`" in student
    assert 'def double(x: int) -> int:\n    """Twice `x`."""\n    raise NotImplementedError("Student exercise:' \
        in student
    assert "doubled = ____" in student and "q2.check()" in student
    assert "assert_check_passed" not in student and "student-only cell ran" in student
    assert written.exercises == 3
    nb = nbformat.read(written.student, as_version=4)
    assert nb.metadata["course_kit"]["copy"] == "student"
    assert [c.metadata.get("tags") for c in nb.cells if "exercise" in c.metadata.get("tags", [])]


def test_instructor_copy_keeps_answers(written):
    instructor = _text(written.instructor)
    for line in ANSWER_LINES:
        assert line in instructor
    assert "assert_check_passed" in instructor and "student-only cell ran" not in instructor


def test_both_copies_are_valid_notebooks(written):
    for path in (written.student, written.instructor):
        nbformat.validate(nbformat.read(path, as_version=4))


def _outputs(nb) -> str:
    text = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            text.append(o.get("text", "") if "text" in o else json.dumps(o.get("data", {})))
    return "\n".join(text)


def test_both_copies_execute_and_checks_report(written, tmp_path):
    import papermill as pm

    out = {}
    for kind, path in (("instructor", written.instructor), ("student", written.student)):
        out[kind] = pm.execute_notebook(str(path), str(tmp_path / f"{kind}.ipynb"), cwd=str(tmp_path),
                                        kernel_name="python3", progress_bar=False)
    inst, stud = _outputs(out["instructor"]), _outputs(out["student"])
    assert "status 1: correct" in inst and "status 2: correct" in inst and "Correct" in inst
    assert "status 1: not attempted" in stud and "status 2: not attempted" in stud
    assert "replace `____`" in stud and "Incorrect" not in stud and "student-only cell ran" in stud


def test_stub_rules():
    assert copies.is_solution({"cell_type": "code", "source": "# to_remove solution\nx = 1", "metadata": {}})
    assert not copies.is_solution({"cell_type": "code", "source": "# solutions are below\nx = 1", "metadata": {}})
    assert copies.student_stub("# solution\n    # stub: return ____\nreturn 1") == "    return ____"
    assert copies.auto_stub("# solution\na, (b, c) = 1, (2, 3)\nprint(a)") == "a = ____\nb = ____\nc = ____"
    assert copies.auto_stub("# solution: plot it\nfor i in range(3):\n    print(i)") == \
        "# Student exercise: plot it. Write your answer here."
    assert copies.auto_stub("def f(x): return x") == \
        'def f(x):\n    raise NotImplementedError("Student exercise: complete `f`")'


def test_command_writes_both_copies_of_every_lab(tmp_path, capsys):
    assert copies.main(["--out", str(tmp_path)]) == 0
    for lab in list_notebooks():
        for kind in ("student", "instructor"):
            nb = nbformat.read(tmp_path / kind / lab.name, as_version=4)
            nbformat.validate(nb)
            assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "00_setup:" in capsys.readouterr().out


@pytest.mark.parametrize("lab", [p for p in list_notebooks() if not p.name.startswith("00")], ids=lambda p: p.stem)
def test_every_lab_marks_a_checked_solution_for_each_exercise(lab):
    """Each exercise of the lab has a worked answer; the student copy gets its stub, and the instructor copy is the
    lab itself plus a cell that fails if any answer does not pass its check, so executing the lab in CI (nbval and
    papermill) executes the instructor copy."""
    import ast
    import importlib

    exercises = importlib.import_module(f"course_lib.exercises.lab{lab.name[:2]}").EXERCISES
    nb = nbformat.read(lab, as_version=4)
    student, instructor = copies.make_copies(nb, lab.name)          # raises SolutionLeak if an answer shows
    answers = [c for c in nb.cells if copies.is_solution(c)]
    assert len(answers) == len(exercises) >= 3
    code = lambda book: [c.source for c in book.cells if c.cell_type == "code"]
    assert code(instructor) == code(nb)
    guard = [c for c in nb.cells if c.cell_type == "code" and "instructor" in c.metadata.get("tags", [])]
    assert len(guard) == 1 and "assert_check_passed" in guard[0].source
    for k in range(1, len(exercises) + 1):
        assert f"q{k}" in guard[0].source
    stubs = [c.source for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stubs) == len(exercises)
    for k, stub in enumerate(stubs, 1):
        assert "____" in stub and f"q{k}.check()" in stub, stub
    assert not any("assert_check_passed" in s for s in code(student))
    for source in code(student):
        ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))


def test_workspace_copies_student_labs_once_and_never_overwrites(tmp_path):
    made = copies.write_workspace(tmp_path)
    assert sorted(p.name for p in made) == sorted(p.name for p in list_notebooks())
    lab = tmp_path / "01_hierarchical_features.ipynb"
    nb = nbformat.read(lab, as_version=4)
    assert nb.metadata["course_kit"]["copy"] == "student"
    nb.cells[0].source += "\n\nmy notes"                             # the learner's work
    nbformat.write(nb, lab)
    assert copies.write_workspace(tmp_path) == []                    # nothing rewritten
    assert "my notes" in nbformat.read(lab, as_version=4).cells[0].source

