"""`make lab` in a real browser: the Makefile's command starts JupyterLab, lab 00 opens in headless Chromium, its
first cells run through the JupyterLab page (a click, then Shift+Enter, as a learner does) and the doctor's report
appears in the page; then the server shuts down cleanly, with its kernel.

The server is the very command the Makefile runs (``python -m tools.lab_server --workspace ...``), plus what a test
needs: no browser of its own, a port the system picks (read back from the server's runtime file: no race for a
port), a known token, a temporary workspace and Jupyter folders of its own (no user setting or kernel applies).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest

from tools import lab_server

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "course-kit-browser-test"
START_S, KERNEL_S, RUN_S, STOP_S = 120, 120, 240, 60   # generous bounds (busy 2-core machine): waits end on conditions


def _makefile_lab_recipe() -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("lab:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_makefile_runs_the_tested_command():
    assert _makefile_lab_recipe() == ["$(VENV)/bin/python -m tools.lab_server --workspace my-labs"]


def test_the_command_opens_lab_00_as_root_only_with_allow_root(monkeypatch):
    monkeypatch.setattr(lab_server, "is_root", lambda: False)
    assert lab_server.command("ws", extra=["--no-browser"], python="py") == \
        ["py", "-m", "jupyter", "lab", "--no-browser", str(Path("ws") / "00_setup.ipynb")]
    monkeypatch.setattr(lab_server, "is_root", lambda: True)
    assert "--allow-root" in lab_server.command("ws")
    env = lab_server.environment({"LANG": "C"})
    assert env["MALLOC_MMAP_THRESHOLD_"] == env["MALLOC_TRIM_THRESHOLD_"] == "4294967296" and env["LANG"] == "C"


def _wait_for(condition, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the lab server exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout} s:\n{log.read_text()[-3000:]}")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):      # not there yet, or half written
        return None


def _answers(url: str) -> bool:
    """The server answers an authenticated request (it writes its info file before it listens)."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status == 200
    except OSError:          # refused, reset, timed out (URLError is an OSError)
        return False


@pytest.fixture
def lab(tmp_path):
    """``make lab``'s command on a temporary workspace, answering; yields (process, server info, runtime folder,
    workspace, log file)."""
    workspace, jupyter, log = tmp_path / "my-labs", tmp_path / "jupyter", tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}   # the command must set them
    env.update(JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), JUPYTER_CONFIG_DIR=str(jupyter / "config"),
               JUPYTER_DATA_DIR=str(jupyter / "data"), IPYTHONDIR=str(jupyter / "ipython"), PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "tools.lab_server", "--workspace", str(workspace),
            "--no-browser", "--port=0", f"--IdentityProvider.token={TOKEN}"]
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    info_file = jupyter / "runtime" / f"jpserver-{proc.pid}.json"     # the tool becomes the server: same pid
    try:
        info = _wait_for(lambda: _read_json(info_file), START_S, "server info file", proc, log)
        _wait_for(lambda: _answers(f"{info['url']}api/status"), START_S, "answer on its port", proc, log)
        yield proc, info, jupyter / "runtime", workspace, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _cells_to_run(notebook: Path) -> list[int]:
    """The indices of the code cells from the first one to the one that prints the doctor's report."""
    cells = nbformat.read(notebook, as_version=4).cells
    doctor = next(i for i, c in enumerate(cells) if c.cell_type == "code" and "doctor.report()" in c.source)
    return [i for i, c in enumerate(cells[:doctor + 1]) if c.cell_type == "code"]


def _shutdown(info: dict, proc: subprocess.Popen) -> int:
    request = urllib.request.Request(f"{info['url']}api/shutdown", method="POST", data=b"",
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=STOP_S) as reply:
        assert reply.status == 200
    return proc.wait(STOP_S)


def test_make_lab_opens_lab_00_and_runs_its_first_cells_in_the_page(lab, chromium):
    from playwright.sync_api import expect

    proc, info, runtime, workspace, log = lab
    assert info["token"] == TOKEN and Path(info["root_dir"]).resolve() == workspace.resolve()
    assert (workspace / "00_setup.ipynb").is_file()                      # the student copies were written first
    code = _cells_to_run(workspace / "00_setup.ipynb")
    first, doctor = code[0], code[-1]
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        # What `make lab` hands the browser: the redirect file the server writes for the notebook it opens.
        page.goto((runtime / f"jpserver-file-to-run-{proc.pid}-open.html").as_uri())
        page.wait_for_url(re.compile(r"/lab/tree/00_setup\.ipynb"), timeout=KERNEL_S * 1000)
        expect(page.locator("#jp-main-statusbar")).to_contain_text(re.compile(r"Python 3.*\| Idle"),
                                                                   timeout=KERNEL_S * 1000)
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        cell = lambda i: notebook.locator(f'.jp-Cell[data-windowed-list-index="{i}"]')  # noqa: E731
        cell(first).locator(".jp-InputPrompt").click()
        for _ in range(first, doctor + 1):
            page.keyboard.press("Shift+Enter")                           # runs the cell, selects the next one
        outputs = lambda: "\n".join(cell(i).locator(".jp-OutputArea").inner_text() for i in code)  # noqa: E731
        try:   # the doctor's cell ran last: its prompt carries the last execution count
            expect(cell(doctor).locator(".jp-InputPrompt")).to_have_text(f"[{len(code)}]:", timeout=RUN_S * 1000)
        except AssertionError as e:
            pytest.fail(f"lab 00's first cells did not all run in the page ({e}); their outputs:\n{outputs()}")
        text = cell(doctor).locator(".jp-OutputArea").inner_text()
        assert "All set" in text, text                                   # the doctor says the machine is ready
        assert re.search(r"ok\s+allocator\s+MALLOC_MMAP_THRESHOLD_ raised", text), text   # set by the command
        assert re.search(r"ok\s+hymenoptera\s+\d+ images", text), text
        prompts = [cell(i).locator(".jp-InputPrompt").inner_text().strip() for i in code]
        assert prompts == [f"[{n}]:" for n in range(1, len(code) + 1)], prompts   # each ran once, in order
        assert "Traceback" not in outputs(), outputs()
    finally:
        page.close()
    kernels = psutil.Process(proc.pid).children(recursive=True)
    assert kernels, "the page started no kernel"
    assert _shutdown(info, proc) == 0, log.read_text()[-3000:]
    assert not (runtime / f"jpserver-{proc.pid}.json").exists()          # a clean exit removes its runtime file
    gone, alive = psutil.wait_procs(kernels, timeout=STOP_S)
    assert not alive, f"kernels left running: {alive}"
