"""Colab, the learner's side: colab_setup() on a simulated Colab (a fake ``google.colab`` module, pip calls
intercepted, a data set fetched from a local file:// mirror; no network). The badges: tests/test_tools_publish.py."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import colab, data, env

ROOT = env.PROJECT_ROOT


# --------------------------------------------------------------------------- the one setting
def test_install_spec_and_repository_check():
    assert colab.install_spec("you/fork") == "git+https://github.com/you/fork@main"
    assert colab.install_spec("file:///srv/mirror/kit.git", "v1") == "git+file:///srv/mirror/kit.git@v1"
    assert colab.check_repo("you/fork") == "you/fork"
    with pytest.raises(colab.ColabError, match="owner/name"):
        colab.check_repo("not a repo")
    with pytest.raises(colab.ColabError, match="placeholder.*tools.publish badges --repo"):
        colab.install_spec("OWNER/NAME")


# --------------------------------------------------------------------------- colab_setup on a simulated Colab
def test_off_colab_it_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no command may run off Colab"))
    result = colab.colab_setup(datasets=["hymenoptera"], repo="you/fork")
    assert result.on_colab is False and result.installed is None and not result.datasets


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    """A stand-in for Colab's kernel module, recording calls; pip is intercepted; data goes to a fresh folder."""
    calls: dict[str, list] = {"widgets": [], "run": []}
    google = types.ModuleType("google")
    google.__path__ = []
    gcolab = types.ModuleType("google.colab")
    gcolab.__path__ = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls["widgets"].append(True)
    gcolab.output = output
    google.colab = gcolab
    for name, mod in (("google", google), ("google.colab", gcolab), ("google.colab.output", output)):
        monkeypatch.setitem(sys.modules, name, mod)

    def fake_run(cmd, *args, **kwargs):
        calls["run"].append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return calls


def _mirror_dataset(tmp_path: Path, monkeypatch) -> str:
    """A tiny data set served from a local file:// archive, registered like the official ones."""
    src = tmp_path / "mirror" / "tiny"
    for cls in ("ants", "bees"):
        (src / "train" / cls).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 80 if cls == "ants" else 160, np.uint8)).save(src / "train" / cls / "a.png")
    archive = tmp_path / "mirror" / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, p.relative_to(src.parent).as_posix())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = data.DatasetSpec("colab_tiny", "colab_tiny", "test mirror", archive.as_uri(), f"sha256:{digest}", "tiny",
                            "CC0", "none", ("ants_vs_bees",))
    nourl = data.DatasetSpec("colab_nourl", "colab_nourl", "no archive", None, None, None, "CC0", "none",
                             ("t",), homepage="https://example.org/data")
    monkeypatch.setattr(data.registry, "DATASETS", data.registry.DATASETS.copy())  # where register_dataset looks
    data.register_dataset(spec)
    data.register_dataset(nourl)
    return spec.name


def test_on_colab_installs_enables_widgets_fetches_and_picks_device(fake_colab, tmp_path, monkeypatch, capsys):
    assert env.in_colab()
    name = _mirror_dataset(tmp_path, monkeypatch)
    result = colab.colab_setup(datasets=[name, "colab_nourl"], repo="you/fork")
    assert result.on_colab
    assert fake_colab["run"] == [[sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/you/fork@main"]]
    assert result.installed == "git+https://github.com/you/fork@main"
    assert fake_colab["widgets"] == [True] and result.widgets
    assert result.datasets[name] == "fetched"
    assert (tmp_path / "data" / "colab_tiny" / "train" / "bees" / "a.png").is_file()
    advice = result.datasets["colab_nourl"]
    assert "https://example.org/data" in advice and "COURSE_DATA_DIR" in advice
    assert result.device == "cpu" and "Change runtime type" in capsys.readouterr().out

    # second run: data already there, nothing downloaded again; a GPU runtime is picked when present
    monkeypatch.setattr(colab, "_needs_install", lambda spec: False)
    monkeypatch.setattr(env, "pick_device", lambda prefer=None: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla T4")
    again = colab.colab_setup(datasets=[name], repo="you/fork", quiet=True)
    assert again.datasets[name] == "present" and again.installed is None and again.device == "cuda"
    assert len(fake_colab["run"]) == 1 and any("Tesla T4" in m for m in again.messages)


def test_on_colab_from_a_local_mirror_folder(fake_colab, tmp_path):
    mirror = tmp_path / "kit-mirror"
    mirror.mkdir()
    result = colab.colab_setup(datasets=[], repo=str(mirror))
    assert fake_colab["run"] == [[sys.executable, "-m", "pip", "install", "-q", str(mirror.resolve())]]
    assert result.installed == str(mirror.resolve())


def test_on_colab_the_course_data_comes_from_a_mirror_even_before_the_kit_names_its_repository(
        fake_colab, monkeypatch, capsys):
    from course_lib import datapacks

    asked = []
    monkeypatch.setattr(datapacks, "fetch", lambda name, repo: asked.append((name, repo)))
    monkeypatch.setenv("COURSE_OFFLINE", "1")                             # never the official archive here
    result = colab.colab_setup(datasets=["eurosat"], install=False)
    assert result.datasets["eurosat"] != "fetched" and asked == []      # placeholder repository: no address
    monkeypatch.setenv("COURSE_DATA_URL", "http://127.0.0.1:8000/course-data-v1")
    result = colab.colab_setup(datasets=["eurosat"], install=False)
    assert result.datasets["eurosat"] == "fetched" and asked == [("eurosat", "OWNER/NAME")]


def test_failed_install_says_what_to_check(fake_colab, monkeypatch):
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, *a, **k: subprocess.CompletedProcess(cmd, 1, "", "ERROR: repository not found"))
    with pytest.raises(colab.ColabError, match="COURSE_REPO"):
        colab.colab_setup(datasets=[], repo="you/missing")
