"""Shared fixtures: the real offline data and weights, loaded once per test session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Defaults for a bare `pytest` run; `make test` and CI set these themselves.
os.environ.setdefault("COURSE_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Lab kernels (papermill, nbval) import the course_lib of this checkout, even when the environment has the kit
# installed from another folder (a reused virtual environment, another clone).
_others = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *_others])
# The build tools (tools/, not installed with the kit) are imported from the checkout, also by a bare `pytest`.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# A relative data folder would resolve against each kernel's working directory (notebooks/): make it absolute.
os.environ["COURSE_DATA_DIR"] = str(Path(os.environ["COURSE_DATA_DIR"]).resolve())


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    path = Path(os.environ["COURSE_DATA_DIR"])
    if not (path / "hymenoptera").is_dir():
        pytest.fail(f"the course data sets are not in {path}: set COURSE_DATA_DIR to the folder that holds "
                    "hymenoptera/, chest_xray/, camera_traps/ and eurosat/.")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests write feature caches and checkpoints to a throw-away folder unless CI names one."""
    if "COURSE_CACHE_DIR" not in os.environ:
        os.environ["COURSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("course-cache"))
    yield


@pytest.fixture(scope="session")
def lite0():
    from course_lib.models import load_model

    return load_model("tf_efficientnet_lite0")


@pytest.fixture(scope="session")
def run_lab(tmp_path_factory, shared_datasets):
    """Execute a lab once per test session (papermill, fast profile, seed 0) and return its run record.

    ``run_lab("01_hierarchical_features")["results"]`` is the path of the numbers that lab measured; every test
    file asserting a lab's claims shares the one execution.
    """
    from course_lib.notebooks import NOTEBOOK_DIR, run_notebook

    out = tmp_path_factory.mktemp("executed")
    done: dict[str, dict] = {}

    def run(stem: str) -> dict:
        if stem not in done:
            done[stem] = run_notebook(NOTEBOOK_DIR / f"{stem}.ipynb", out, profile="fast", seed=0)
        return done[stem]

    return run


@pytest.fixture(scope="session")
def lab_results(run_lab):
    """``lab_results("02_...")``: the numbers that lab measured, after asserting its one execution succeeded."""
    from course_lib.notebooks import load_results

    def results(stem: str) -> dict:
        run = run_lab(stem)
        assert run["status"] == "ok", f"{stem} {run['status']} (executed copy: {run['executed']})"
        return load_results(run["results"])

    return results


def pytest_collection_modifyitems(config, items):
    """Every test that executes a lab (it uses ``run_lab`` or ``lab_results``, directly or through another fixture)
    carries the ``notebooks`` marker, so ``-m "not notebooks"`` runs only the fast tests, whoever wrote the test."""
    for item in items:
        if {"run_lab", "lab_results"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.notebooks)


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium driven by playwright: the system's browser (``tools.slides.find_browser``), since playwright's
    own browser download needs the network. It resolves no host but this machine, so nothing comes from the web.
    Module-scoped: playwright's event loop lives only while one test file uses it. No browser fails (CI installs
    one with .ci/install-browser), as in the slide tests."""
    from tools.slides import INSTALL_HINT, find_browser

    path = find_browser()
    if path is None:
        pytest.fail(f"headless Chromium is needed for the browser tests and was not found: {INSTALL_HINT}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=[
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()
