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
