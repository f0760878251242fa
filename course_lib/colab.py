"""Colab in one click, on the learner's side: ``colab_setup()``, called by every lab's first code cell.

On Colab, a lab's first code cell installs the kit from the repository named here (``COURSE_REPO``, ``COURSE_REF``:
the one setting) and calls :func:`colab_setup`, which turns on Colab's widget manager, fetches the data sets the lab
needs, and picks the GPU. Anywhere else that cell does nothing. Used in: every lab's first code cell, and
``course_lib.datapacks`` (the release the course data is downloaded from).

Whoever publishes the kit (a fork, a classroom mirror) points that setting, the badges and the labs' install lines at
their repository from a checkout with ``python -m tools.publish badges --repo <owner>/<name>``; the same tool prints
a lab's first cell (``python -m tools.publish setup-cell``). Those build tools are not installed with the kit.
"""
from __future__ import annotations

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
# `python -m tools.publish badges --repo <owner>/<name>` (from a checkout) rewrites these two lines.
COURSE_REPO = "OWNER/NAME"
COURSE_REF = "main"

COLAB_DATA_DIR = "/content/course-data"   # where colab_setup() puts data sets when COURSE_DATA_DIR is unset
PUBLISH_COMMAND = "python -m tools.publish badges --repo <owner>/<name>"   # run from a checkout of the kit
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class ColabError(CourseLibError):
    """A repository address or Colab step that cannot work as given; the message says what to do."""


def check_repo(repo: str) -> str:
    """`repo` if it is a GitHub ``owner/name`` other than the placeholder; else a :class:`ColabError` saying why."""
    if not _REPO.match(repo or ""):
        raise ColabError(f"repository {repo!r} is not of the form 'owner/name' (as in github.com/owner/name).")
    if repo == "OWNER/NAME":
        raise ColabError("COURSE_REPO is still the placeholder 'OWNER/NAME': run "
                         f"`{PUBLISH_COMMAND}` once, from a checkout of your copy of the kit.")
    return repo


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
    return f"git+https://github.com/{check_repo(repo)}@{ref}"


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
    # the course's own subset, sha256-checked: from the repository's release, or from a mirror ($COURSE_DATA_URL)
    if name in datapacks.PACKS and (repo != "OWNER/NAME" or datapacks.mirror_url()):
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
