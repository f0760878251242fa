"""Student and instructor copies of every lab from one source, as Neuromatch's course tools make them.

A lab holds each exercise's worked answer in a code cell that is tagged ``solution`` or starts with a
``# solution`` line (``# solution: what it does`` names the exercise; Neuromatch's ``# to_remove solution`` works
too). ``python -m tools.copies`` (``make copies``) writes, for every lab:

- ``build/instructor/<lab>.ipynb``: the lab as written, answers included;
- ``build/student/<lab>.ipynb``: each answer replaced by its exercise stub, which is

  1. the cell's ``# stub:`` lines, uncommented (``# stub: n_frozen = ____`` -> ``n_frozen = ____``), if it has any;
  2. else one ``name = ____`` per name the answer assigns, and for each function it defines, the signature and
     docstring with ``raise NotImplementedError("Student exercise: ...")`` as its body; imports and
     ``qN.check()`` calls stay;
  3. else a comment asking for the answer.

Cells tagged ``instructor`` (say, ``q1.assert_check_passed()``) exist only in the instructor copy, cells tagged
``student`` only in the student copy. Both copies start with no outputs. The student copy is checked to contain no
line of any answer (``SolutionLeak`` otherwise). Lab authors: see docs/INSTRUCTOR_GUIDE.md. Used in: every lab (by
``make lab``, which writes the student copies to my-labs/, and ``make test``, which executes them from build/student-ci/).
"""
from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from course_lib import env
from course_lib.errors import CourseLibError

from course_lib.notebooks import atomic_write   # the kit's one atomic writer (re-exported by a public module)

OUT_DIR = env.output_dir()
TAG_SOLUTION, TAG_INSTRUCTOR, TAG_STUDENT, TAG_EXERCISE = "solution", "instructor", "student", "exercise"
_MARK = re.compile(r"^\s*#\s*(?:to_remove\s+)?solution\b[ \t]*:?[ \t]*(.*)$", re.I)
_STUB = re.compile(r"^(\s*)#\s*stub:[ ]?(.*)$", re.I)
_MD_STUB = re.compile(r"^\s*<!--\s*stub:\s*(.*?)\s*-->\s*$", re.I)
_CHECK_CALLS = {"check", "hint", "solution"}
BLANK_IMPORT = "from course_lib.checks import ____  # the blank you replace with your answer"


class SolutionLeak(CourseLibError):
    """The student copy would show part of a worked answer."""


@dataclass
class Copies:
    lab: str
    student: Path
    instructor: Path
    exercises: int


# --------------------------------------------------------------------------- cells
def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def is_solution(cell) -> bool:
    """A worked answer: tagged ``solution``, or a code cell whose first line is ``# solution``."""
    if TAG_SOLUTION in _tags(cell):
        return True
    return cell.get("cell_type") == "code" and bool(_MARK.match(_first_line(_source(cell))))


def exercise_title(source: str) -> str:
    """``# solution: freeze the backbone`` -> ``freeze the backbone`` ("" if the marker names nothing)."""
    m = _MARK.match(_first_line(source))
    return m.group(1).strip() if m else ""


def _marked_stub(source: str) -> str | None:
    lines = [m.group(1) + m.group(2) for m in map(_STUB.match, source.splitlines()) if m]
    return "\n".join(lines) if lines else None


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _names(elt)]
    if isinstance(target, ast.Starred):
        return _names(target.value)
    return []  # attributes and items: the author writes a `# stub:` line for those


def _function_stub(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef, title: str) -> str:
    lines = source.splitlines()
    start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    body = node.body
    has_doc = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
               and isinstance(body[0].value.value, str))
    end = body[0].end_lineno if has_doc else body[0].lineno - 1
    head = lines[start:end]
    if not has_doc and body[0].lineno == node.lineno:  # one-line def: `def f(x): return x`
        head = lines[start:node.lineno - 1] + [lines[node.lineno - 1][:body[0].col_offset].rstrip()]
    indent = " " * (body[0].col_offset if body[0].lineno != node.lineno else node.col_offset + 4)
    what = title or f"complete `{node.name}`"
    return "\n".join(head + [f'{indent}raise NotImplementedError("Student exercise: {what}")'])


def auto_stub(source: str) -> str:
    """The stub derived from an answer: placeholders for what it assigns, signatures for what it defines."""
    title = exercise_title(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics or shell lines: no safe derivation
        tree = None
    out: list[str] = []
    seen: set[str] = set()
    for node in tree.body if tree else []:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (n for t in targets for n in _names(t)):
                if name not in seen:
                    seen.add(name)
                    out.append(f"{name} = ____")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(_function_stub(source, node, title))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in _CHECK_CALLS:
            out.append(ast.get_source_segment(source, node))
    if not out:
        out = [f"# Student exercise{': ' + title if title else ''}. Write your answer here."]
    elif title:
        out.insert(0, f"# Student exercise: {title}")
    return "\n".join(out)


def student_stub(source: str) -> str:
    """What the student copy shows instead of the answer in `source` (see the module docstring)."""
    marked = _marked_stub(source)
    if marked is None:
        return auto_stub(source)
    title = exercise_title(source)
    return (f"# Student exercise: {title}\n" if title else "") + marked


def _markdown_stub(source: str) -> str:
    lines = [m.group(1) for m in map(_MD_STUB.match, source.splitlines()) if m]
    return "\n".join(lines) if lines else "*Your answer here (the instructor copy has a worked one).*"


def _answer_lines(source: str, stub: str) -> set[str]:
    """The lines of an answer that must not reach students: code, not comments, blanks or stub lines."""
    shown = {line.strip() for line in stub.splitlines()}
    keep = set()
    for line in source.splitlines():
        s = line.strip()
        if len(s) < 6 or s.startswith(("#", "<!--")) or s in shown or s in ('"""', "'''", "pass", "return"):
            continue
        keep.add(s)
    return keep


def _clean(cell) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    cell.get("metadata", {}).pop("execution", None)


def _defines_blank(sources: Sequence[str]) -> bool:
    return any("bind_exercises" in s or re.search(r"\b____\s*=|import[^\n]*\b____\b", s) for s in sources)


# --------------------------------------------------------------------------- notebooks
def make_copies(nb, source_name: str = ""):
    """(student, instructor) notebooks from one lab notebook (nbformat v4); the input is not changed."""
    import nbformat

    student, instructor = copy.deepcopy(nb), copy.deepcopy(nb)
    student.cells, instructor.cells = [], []
    answers: list[set[str]] = []
    public = {line.strip() for c in nb.cells if not is_solution(c) for line in _source(c).splitlines()}
    for cell in nb.cells:
        tags = _tags(cell)
        if TAG_STUDENT not in tags:
            c = copy.deepcopy(cell)
            _clean(c)
            instructor.cells.append(c)
        if TAG_INSTRUCTOR in tags:
            continue
        s = copy.deepcopy(cell)
        _clean(s)
        if is_solution(cell):
            text = _source(cell)
            stub = _markdown_stub(text) if cell.cell_type == "markdown" else student_stub(text)
            if cell.cell_type == "code" and "____" in stub and not _defines_blank([_source(c) for c in student.cells]):
                stub = BLANK_IMPORT + "\n" + stub
            s.source = stub
            s.metadata["tags"] = [t for t in tags if t != TAG_SOLUTION] + [TAG_EXERCISE]
            answers.append(_answer_lines(text, stub) - public)  # lines the lab shows elsewhere are no secret
        student.cells.append(s)
    for copy_nb, kind in ((student, "student"), (instructor, "instructor")):
        copy_nb.metadata["course_kit"] = {"copy": kind, "source": source_name}
        nbformat.validate(copy_nb)
    text = "\n".join(_source(c) for c in student.cells)
    present = {line.strip() for line in text.splitlines()}
    leaks = sorted({line for lines in answers for line in lines if line in present})
    if leaks:
        raise SolutionLeak(f"{source_name or 'the lab'}: the student copy would still show answer line(s) "
                           f"{leaks[:3]}; give that solution cell explicit `# stub:` lines.")
    return student, instructor


def write_copies(notebook: str | Path, out_dir: str | Path = OUT_DIR) -> Copies:
    """Write ``<out_dir>/student/<lab>.ipynb`` and ``<out_dir>/instructor/<lab>.ipynb``."""
    import nbformat

    notebook, out_dir = Path(notebook), Path(out_dir)
    if not notebook.is_file():
        raise CourseLibError(f"no notebook at {notebook}.")
    nb = nbformat.read(notebook, as_version=4)
    try:
        rel = notebook.resolve().relative_to(env.PROJECT_ROOT).as_posix()
    except ValueError:
        rel = notebook.name
    student, instructor = make_copies(nb, rel)
    paths = {}
    for kind, copy_nb in (("student", student), ("instructor", instructor)):
        path = out_dir / kind / notebook.name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as f:
            nbformat.write(copy_nb, f)
        paths[kind] = path
    n = sum(1 for c in nb.cells if is_solution(c))
    return Copies(lab=notebook.stem, student=paths["student"], instructor=paths["instructor"], exercises=n)


def write_all(notebooks: Sequence[str | Path] | None = None, out_dir: str | Path = OUT_DIR) -> list[Copies]:
    """Both copies of every lab (default: ``notebooks/NN_*.ipynb``)."""
    from course_lib.notebooks import list_notebooks

    notebooks = list(notebooks) if notebooks else list_notebooks()
    return [write_copies(nb, out_dir) for nb in notebooks]


def write_workspace(folder: str | Path = (env.kit_checkout() or Path.cwd()) / "my-labs") -> list[Path]:
    """The learner's own copies (``make lab``): the student copy of each lab that `folder` does not hold yet.

    An existing file is never touched, so answers and notes survive every ``make lab``; delete a file to get a fresh
    copy of that lab. Returns the files written.
    """
    import nbformat
    from course_lib.notebooks import list_notebooks

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for lab in list_notebooks():
        target = folder / lab.name
        if target.exists():
            continue
        student, _ = make_copies(nbformat.read(lab, as_version=4), lab.name)
        with atomic_write(target, "w") as f:
            nbformat.write(student, f)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.copies",
        description="Write build/student/<lab>.ipynb (exercise stubs) and build/instructor/<lab>.ipynb (answers).")
    parser.add_argument("notebooks", nargs="*", help="labs (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--out", default=str(OUT_DIR), help="folder that gets student/ and instructor/ (build)")
    parser.add_argument("--workspace", metavar="DIR", help="instead: write the student copy of each lab that DIR "
                        "lacks, never overwriting one (make lab uses my-labs/)")
    args = parser.parse_args(argv)
    try:
        if args.workspace:
            for path in write_workspace(args.workspace):
                print(f"new student copy: {path}")
            return 0
        for c in write_all(args.notebooks or None, args.out):
            print(f"{c.lab}: {c.exercises} exercise(s) -> {c.student} | {c.instructor}")
    except CourseLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
