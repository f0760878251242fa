"""How long the labs' code cells are, as a student sees them: ``python -m tools.cells [LAB ...]``.

A lab's code cells should read like a chapter's examples: about 12 lines or fewer, with the plumbing (threads,
timings, the ledger, saving) in course_lib. This measures each lab's **student copy** (``tools.copies``): exercise
answers replaced by their stubs, instructor-only cells left out. A cell's length is its count of non-blank lines
(comments count; blank separators do not, so spacing a cell out costs nothing). tests/test_notebooks.py holds
every lab to ``MAX_LINES`` with the short allow-list ``LONG_OK`` (cells that may stay longer, found by a marker in
their source).
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from course_lib.notebooks import list_notebooks
from tools.copies import make_copies

MAX_LINES = 12
# Cells allowed over MAX_LINES, by a marker their source holds: the papermill parameters and the profile
# settings (one assignment a line reads better than a helper that hides what the profile changes), and the setup
# cell that makes course_lib importable (it has to run before any course_lib helper exists).
LONG_OK = {"parameters": "tag parameters",
           "settings": "# Settings that follow from the profile",
           "setup": "# Setup: make course_lib importable"}
# private API: a `_name` attribute of anything, or a private name/module imported from the kit
PRIVATE = re.compile(r"(?<![\w.])(?:[A-Za-z]\w*)\.(_[A-Za-z]\w*)|from\s+course_lib[\w.]*\s+import\s+[^\n]*\b_[A-Za-z]\w*"
                     r"|course_lib(?:\.\w+)*\._[A-Za-z]")


@dataclass
class CellReport:
    lab: str
    lengths: list[int] = field(default_factory=list)     # non-blank lines per code cell, in order
    long: list[tuple[int, int, str]] = field(default_factory=list)   # (code cell number, lines, first line) > MAX
    allowed: list[tuple[int, int, str]] = field(default_factory=list)  # long but on the allow-list
    private: list[str] = field(default_factory=list)

    @property
    def longest(self) -> int:
        return max(self.lengths, default=0)

    @property
    def longest_free(self) -> int:
        """The longest code cell outside the allow-list."""
        exempt = {i for i, _, _ in self.allowed}
        return max((n for i, n in enumerate(self.lengths) if i not in exempt), default=0)


def n_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip())


def allowed_long(cell) -> str:
    """The allow-list entry a cell matches ("" if none)."""
    if "parameters" in cell.get("metadata", {}).get("tags", []):
        return "parameters"
    return next((name for name, marker in LONG_OK.items() if marker in cell.source), "")


def private_uses(source: str) -> list[str]:
    """Private API in a code cell: ``x._y``, ``from course_lib.x import _y``, ``course_lib._x``."""
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return [m.group(0) for m in PRIVATE.finditer(code) if not m.group(0).split(".")[-1].startswith("__")]


def report(notebook: str | Path) -> CellReport:
    import nbformat

    notebook = Path(notebook)
    student, _ = make_copies(nbformat.read(notebook, as_version=4), notebook.name)
    out = CellReport(notebook.stem)
    for i, cell in enumerate(c for c in student.cells if c.cell_type == "code"):
        n = n_lines(cell.source)
        out.lengths.append(n)
        out.private += private_uses(cell.source)
        if n > MAX_LINES:
            first = next((line for line in cell.source.splitlines() if line.strip()), "")[:70]
            (out.allowed if allowed_long(cell) else out.long).append((i, n, first))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cells", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="labs (default: every notebooks/NN_*.ipynb)")
    args = parser.parse_args(argv)
    for nb in args.notebooks or list_notebooks():
        r = report(nb)
        print(f"{r.lab}: {len(r.lengths)} code cells, longest {r.longest} lines ({r.longest_free} outside the "
              f"allow-list), {len(r.long)} over {MAX_LINES} (+{len(r.allowed)} allowed), private API: "
              f"{r.private or 'none'}")
        for i, n, first in r.long:
            print(f"   cell {i:>2}: {n:>2} lines  {first}")
        for i, n, first in r.allowed:
            print(f"   cell {i:>2}: {n:>2} lines  (allowed) {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
