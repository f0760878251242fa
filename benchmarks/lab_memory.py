"""Peak memory and wall time of every lab, each executed alone in a fresh process (run: `make bench`).

Goal (issue 16): every lab's fast profile peaks at no more than 4 GiB of resident memory, so it fits a laptop or a
free Colab runtime next to a browser. Each lab runs in its own Python process that executes it with papermill; the
peak is the largest resident set of that process's finished children (the Jupyter kernel), ``ru_maxrss`` as the OS
counts it. The allocator settings are the ones the labs run with (``make lab``, CI): glibc keeps freed memory for
reuse with them, so the figure is the kernel's high-water mark, not what it holds at the end.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.notebooks import list_notebooks  # noqa: E402

GOAL_GIB = 4.0
CHILD = """
import json, resource, sys
from course_lib.notebooks import run_notebook
run = run_notebook(sys.argv[1], sys.argv[2], profile=sys.argv[3], seed=0)
run["peak_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
print(json.dumps(run))
"""


def measure(lab: Path, profile: str = "fast", keep: str = "") -> dict:
    """Execute `lab` in a fresh process; its status, seconds and the kernel's peak resident memory in GiB. With
    `keep`, the executed lab, its results and its claims ledger stay in that folder."""
    with tempfile.TemporaryDirectory() as scratch:
        out = keep or scratch
        done = subprocess.run([sys.executable, "-c", CHILD, str(lab), out, profile], capture_output=True, text=True,
                              cwd=ROOT, check=False)
    if done.returncode != 0:
        return {"notebook": lab.name, "status": f"runner failed: {done.stderr.strip().splitlines()[-1:]}",
                "seconds": float("nan"), "peak_gib": float("nan")}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab file names (default: every lab)")
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "lab_memory.json"))
    parser.add_argument("--keep", default="", help="keep executed labs, results and claims ledgers in this folder "
                                                   "(then: python -m course_lib claims --results FOLDER)")
    args = parser.parse_args(argv)
    labs = [ROOT / "notebooks" / name for name in args.labs] or list_notebooks()
    rows = []
    for lab in labs:
        row = measure(lab, args.profile, args.keep)
        rows.append(row)
        verdict = "ok" if row["peak_gib"] <= GOAL_GIB else f"OVER the {GOAL_GIB:.0f} GiB goal"
        print(f"{lab.name:<42} {row['status']:<8} {row['seconds']:7.0f} s  peak {row['peak_gib']:.2f} GiB  {verdict}",
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    worst = max(r["peak_gib"] for r in rows)
    print(f"largest peak: {worst:.2f} GiB (goal <= {GOAL_GIB:.0f} GiB); written to {args.out}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
