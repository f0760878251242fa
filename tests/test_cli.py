"""The command line, run as a user would: `python -m course_lib ...` in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys

from course_lib.env import PROJECT_ROOT


def run(*args, **env_overrides):
    env = {**os.environ, **env_overrides}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=300)


def test_doctor_reports_data_and_verified_weights(shared_datasets):
    r = run("doctor", "--strict", MALLOC_MMAP_THRESHOLD_="4294967296")
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ["torch", "timm", "device", "hymenoptera", "397 images, 2 classes (train 244, val 153)", "camera_traps", "tf_efficientnet_lite2",
                     "sha256 verified", "All set"]:
        assert expected in r.stdout, expected


def test_doctor_says_what_to_do_when_data_is_missing(tmp_path):
    r = run("doctor", "--strict", COURSE_DATA_DIR=str(tmp_path))
    assert r.returncode == 1
    assert "What to do" in r.stdout and "fetch-data hymenoptera" in r.stdout


def test_list_models_and_unknown_model():
    r = run("list-models", "*resnet*")
    assert r.returncode == 0 and "resnet50" in r.stdout and "80.858" in r.stdout
    r = run("fetch-weights", "resnet5")
    assert r.returncode == 2 and "Did you mean" in r.stderr and "resnet50" in r.stderr
    r = run("fetch-weights", "resnet50", COURSE_OFFLINE="1", TORCH_HOME=str(PROJECT_ROOT / "build" / "no-torch-home"))
    assert r.returncode == 2 and "download.pytorch.org" in r.stderr


# --------------------------------------------------------------------------- run-notebooks, wired without running a lab
def _fake_runs(monkeypatch, fail: str = ""):
    """Replace papermill: each "lab" records one claim in its ledger, as a real lab does; returns the calls."""
    from pathlib import Path

    from course_lib import claims, notebooks

    calls = []

    def fake_run(nb, output_dir, profile="fast", **parameters):
        nb = Path(nb)
        results = Path(output_dir) / f"{nb.stem}.json"
        calls.append((nb.name, profile))
        if nb.stem.startswith("02"):
            results.parent.mkdir(parents=True, exist_ok=True)
            claims.record(claims.ledger_path(results), "pretrained_beats_scratch", a=[0.9, 0.92, 0.91],
                          b=[0.55, 0.6, 0.5], profile=profile, design="seeds", n_eval=150)
        status = "failed: RuntimeError: boom" if nb.stem.startswith(fail or "none") else "ok"
        return {"notebook": nb.name, "status": status, "seconds": 1.0, "results": str(results), "executed": ""}

    monkeypatch.setattr(notebooks, "run_notebook", fake_run)
    return calls


def test_run_notebooks_full_runs_every_lab_then_writes_the_claims_report(tmp_path, monkeypatch, capsys):
    from course_lib import cli, notebooks

    calls = _fake_runs(monkeypatch)
    report = tmp_path / "claims" / "REPORT.md"
    code = cli.main(["run-notebooks", "--profile", "full", "--output-dir", str(tmp_path / "executed"),
                     "--claims-out", str(report)])
    assert code == 0
    assert calls == [(nb.name, "full") for nb in notebooks.list_notebooks()] and len(calls) >= 6
    text = report.read_text()
    assert "pretrained_beats_scratch" in text and "| full |" in text
    assert "profile full" in capsys.readouterr().out


def test_run_notebooks_auto_follows_the_hardware_and_a_failure_still_writes_the_report(tmp_path, monkeypatch):
    import torch

    from course_lib import cli

    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    args = ["run-notebooks", "--profile", "auto", "--output-dir", str(tmp_path / "x"), "--claims-out",
            str(tmp_path / "R.md")]
    calls = _fake_runs(monkeypatch)
    assert cli.main(args) == 0 and {p for _, p in calls} == {"fast"}  # this machine has no GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(cli, "_device_line", lambda profile, asked: f"profile {profile} (asked: {asked})")
    calls = _fake_runs(monkeypatch, fail="03")
    assert cli.main(args) == 1 and {p for _, p in calls} == {"full"}
    assert (tmp_path / "R.md").is_file()
