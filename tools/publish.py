"""Publishing the kit (once, by whoever hosts it; run from a checkout): Colab badges and install lines pointing at
the repository, a lab's first cell, and the course data archives for the repository's release.

``python -m tools.publish badges --repo you/fork`` rewrites the one setting (``COURSE_REPO``/``COURSE_REF`` in
``course_lib/colab.py``), the badge in the README and in each lab's first markdown cell, and the
``git+https://github.com/...`` address in the labs' install lines. Running it again changes nothing.
``setup-cell`` prints a lab's first code cell (it calls ``course_lib.colab.colab_setup`` on Colab);
``pack-data`` writes the deterministic data archives to attach to the release ``course_lib.datapacks.RELEASE_TAG``.
What a learner's runtime needs (``colab_setup``, ``datapacks.fetch``) stays in course_lib.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Sequence

from course_lib import colab, datapacks, env
from course_lib.colab import COURSE_REF, COURSE_REPO, check_repo
from course_lib.errors import CourseLibError

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)\s]*\)\]\(https://colab\.research\.google\.com/github/[^)\s]*\)", re.I)
_INSTALL_URL = re.compile(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(?:\.git)?(?:@[\w./-]+)?(?=[\s\"')\]]|$)")
_SETTING = re.compile(r'^(COURSE_REPO|COURSE_REF) = "[^"]*"', re.M)


# --------------------------------------------------------------------------- badges
def badge_url(notebook: str | Path, repo: str | None = None, ref: str | None = None) -> str:
    """The Colab address that opens `notebook` (a path inside the repository) from GitHub."""
    repo = check_repo(repo or COURSE_REPO)
    path = Path(notebook).as_posix().lstrip("./")
    return f"https://colab.research.google.com/github/{repo}/blob/{ref or COURSE_REF}/{path}"


def badge_markdown(notebook: str | Path, repo: str | None = None, ref: str | None = None) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({badge_url(notebook, repo, ref)})"


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


def _rewrite_text(path: Path, rewrite) -> bool:
    """Apply `rewrite` (str -> str) to a text file; True if that changed it."""
    old = path.read_text(encoding="utf-8")
    new = rewrite(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


def _rewrite_lab(lab: Path, root: Path, repo: str, ref: str) -> bool:
    """Point one lab's badge (first markdown cell) and install lines at `repo`; True if that changed it."""
    import nbformat

    nb = nbformat.read(lab, as_version=4)
    before = json.dumps([_source(c) for c in nb.cells])
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is not None:
        first_md.source = _with_badge(_source(first_md), badge_markdown(lab.relative_to(root), repo, ref))
    install = f"git+https://github.com/{repo}@{ref}"
    for cell in nb.cells:
        if cell.cell_type == "code" and "git+https://github.com/" in _source(cell):
            cell.source = _INSTALL_URL.sub(install, _source(cell))
    if json.dumps([_source(c) for c in nb.cells]) == before:
        return False
    nbformat.write(nb, lab)
    return True


def rewrite_badges(root: str | Path = env.PROJECT_ROOT, repo: str | None = None, ref: str | None = None) -> list[Path]:
    """Point every badge and install line of the kit at `repo` (and `ref`); returns the files it changed.

    Rewrites ``course_lib/colab.py``'s ``COURSE_REPO``/``COURSE_REF``, the README's badge (opening the first lab),
    each lab's badge (first markdown cell) and ``git+https://github.com/...`` addresses in the labs' code cells.
    Idempotent: a second run changes nothing.
    """
    root = Path(root)
    repo = check_repo(repo or COURSE_REPO)
    ref = ref or COURSE_REF
    labs = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    changed: list[Path] = []
    setting = root / "course_lib" / "colab.py"
    values = {"COURSE_REPO": repo, "COURSE_REF": ref}
    if setting.is_file() and _rewrite_text(
            setting, lambda text: _SETTING.sub(lambda m: f'{m.group(1)} = "{values[m.group(1)]}"', text)):
        changed.append(setting)
    readme = root / "README.md"
    if readme.is_file() and labs and _rewrite_text(
            readme, lambda text: _with_badge(text, badge_markdown(labs[0].relative_to(root), repo, ref))):
        changed.append(readme)
    changed += [lab for lab in labs if _rewrite_lab(lab, root, repo, ref)]
    return changed


def setup_cell(datasets: Sequence[str] = ("hymenoptera",), repo: str | None = None, ref: str | None = None) -> str:
    """The source of a lab's first code cell: on Colab install the kit, then ``colab_setup``; elsewhere nothing.

    While the address is still the placeholder, the cell stops on Colab with the one command that fixes it, instead
    of a raw pip error (``badges --repo`` rewrites the address in every lab)."""
    spec = f"git+https://github.com/{repo or COURSE_REPO}@{ref or COURSE_REF}"
    return ("# Colab: install the kit from its repository, turn on widgets, fetch the data, pick the GPU.\n"
            "# Anywhere else this cell does nothing.\n"
            "import importlib.util, subprocess, sys\n"
            f"KIT = \"{spec}\"   # set by: {colab.PUBLISH_COMMAND}\n"
            "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"course_lib\") is None:\n"
            "    if \"/OWNER/NAME@\" in KIT:\n"
            "        raise SystemExit(\"This copy of the course does not name its GitHub repository yet. Whoever \"\n"
            f"                         \"published it runs once, in a checkout: {colab.PUBLISH_COMMAND}\")\n"
            "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", KIT], check=True)\n"
            "from course_lib.colab import colab_setup\n"
            f"colab_setup(datasets={list(datasets)!r})")


# --------------------------------------------------------------------------- course data archives
def pack_data(out: str | Path, names: Sequence[str] | None = None) -> int:
    """Pack the course data folders into ``out``, print each archive's sha256 and the ``PACKS`` lines; 0 if every
    archive is the one ``course_lib.datapacks.PACKS`` records."""
    packs = datapacks.pack_all(out, list(names) if names else None)
    for p in packs:
        recorded = datapacks.PACKS.get(p.name)
        state = "as recorded" if recorded == p else "NEW: not the recorded sha256; paste the line below into PACKS"
        print(f"{out}/{p.file}: {p.bytes / 1e6:.1f} MB, sha256 {p.sha256} ({state})")
    print(f"\nAttach these files to the release {datapacks.RELEASE_TAG!r} of the kit's repository. PACKS lines:")
    print(datapacks.manifest_source(packs))
    return 0 if all(datapacks.PACKS.get(p.name) == p for p in packs) else 1


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.publish", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("badges", help="point COURSE_REPO, the README's and labs' badges and install lines at a repo")
    p.add_argument("--repo", help=f"owner/name on GitHub (default: COURSE_REPO = {COURSE_REPO!r})")
    p.add_argument("--ref", help=f"branch the badges open (default: {COURSE_REF!r})")
    p.add_argument("--root", default=str(env.PROJECT_ROOT), help="the kit's folder (default: this checkout)")
    p = sub.add_parser("url", help="print the Colab address of a notebook")
    p.add_argument("notebook", help="path inside the repository, e.g. notebooks/00_setup.ipynb")
    p = sub.add_parser("setup-cell", help="print the first code cell for a lab")
    p.add_argument("datasets", nargs="*", default=["hymenoptera"])
    p = sub.add_parser("pack-data", help="pack the course data folders into deterministic archives to publish")
    p.add_argument("names", nargs="*", help="data sets (default: every one whose folder is there)")
    p.add_argument("--out", default="build/datapacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "badges":
            changed = rewrite_badges(args.root, args.repo, args.ref)
            for path in changed:
                print(f"updated {path}")
            print(f"{len(changed)} file(s) changed" + ("" if changed else ": already pointing there"))
        elif args.command == "url":
            print(badge_url(args.notebook))
        elif args.command == "setup-cell":
            print(setup_cell(args.datasets))
        else:
            return pack_data(args.out, args.names)
    except CourseLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
