"""Publishing the kit (tools.publish): Colab badges from one setting, rewritten for a fork idempotently; a lab's first
cell; the course data archives for a release, as recorded in course_lib.datapacks."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import colab, datapacks, env
from course_lib.notebooks import NOTEBOOK_DIR
from tools import publish

ROOT = env.PROJECT_ROOT


# --------------------------------------------------------------------------- badges
def test_badge_url():
    assert publish.badge_url("notebooks/00_setup.ipynb", repo="you/fork") == \
        "https://colab.research.google.com/github/you/fork/blob/main/notebooks/00_setup.ipynb"
    assert publish.badge_markdown("notebooks/01_x.ipynb", "a/b", "dev").startswith("[![Open In Colab](https://colab")
    with pytest.raises(colab.ColabError, match="owner/name"):
        publish.badge_url("x.ipynb", repo="not a repo")
    with pytest.raises(colab.ColabError, match="placeholder"):
        publish.badge_url("x.ipynb", repo="OWNER/NAME")


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
    nb.cells.insert(1, nbformat.v4.new_code_cell(publish.setup_cell(repo="orig/kit")))
    nbformat.write(nb, root / "notebooks" / "00_setup.ipynb")
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_badges_rewritten_for_a_fork_idempotently(kit_copy):
    changed = publish.rewrite_badges(kit_copy, repo="you/fork")
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
    assert publish.rewrite_badges(kit_copy, repo="you/fork") == []        # idempotent
    assert _snapshot(kit_copy) == before

    publish.rewrite_badges(kit_copy, repo="other/fork", ref="dev")        # a second fork replaces, never adds
    readme = (kit_copy / "README.md").read_text()
    assert readme.count("Open In Colab") == 1 and "other/fork/blob/dev" in readme and "you/fork" not in readme
    text = (kit_copy / "notebooks" / "00_setup.ipynb").read_text()
    assert text.count("Open In Colab") == 1 and "git+https://github.com/other/fork@dev" in text


def test_badges_command(kit_copy, capsys):
    assert publish.main(["badges", "--repo", "you/fork", "--root", str(kit_copy)]) == 0
    assert publish.main(["badges", "--repo", "you/fork", "--root", str(kit_copy)]) == 0
    assert "already pointing there" in capsys.readouterr().out
    assert publish.main(["badges", "--repo", "bad repo", "--root", str(kit_copy)]) == 2


def test_setup_cell_runs_off_colab(monkeypatch):
    """The generated first cell is plain Python and does nothing here."""
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no install off Colab"))
    exec(compile(publish.setup_cell(repo="you/fork"), "<first cell>", "exec"), {})


def test_setup_cell_with_the_placeholder_stops_on_colab_with_the_command_that_fixes_it(monkeypatch):
    import importlib.util

    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)          # the kit is not installed yet
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no pip run with the placeholder"))
    with pytest.raises(SystemExit, match=r"python -m tools.publish badges --repo <owner>/<name>"):
        exec(compile(publish.setup_cell(repo="OWNER/NAME"), "<first cell>", "exec"), {})
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: ran.append(cmd))
    exec(compile(publish.setup_cell(repo="you/fork").split("from course_lib.colab")[0], "<first cell>", "exec"), {})
    assert ran and ran[0][-1] == "git+https://github.com/you/fork@main"


def test_pack_data_command_reports_the_recorded_archives(tmp_path, capsys, shared_datasets, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_datasets))
    assert publish.main(["pack-data", "chest_xray", "camera_traps", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert said.count("(as recorded)") == 2 and datapacks.RELEASE_TAG in said
    assert (tmp_path / "chest_xray.tar").is_file() and (tmp_path / "camera_traps.tar").is_file()


def test_every_lab_s_first_code_cell_is_the_generated_setup_cell():
    """Each lab opens with exactly the cell ``setup_cell`` writes for its data sets: the placeholder guard and the
    command that exists (tools.publish) in every lab, none hand-edited or left behind at an older version."""
    import ast
    import json

    labs = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert len(labs) >= 6
    for lab in labs:
        first = next(c for c in json.loads(lab.read_text())["cells"] if c["cell_type"] == "code")
        source = "".join(first["source"])
        datasets = ast.literal_eval(source.rsplit("colab_setup(datasets=", 1)[1].rstrip().rstrip(")"))
        assert source == publish.setup_cell(datasets=datasets).rstrip("\n"), lab.name


def test_the_command_runs_from_a_checkout():
    r = subprocess.run([sys.executable, "-m", "tools.publish", "url", "notebooks/00_setup.ipynb"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "tools.publish badges --repo" in r.stderr     # unpublished here: says what to run
