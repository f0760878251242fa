"""``make lab``: write the student copies into a workspace, then open JupyterLab on lab 00 there.

    python -m tools.lab_server [--workspace my-labs] [any ``jupyter lab`` option, e.g. --no-browser --port 8899]

Each lab the workspace lacks gets its student copy (exercise stubs); a learner's own copy is never overwritten
(``tools.copies --workspace``). Then this process becomes ``jupyter lab <workspace>/00_setup.ipynb`` (``--allow-root``
as root), with glibc's allocator thresholds raised for the kernels it starts (about 3x faster CPU inference; the
doctor in lab 00 reports it). Options this tool does not know are passed on to ``jupyter lab``: the browser test
(tests/test_lab_server.py) runs this very command with ``--no-browser``, a free port and a known token.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from tools import copies

WORKSPACE = "my-labs"
FIRST_LAB = "00_setup.ipynb"
# glibc's default allocator page-faults on every large tensor on small CPU machines (see the Makefile).
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def command(workspace: str | Path = WORKSPACE, lab: str = FIRST_LAB, extra: Sequence[str] = (),
            python: str | None = None) -> list[str]:
    """The ``jupyter lab`` command line that opens `lab` in `workspace` (`extra`: more ``jupyter lab`` options)."""
    args = [python or sys.executable, "-m", "jupyter", "lab"]
    if is_root():
        args.append("--allow-root")          # Jupyter refuses to run as root without it (containers, CI)
    return args + list(extra) + [str(Path(workspace) / lab)]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the allocator thresholds the labs expect."""
    env = dict(os.environ if base is None else base)
    env.update(ALLOCATOR)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lab_server", description=__doc__.splitlines()[0],
                                     allow_abbrev=False)   # a jupyter option is never taken for one of ours
    parser.add_argument("--workspace", default=WORKSPACE, help=f"the learner's folder (default: {WORKSPACE})")
    parser.add_argument("--lab", default=FIRST_LAB, help=f"the notebook to open (default: {FIRST_LAB})")
    args, extra = parser.parse_known_args(argv)
    status = copies.main(["--workspace", args.workspace])
    if status:
        return status
    argv_jupyter = command(args.workspace, args.lab, extra)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the server (same process id): Ctrl+C and signals reach Jupyter itself, which shuts its kernels down.
    os.execve(argv_jupyter[0], argv_jupyter, environment())
    return 0   # not reached


if __name__ == "__main__":
    raise SystemExit(main())
