"""Executing the labs: papermill runs with a profile, and the small JSON of numbers each lab measures.

A lab writes what it measured with :func:`save_results`; the tests read that file and assert the claims
the lab's text makes, so a sentence in a notebook can never drift from its measurement.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from . import env
from ._atomic import atomic_write
from .claims import ledger_path

NOTEBOOK_DIR = env.PROJECT_ROOT / "notebooks"


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The labs in teaching order (``NN_name.ipynb``)."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def results_file(notebook: str | Path, results_path: str = "") -> Path:
    """Where a lab writes its numbers: `results_path` if given, else ``<output>/results/<lab>.json``
    (``env.output_dir()``: the checkout's ``build/``, or ``./build`` for a pip-installed kit)."""
    if results_path:
        return Path(results_path)
    return env.output_dir() / "results" / f"{Path(notebook).stem}.json"


def save_results(results: dict, path: str | Path) -> Path:
    """Write a lab's measured numbers as JSON, atomically (a crashed lab leaves the previous file intact)."""
    path = Path(path)
    with atomic_write(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True, default=float)
    return path


def load_results(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


class LabRun:
    """One execution of a lab and its bookkeeping, so the lab's cells keep to what they teach.

    ``run = notebooks.LabRun("03_model_comparison", results_path, profile=profile, seed=seed)`` starts the clock,
    holds what the lab records (``run.results``: a dict, the keyword arguments are its first entries) and the
    seconds its parts took (``run.timings``), and empties the lab's claims ledger (``run.ledger``, beside the
    results file): one execution, one ledger, a re-run replaces it instead of appending. ``with run.timed("speed"):``
    times a block; ``run.begin("splits")`` ... ``run.end("splits")`` a part that spans cells; ``run.save()`` adds the
    total, writes the results JSON (:func:`save_results`) and says where.
    """

    def __init__(self, lab: str, results_path: str = "", **recorded):
        self.lab = Path(lab).stem
        self.file = results_file(self.lab, results_path)
        self.ledger = ledger_path(self.file)
        self.ledger.unlink(missing_ok=True)
        self.results: dict = dict(recorded)
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()
        self.open: dict[str, float] = {}

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def begin(self, key: str) -> None:
        """Start timing the part `key` (:meth:`end` stops it)."""
        self.open[key] = time.perf_counter()

    def end(self, key: str) -> float:
        """Stop timing `key`: its seconds since :meth:`begin` go to ``run.timings[key]`` and are returned."""
        self.timings[key] = time.perf_counter() - self.open.pop(key)
        return self.timings[key]

    @contextmanager
    def timed(self, key: str):
        """``with run.timed("speed"): ...``: the block's seconds go to ``run.timings[key]``."""
        self.begin(key)
        try:
            yield
        finally:
            self.end(key)

    def save(self, timings_key: str | None = "timings") -> Path:
        """Add ``timings["total"]``, store the timings under `timings_key` (None: not at all), write the JSON."""
        from . import data

        self.timings["total"] = self.elapsed
        self.results["datasets_asked"] = data.datasets_asked()   # what the Colab first cell must fetch
        if timings_key:
            self.results[timings_key] = dict(self.timings)
        path = save_results(self.results, self.file)
        print("measured numbers written to", path)
        if timings_key:
            print(f"total {self.timings['total']:.0f} s:", {k: round(v, 1) for k, v in self.timings.items()})
        return path


def figure_path(name: str) -> Path:
    """Where labs save figures for the slides: ``<output>/figures/<name>`` (``env.output_dir()``)."""
    path = env.output_dir() / "figures" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_notebook(notebook: str | Path, output_dir: str | Path, profile: str = "fast", **parameters) -> dict:
    """Execute one lab with papermill; returns its status, seconds and the path of its results JSON."""
    import papermill as pm

    notebook = Path(notebook)
    output_dir = Path(output_dir).resolve()   # the kernel runs in the notebook's folder: a relative path would land there
    output_dir.mkdir(parents=True, exist_ok=True)
    results = output_dir / f"{notebook.stem}.json"
    start = time.perf_counter()
    status = "ok"
    # The kernel inherits these: panels draw their figures instead of widget state, and matplotlib draws inline (a
    # parent's MPLBACKEND=Agg, as in CI, would leave the executed notebook without a single figure).
    kernel_env = {"COURSE_NO_WIDGETS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    saved = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)
    try:
        pm.execute_notebook(str(notebook), str(output_dir / notebook.name), cwd=str(notebook.parent),
                            parameters={"profile": profile, "results_path": str(results), **parameters},
                            kernel_name="python3", progress_bar=False)
    except pm.PapermillExecutionError as e:
        status = f"failed: {e.ename}: {e.evalue}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"notebook": notebook.name, "status": status, "seconds": time.perf_counter() - start,
            "results": str(results), "executed": str(output_dir / notebook.name)}


def run_all(profile: str = "fast", output_dir: str | Path = "build/executed") -> list[dict]:
    """Execute every lab in order (what `python -m course_lib run-notebooks` does)."""
    return [run_notebook(nb, output_dir, profile=profile) for nb in list_notebooks()]
