"""The labs on a simulated fresh Colab runtime, end to end (issue 16): the course data comes from an origin server.

For each lab: a new runtime without the kit and with empty data and cache folders (``tools/colab_sim.py`` says
how each part of Colab is stood in for), the lab's first cell installs the kit from a local copy of this checkout
(``KIT``/``COURSE_REPO`` name that folder) and ``colab_setup`` downloads the data sets the lab needs from the course
archives, packed from the course data folder and served from 127.0.0.1 (``COURSE_DATA_URL``). The lab then runs to
the end (papermill, fast profile, seed 0).

It fails (exit 1) when a lab fails, a data set the lab asks for was not fetched, what was unpacked does not repack
into its recorded archive (sha256), a request was refused or went to any other host (the kernel's proxy is the
origin, which refuses and logs those). Prints a table per lab and every file fetched; writes
``build/bench/simulated_colab.json`` and the executed labs to ``build/bench/simulated_colab/``.

    python benchmarks/simulated_colab.py                       # every lab (fresh caches: lab 03 alone takes 15+ min)
    python benchmarks/simulated_colab.py 00_setup 04_wildlife_case_study
    python benchmarks/simulated_colab.py --ledgers build/colab-ledgers
    python -m course_lib claims --results build/colab-ledgers --docs docs/CLAIMS.md   # the page from that run

Not part of ``make test``. Model weights come from the packages the environment has (as on Colab, where pip
installs them with the kit); a hub download would be a request to another host, and fail the run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib import claims, datapacks  # noqa: E402
from course_lib.notebooks import list_notebooks  # noqa: E402
from tools import colab_sim  # noqa: E402

OUT = ROOT / "build" / "bench"
CHILD = """
import json, resource, sys
from course_lib.notebooks import run_notebook
run = run_notebook(sys.argv[1], sys.argv[2], profile=sys.argv[3], seed=0)
run["peak_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
print(json.dumps(run))
"""


def data_source(given: str | None) -> Path:
    """The course data folder to pack: `given`, else ``$COURSE_DATA_DIR``, else ``../shared/datasets`` beside the
    checkout (the Makefile's rule)."""
    for candidate in (given, os.environ.get("COURSE_DATA_DIR"), ROOT.parent / "shared" / "datasets"):
        if candidate and Path(candidate, "hymenoptera").is_dir():
            return Path(candidate).resolve()
    raise SystemExit("no course data folder to pack: pass --data DIR (the folder holding hymenoptera/, eurosat/, ...)")


def pack_origin(source: Path, folder: Path) -> dict[str, dict]:
    """Pack every course archive into `folder`; stop if one is not the archive the kit records."""
    made = {p.name: p for p in datapacks.pack_all(folder, names=sorted(datapacks.PACKS), root=source)}
    wrong = [n for n, p in made.items() if p != datapacks.PACKS[n]]
    if wrong:
        raise SystemExit(f"packing {source} gave archives whose sha256 is not the recorded one: {wrong}; "
                         "run `python -m tools.publish pack-data` and update course_lib/datapacks.py first")
    return {n: {"file": p.file, "bytes": p.bytes, "sha256": p.sha256} for n, p in made.items()}


def run_child(copy: Path, out: Path, env: dict, profile: str, timeout: float) -> dict:
    """Run the lab copy with papermill in a child process (its own process group, ended on timeout)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(copy), str(out), profile], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": f"timed out after {timeout:.0f} s", "seconds": timeout, "peak_gib": float("nan")}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"status": f"runner failed: {' | '.join(stderr.strip().splitlines()[-3:])}", "seconds": float("nan"),
                "peak_gib": float("nan"), "executed": str(out / copy.name)}   # papermill's partial copy
    return json.loads(lines[-1])


def first_cell(executed: Path) -> tuple[float, str]:
    """Seconds and printed text of the executed lab's first code cell (install + colab_setup)."""
    if not executed.is_file():
        return float("nan"), ""
    cell = next(c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code")
    text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return float(cell.get("metadata", {}).get("papermill", {}).get("duration") or float("nan")), text


def keep_outputs(stem: str, run: dict, ledgers: Path | None) -> None:
    """The executed lab into build/bench/simulated_colab/; its results and claims ledger into `ledgers`."""
    executed = Path(run.get("executed", ""))
    if executed.is_file():
        (OUT / "simulated_colab").mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed, OUT / "simulated_colab" / executed.name)
    if ledgers is not None and run.get("results"):
        ledgers.mkdir(parents=True, exist_ok=True)
        for path in (Path(run["results"]), claims.ledger_path(run["results"])):
            if path.is_file():
                shutil.copy2(path, ledgers / path.name)


def lab_problems(row: dict, requests: list[dict], origin_host: str) -> list[str]:
    """What went wrong for one lab (empty: it ran on the simulated Colab as it should)."""
    problems = [] if row["status"] == "ok" else [f"the lab failed: {row['status']}"]
    problems += [f"request to another host: {e['method']} {e['host']}"
                 for e in colab_sim.foreign_requests(requests, origin_host)]
    problems += [f"request refused: {e['method']} {e['path']} -> {e['status']}"
                 for e in colab_sim.failed_requests(requests) if e["host"] == origin_host]
    if not (row["kit_installed"] or "").endswith(row["kit"]):
        problems.append(f"the first cell did not pip-install the kit from {row['kit']} (got {row['kit_installed']})")
    problems += [f"{name} was not fetched" for name in row["asked"] if name not in row["fetched"]]
    problems += [f"{name}: the unpacked folder is not the recorded archive (sha256)"
                 for name, ok in row["verified"].items() if not ok]
    return problems


def run_lab(lab: Path, work: Path, kit: Path, site: Path, origin: colab_sim.Origin, args) -> dict:
    """One lab on a fresh simulated runtime: its row of the table, with its requests and problems."""
    start = len(origin.log)
    rt = colab_sim.fresh_runtime(work / lab.stem, site, origin.url, dict(os.environ))
    copy, asked = colab_sim.colab_copy(lab, rt.content, str(kit))
    run = run_child(copy, rt.root / "out", rt.env, args.profile, args.timeout)
    requests = origin.log[start:]
    by_file = {p.file: n for n, p in datapacks.PACKS.items()}
    fetched = [by_file[Path(e["path"]).name] for e in requests
               if e["status"] == 200 and Path(e["path"]).name in by_file and e["host"] == origin.host]
    verified = {n: colab_sim.verify_unpacked(n, rt.data, rt.root / "repack") for n in fetched}
    setup_s, setup_text = first_cell(Path(run.get("executed", "")))
    keep_outputs(lab.stem, run, args.ledgers)
    row = {"lab": lab.stem, "status": run["status"], "seconds": run["seconds"], "setup_seconds": setup_s,
           "peak_gib": run.get("peak_gib"), "asked": asked, "fetched": fetched, "verified": verified,
           "kit": str(kit), "kit_installed": rt.installed_kit(), "setup_output": setup_text, "requests": requests}
    row["problems"] = lab_problems(row, requests, origin.host)
    return row


def print_report(rows: list[dict]) -> None:
    print(f"\n{'lab':<38} {'status':<8} {'seconds':>8} {'setup s':>8} {'peak GiB':>9}  data sets fetched (verified)")
    for r in rows:
        sets = ", ".join(f"{n} ({'ok' if r['verified'].get(n) else 'NOT verified'})" for n in r["fetched"]) or "-"
        status = r["status"] if r["status"] == "ok" else "FAILED"
        print(f"{r['lab']:<38} {status:<8} {r['seconds']:8.0f} {r['setup_seconds']:8.1f} {r['peak_gib']:9.2f}  {sets}")
    print(f"\n{'files fetched':<52} {'lab':<34} {'status':>6} {'bytes':>10}  complete")
    for r in rows:
        for e in r["requests"]:
            pack = next((p for p in datapacks.PACKS.values() if e["path"].endswith("/" + p.file)), None)
            whole = "yes" if pack is not None and e["bytes"] == pack.bytes and e["status"] == 200 else "no"
            print(f"{e['host'] + e['path']:<52} {r['lab']:<34} {e['status']:>6} {e['bytes']:>10}  {whole}")
    for r in rows:
        for p in r["problems"]:
            print(f"PROBLEM {r['lab']}: {p}")


def simulate(labs: list[Path], args) -> dict:
    """Pack, serve, run every lab on its own fresh runtime; the summary (also what the JSON holds)."""
    work = Path(tempfile.mkdtemp(prefix="colabsim-", dir=args.work))
    try:
        source = data_source(args.data)
        archives = pack_origin(source, work / "origin" / datapacks.RELEASE_TAG)
        kit = colab_sim.mirror_kit(ROOT, work / "kit")
        site = colab_sim.preinstalled_site(work / "site")
        with colab_sim.serve_origin(work / "origin") as origin:
            rows = []
            for lab in labs:
                print(f"{lab.stem}: running on a fresh simulated Colab runtime ...", flush=True)
                rows.append(run_lab(lab, work, kit, site, origin, args))
            stray = len(origin.log) - sum(len(r["requests"]) for r in rows)
    finally:
        if args.keep:
            print(f"kept the simulated runtimes in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {"profile": args.profile, "seed": 0, "data_source": str(source), "origin": origin.url,
            "data_url": f"{origin.url}/{datapacks.RELEASE_TAG}", "archives": archives, "labs": rows,
            "requests_between_labs": stray,
            "ok": stray == 0 and all(not r["problems"] for r in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labs", nargs="*", help="lab names, e.g. 00_setup 04_wildlife_case_study (default: all)")
    parser.add_argument("--labs", dest="labs_opt", nargs="+", default=[], help="the same, as an option")
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--data", help="course data folder to pack (default: $COURSE_DATA_DIR or ../shared/datasets)")
    parser.add_argument("--ledgers", type=Path, help="keep each lab's results and claims ledger in this folder")
    parser.add_argument("--out", type=Path, default=OUT / "simulated_colab.json")
    parser.add_argument("--work", help="where the throw-away runtimes go (default: the system's temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the runtimes (venvs, data, executed copies)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds one lab may take (default 2 h)")
    args = parser.parse_args(argv)
    every = {p.stem: p for p in list_notebooks()}
    names = [Path(n).stem for n in (args.labs + args.labs_opt)] or list(every)
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"no lab {unknown}; labs: {list(every)}")
    summary = simulate([every[n] for n in names], args)
    print_report(summary["labs"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nwrote {args.out}" + (f"; ledgers in {args.ledgers}" if args.ledgers else ""))
    if not summary["ok"]:
        print("SIMULATED COLAB RUN FAILED (see PROBLEM lines above)", file=sys.stderr)
        return 1
    print(f"all {len(names)} lab(s) ran to the end on a simulated fresh Colab; every archive verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
