"""Colab in one click: "Open in Colab" badges built from one setting, and ``colab_setup()`` for a lab's first cell.

The repository's address on GitHub is set once, here (``COURSE_REPO``). A fork runs
``python -m course_lib.colab badges --repo you/fork``: it rewrites that line, the badge in the README and in each
lab's first markdown cell, and the ``git+https://github.com/...`` address in the labs' install lines. Running it
again changes nothing.

On Colab, a lab's first code cell (``python -m course_lib.colab setup-cell`` prints it) installs the kit from the
repository and calls :func:`colab_setup`, which turns on Colab's widget manager, fetches the data sets the lab needs,
and picks the GPU. Anywhere else that cell does nothing. Used in: every lab's first code cell.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import env
from .errors import CourseLibError

# The one setting: this repository on GitHub ("owner/name") and the branch the badges open.
COURSE_REPO = "OWNER/NAME"
COURSE_REF = "main"

COLAB_DATA_DIR = "/content/course-data"   # where colab_setup() puts data sets when COURSE_DATA_DIR is unset
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)\s]*\)\]\(https://colab\.research\.google\.com/github/[^)\s]*\)", re.I)
_INSTALL_URL = re.compile(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(?:\.git)?(?:@[\w./-]+)?(?=[\s\"')\]]|$)")
_SETTING = re.compile(r'^(COURSE_REPO|COURSE_REF) = "[^"]*"', re.M)
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class ColabError(CourseLibError):
    """A repository address or Colab step that cannot work as given; the message says what to do."""


def _check_repo(repo: str) -> str:
    if not _REPO.match(repo or ""):
        raise ColabError(f"repository {repo!r} is not of the form 'owner/name' (as in github.com/owner/name).")
    if repo == "OWNER/NAME":
        raise ColabError("COURSE_REPO is still the placeholder 'OWNER/NAME': run "
                         "`python -m course_lib.colab badges --repo <owner>/<name>` once for your copy of the kit.")
    return repo


# --------------------------------------------------------------------------- badges
def badge_url(notebook: str | Path, repo: str | None = None, ref: str | None = None) -> str:
    """The Colab address that opens `notebook` (a path inside the repository) from GitHub."""
    repo = _check_repo(repo or COURSE_REPO)
    path = Path(notebook).as_posix().lstrip("./")
    return f"https://colab.research.google.com/github/{repo}/blob/{ref or COURSE_REF}/{path}"


def badge_markdown(notebook: str | Path, repo: str | None = None, ref: str | None = None) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({badge_url(notebook, repo, ref)})"


def install_spec(repo: str | None = None, ref: str | None = None) -> str:
    """What pip installs the kit from: ``git+https://github.com/<repo>@<ref>``; a local folder (or ``file://``
    address) of a checkout is used as it is (a mirror, for classrooms and tests)."""
    repo = repo or COURSE_REPO
    ref = ref or COURSE_REF
    if repo.startswith("file://"):
        return f"git+{repo}@{ref}"
    if os.path.isabs(repo) or repo.startswith((".", "~")) or os.path.isdir(repo):
        path = Path(repo).expanduser().resolve()
        if not path.is_dir():
            raise ColabError(f"no folder {path} to install the kit from.")
        return str(path)
    return f"git+https://github.com/{_check_repo(repo)}@{ref}"


def _with_badge(markdown: str, badge: str) -> str:
    """`markdown` with exactly one Colab badge: the existing one replaced, else one added after the first heading."""
    if _BADGE.search(markdown):
        text = _BADGE.sub(lambda m: badge, markdown, count=1)
        first = _BADGE.search(text).end()
        return text[:first] + _BADGE.sub("", text[first:])
    lines = markdown.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("#")), 0)
    rest = lines[at:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    return "\n".join(lines[:at] + ([""] if at else []) + [badge] + ([""] + rest if rest else []))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def rewrite_badges(root: str | Path = env.PROJECT_ROOT, repo: str | None = None, ref: str | None = None) -> list[Path]:
    """Point every badge and install line of the kit at `repo` (and `ref`); returns the files it changed.

    Rewrites ``course_lib/colab.py``'s ``COURSE_REPO``/``COURSE_REF``, the README's badge (opening the first lab),
    each lab's badge (first markdown cell) and ``git+https://github.com/...`` addresses in the labs' code cells.
    Idempotent: a second run changes nothing.
    """
    import nbformat

    root = Path(root)
    repo = _check_repo(repo or COURSE_REPO)
    ref = ref or COURSE_REF
    labs = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    changed: list[Path] = []

    def write_text(path: Path, old: str, new: str) -> None:
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)

    setting = root / "course_lib" / "colab.py"
    if setting.is_file():
        old = setting.read_text(encoding="utf-8")
        values = {"COURSE_REPO": repo, "COURSE_REF": ref}
        write_text(setting, old, _SETTING.sub(lambda m: f'{m.group(1)} = "{values[m.group(1)]}"', old))
    readme = root / "README.md"
    if readme.is_file() and labs:
        old = readme.read_text(encoding="utf-8")
        write_text(readme, old, _with_badge(old, badge_markdown(labs[0].relative_to(root), repo, ref)))
    install = f"git+https://github.com/{repo}@{ref}"
    for lab in labs:
        nb = nbformat.read(lab, as_version=4)
        before = json.dumps([_source(c) for c in nb.cells])
        first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first_md is not None:
            first_md.source = _with_badge(_source(first_md), badge_markdown(lab.relative_to(root), repo, ref))
        for cell in nb.cells:
            if cell.cell_type == "code" and "git+https://github.com/" in _source(cell):
                cell.source = _INSTALL_URL.sub(install, _source(cell))
        if json.dumps([_source(c) for c in nb.cells]) != before:
            nbformat.write(nb, lab)
            changed.append(lab)
    return changed


def setup_cell(datasets: Sequence[str] = ("hymenoptera",), repo: str | None = None, ref: str | None = None) -> str:
    """The source of a lab's first code cell: on Colab install the kit, then :func:`colab_setup`; elsewhere nothing.

    While the address is still the placeholder, the cell stops on Colab with the one command that fixes it, instead
    of a raw pip error (``badges --repo`` rewrites the address in every lab)."""
    spec = f"git+https://github.com/{repo or COURSE_REPO}@{ref or COURSE_REF}"
    return ("# Colab: install the kit from its repository, turn on widgets, fetch the data, pick the GPU.\n"
            "# Anywhere else this cell does nothing.\n"
            "import importlib.util, subprocess, sys\n"
            f"KIT = \"{spec}\"   # set by: python -m course_lib.colab badges --repo <owner>/<name>\n"
            "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"course_lib\") is None:\n"
            "    if \"/OWNER/NAME@\" in KIT:\n"
            "        raise SystemExit(\"This copy of the course does not name its GitHub repository yet. Whoever \"\n"
            "                         \"published it runs once: python -m course_lib.colab badges --repo <owner>/<name>\")\n"
            "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", KIT], check=True)\n"
            "from course_lib.colab import colab_setup\n"
            f"colab_setup(datasets={list(datasets)!r})")


# --------------------------------------------------------------------------- on Colab
@dataclass
class ColabSetup:
    """What :func:`colab_setup` did: nothing off Colab (``on_colab`` False)."""

    on_colab: bool
    installed: str | None = None             # the pip spec installed, if an install ran
    widgets: bool = False                    # Colab's custom widget manager enabled
    datasets: dict = field(default_factory=dict)   # name -> "present" | "fetched" | what to do
    device: str | None = None
    messages: list[str] = field(default_factory=list)


def _installed_url() -> str | None:
    """Where the installed course-lib came from (pip's direct_url.json), or None if it is not pip-installed."""
    try:
        dist = importlib.metadata.distribution("course-lib")
    except importlib.metadata.PackageNotFoundError:
        return None
    raw = dist.read_text("direct_url.json")
    if not raw:
        return "index"
    info = json.loads(raw)
    ref = info.get("vcs_info", {}).get("requested_revision")
    return info.get("url", "") + (f"@{ref}" if ref else "")


def _needs_install(spec: str) -> bool:
    url = _installed_url()
    if url is None:
        return True
    wanted = spec.removeprefix("git+")
    return not (url == wanted or url.split("@")[0] == wanted.split("@")[0]
                or url.removeprefix("file://") == wanted)


def _install(spec: str, result: ColabSetup) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise ColabError(f"installing the kit failed ({' '.join(cmd)}): {' | '.join(tail)}. Check the repository "
                         "address (COURSE_REPO) and that the runtime is online.")
    importlib.invalidate_caches()
    result.installed = spec
    result.messages.append(f"installed the kit and its dependencies from {spec}")


def _enable_widgets(result: ColabSetup) -> None:
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
        result.widgets = True
        result.messages.append("widgets: Colab's custom widget manager is on (sliders and dropdowns work)")
    except (ImportError, AttributeError) as e:
        result.messages.append(f"widgets: could not enable Colab's widget manager ({e}); figures still draw")


def _fetch(name: str, result: ColabSetup, repo: str | None = None) -> None:
    from . import data, datapacks
    from .errors import DataError

    spec = data.get_dataset_spec(name)
    target = env.data_dir() / spec.folder
    if target.is_dir() and any(target.iterdir()):
        result.datasets[name] = "present"
        return
    repo = repo or COURSE_REPO
    if name in datapacks.PACKS and repo != "OWNER/NAME":   # the course's own subset, sha256-checked
        try:
            datapacks.fetch(name, repo)
        except DataError as e:
            result.datasets[name] = f"download failed: {e}"
        else:
            result.datasets[name] = "fetched"
        result.messages.append(f"{name}: {result.datasets[name]} ({target})")
        return
    if not spec.url:
        result.datasets[name] = (f"no single download: get it from {spec.homepage}, put the folder {spec.folder}/ "
                                 f"on your Drive, mount it (from google.colab import drive; drive.mount('/content/"
                                 f"drive')) and set os.environ['COURSE_DATA_DIR'] to the folder that holds it")
        result.messages.append(f"{name}: {result.datasets[name]}")
        return
    try:
        data.fetch_dataset(name, trust_unverified=spec.checksum is None)
    except DataError as e:
        result.datasets[name] = f"download failed: {e}"
    else:
        result.datasets[name] = "fetched"
        if spec.checksum is None:
            result.messages.append(f"{name}: downloaded from {spec.url} (no published checksum to verify against)")
    result.messages.append(f"{name}: {result.datasets[name]} ({target})")


def colab_setup(datasets: Sequence[str] = ("hymenoptera",), repo: str | None = None, ref: str | None = None,
                install: bool = True, quiet: bool = False) -> ColabSetup:
    """On Colab: install the kit from the repository (unless pip already has it from there), enable the custom
    widget manager, fetch `datasets` into ``$COURSE_DATA_DIR`` (default /content/course-data), pick the GPU.
    Elsewhere: nothing, so a lab's first cell runs the same locally, in CI and on Colab."""
    if not env.in_colab():
        return ColabSetup(on_colab=False)
    result = ColabSetup(on_colab=True)
    os.environ.setdefault("COURSE_DATA_DIR", COLAB_DATA_DIR)
    if install:
        spec = install_spec(repo, ref)
        if _needs_install(spec):
            _install(spec, result)
    _enable_widgets(result)
    for name in datasets:
        _fetch(name, result, repo)
    device = env.pick_device()
    result.device = str(device)
    if device.type == "cuda":
        import torch

        result.messages.append(f"device: {torch.cuda.get_device_name(0)} (use profile = \"full\")")
    else:
        result.messages.append("device: CPU only. For the full profile pick Runtime > Change runtime type > GPU, "
                               "then run this cell again; the fast profile runs on the CPU.")
    if not quiet:
        print("\n".join(result.messages))
    return result


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.colab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("badges", help="point COURSE_REPO, the README's and labs' badges and install lines at a repo")
    p.add_argument("--repo", help=f"owner/name on GitHub (default: COURSE_REPO = {COURSE_REPO!r})")
    p.add_argument("--ref", help=f"branch the badges open (default: {COURSE_REF!r})")
    p.add_argument("--root", default=str(env.PROJECT_ROOT), help="the kit's folder (default: this checkout)")
    p = sub.add_parser("url", help="print the Colab address of a notebook")
    p.add_argument("notebook", help="path inside the repository, e.g. notebooks/00_setup.ipynb")
    p = sub.add_parser("setup-cell", help="print the first code cell for a lab")
    p.add_argument("datasets", nargs="*", default=["hymenoptera"])
    args = parser.parse_args(argv)
    try:
        if args.command == "badges":
            changed = rewrite_badges(args.root, args.repo, args.ref)
            for path in changed:
                print(f"updated {path}")
            print(f"{len(changed)} file(s) changed" + ("" if changed else ": already pointing there"))
        elif args.command == "url":
            print(badge_url(args.notebook))
        else:
            print(setup_cell(args.datasets))
    except CourseLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
