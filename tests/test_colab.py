"""Colab: badges from one setting, rewritten for a fork idempotently; colab_setup() on a simulated Colab (a fake
``google.colab`` module, pip calls intercepted, a data set fetched from a local file:// mirror; no network)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import colab, data, env
from course_lib.notebooks import NOTEBOOK_DIR

ROOT = env.PROJECT_ROOT


# --------------------------------------------------------------------------- badges
def test_badge_url_and_install_spec():
    assert colab.badge_url("notebooks/00_setup.ipynb", repo="you/fork") == \
        "https://colab.research.google.com/github/you/fork/blob/main/notebooks/00_setup.ipynb"
    assert colab.badge_markdown("notebooks/01_x.ipynb", "a/b", "dev").startswith("[![Open In Colab](https://colab")
    assert colab.install_spec("you/fork") == "git+https://github.com/you/fork@main"
    assert colab.install_spec("file:///srv/mirror/kit.git", "v1") == "git+file:///srv/mirror/kit.git@v1"
    with pytest.raises(colab.ColabError, match="owner/name"):
        colab.badge_url("x.ipynb", repo="not a repo")
    with pytest.raises(colab.ColabError, match="placeholder"):
        colab.install_spec("OWNER/NAME")


@pytest.fixture()
def kit_copy(tmp_path):
    """A copy of the parts of the kit the badge command edits: README, the labs, course_lib/colab.py."""
    root = tmp_path / "kit"
    (root / "notebooks").mkdir(parents=True)
    (root / "course_lib").mkdir()
    shutil.copy2(ROOT / "README.md", root / "README.md")
    shutil.copy2(ROOT / "course_lib" / "colab.py", root / "course_lib" / "colab.py")
    for lab in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(lab, root / "notebooks" / lab.name)
    # a lab whose first code cell installs the kit from the original repository
    nb = nbformat.read(root / "notebooks" / "00_setup.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(colab.setup_cell(repo="orig/kit")))
    nbformat.write(nb, root / "notebooks" / "00_setup.ipynb")
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_badges_rewritten_for_a_fork_idempotently(kit_copy):
    changed = colab.rewrite_badges(kit_copy, repo="you/fork")
    assert kit_copy / "README.md" in changed and kit_copy / "notebooks" / "00_setup.ipynb" in changed
    readme = (kit_copy / "README.md").read_text()
    assert readme.count("Open In Colab") == 1
    assert "colab.research.google.com/github/you/fork/blob/main/notebooks/00_setup.ipynb" in readme
    assert readme.splitlines()[0].startswith("# ")                      # the title stays first
    nb = nbformat.read(kit_copy / "notebooks" / "00_setup.ipynb", as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    assert first_md.source.count("Open In Colab") == 1
    assert "github/you/fork/blob/main/notebooks/00_setup" in first_md.source
    assert "git+https://github.com/you/fork@main" in nb.cells[1].source and "orig/kit" not in nb.cells[1].source
    assert 'COURSE_REPO = "you/fork"' in (kit_copy / "course_lib" / "colab.py").read_text()
    nbformat.validate(nb)

    before = _snapshot(kit_copy)
    assert colab.rewrite_badges(kit_copy, repo="you/fork") == []        # idempotent
    assert _snapshot(kit_copy) == before

    colab.rewrite_badges(kit_copy, repo="other/fork", ref="dev")        # a second fork replaces, never adds
    readme = (kit_copy / "README.md").read_text()
    assert readme.count("Open In Colab") == 1 and "other/fork/blob/dev" in readme and "you/fork" not in readme
    text = (kit_copy / "notebooks" / "00_setup.ipynb").read_text()
    assert text.count("Open In Colab") == 1 and "git+https://github.com/other/fork@dev" in text


def test_badges_command(kit_copy, capsys):
    assert colab.main(["badges", "--repo", "you/fork", "--root", str(kit_copy)]) == 0
    assert colab.main(["badges", "--repo", "you/fork", "--root", str(kit_copy)]) == 0
    assert "already pointing there" in capsys.readouterr().out
    assert colab.main(["badges", "--repo", "bad repo", "--root", str(kit_copy)]) == 2


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


def test_failed_install_says_what_to_check(fake_colab, monkeypatch):
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, *a, **k: subprocess.CompletedProcess(cmd, 1, "", "ERROR: repository not found"))
    with pytest.raises(colab.ColabError, match="COURSE_REPO"):
        colab.colab_setup(datasets=[], repo="you/missing")


def test_setup_cell_runs_off_colab(monkeypatch):
    """The generated first cell is plain Python and does nothing here."""
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no install off Colab"))
    exec(compile(colab.setup_cell(repo="you/fork"), "<first cell>", "exec"), {})


def test_setup_cell_with_the_placeholder_stops_on_colab_with_the_command_that_fixes_it(monkeypatch):
    import importlib.util

    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)          # the kit is not installed yet
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no pip run with the placeholder"))
    with pytest.raises(SystemExit, match=r"colab badges --repo <owner>/<name>"):
        exec(compile(colab.setup_cell(repo="OWNER/NAME"), "<first cell>", "exec"), {})
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: ran.append(cmd))
    exec(compile(colab.setup_cell(repo="you/fork").split("from course_lib.colab")[0], "<first cell>", "exec"), {})
    assert ran and ran[0][-1] == "git+https://github.com/you/fork@main"
