"""Instructor decks from the labs: one reveal.js deck per lab, built from its own text and saved figures, offline.

``python -m course_lib.slides`` (or ``make slides``) writes ``build/slides/<lab>.html`` for every lab, with
reveal.js and MathJax copied beside the decks from ``slides/vendor/`` (nothing is loaded from the web).

How a lab becomes a deck:

- If any cell carries Jupyter's slide metadata (``metadata.slideshow.slide_type``: ``slide``, ``subslide``,
  ``fragment``, ``-``, ``skip``, ``notes``), that is followed, as in JupyterLab's "Slide Type" menu.
- Otherwise every ``#`` or ``##`` heading in a markdown cell starts a slide showing the heading and the paragraph
  after it; the rest of the cell, and markdown cells without a heading, become the slide's speaker notes (press S).
- Cell tags refine either mode: ``notes`` (speaker notes), ``slide`` (a new slide showing the whole cell),
  ``show`` (the whole cell on the current slide), ``no-slide`` (left out).
- Code cells are hidden unless tagged ``slide``/``show`` or given slide metadata.
- Each figure the lab saved as ``build/figures/<NN>_*.png`` gets its own slide, placed after the slide whose code
  saves it (by file name), or at the end.

``python -m course_lib.slides --check`` then opens every deck in headless Chromium from a local server and reports
whether reveal.js started, the math rendered and every file loaded. Used in: slides/, tests/test_slides.py.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Sequence

from . import env
from .errors import CourseLibError

SLIDES_DIR = env.PROJECT_ROOT / "slides"
TEMPLATE_DIR = SLIDES_DIR / "templates"
VENDOR_DIR = SLIDES_DIR / "vendor"
FIGURES_DIR = env.output_dir() / "figures"    # where notebooks.figure_path saves them
OUT_DIR = env.output_dir() / "slides"

# The browser-side libraries, as published on npm (fetched with `npm pack`, never from a CDN at run time).
# Only these files are kept; each package's license travels with it. `python -m course_lib.slides --vendor update`
# re-creates slides/vendor/ from these lines and records every file's sha256 in slides/vendor/MANIFEST.json.
VENDOR_PACKAGES = {
    "reveal.js": ("5.2.1", "MIT", ["LICENSE", "dist/reveal.js", "dist/reveal.css", "plugin/notes/notes.js"]),
    "mathjax": ("3.2.2", "Apache-2.0", ["LICENSE", "es5/tex-svg-full.js"]),
}
REVEAL_JS = "vendor/reveal.js/dist/reveal.js"
REVEAL_CSS = "vendor/reveal.js/dist/reveal.css"
REVEAL_NOTES = "vendor/reveal.js/plugin/notes/notes.js"
MATHJAX_JS = "vendor/mathjax/es5/tex-svg-full.js"

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
TAG_NOTES, TAG_SLIDE, TAG_SHOW, TAG_SKIP = "notes", "slide", "show", "no-slide"

_HEADING = re.compile(r"^(#{1,2})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MATH = re.compile(r"(?<!\\)\$\$.+?(?<!\\)\$\$|(?<![\\$])\$[^$\n]+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\]|\\begin\{", re.S)
# An "Open in Colab" badge (see course_lib.colab) is for the notebook, not the slides.
_BADGE_LINE = re.compile(r"^\s*\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$", re.I)


class SlidesError(CourseLibError):
    """A deck that cannot be built or checked as asked; the message says what to do."""


# --------------------------------------------------------------------------- the deck, as data
@dataclass
class Slide:
    """One reveal.js ``<section>``: visible markdown/HTML parts, speaker notes, and what it is (for tests/checks)."""

    kind: str                      # "title", "text", "figure", "code"
    title: str = ""
    parts: list[str] = field(default_factory=list)      # markdown (or ready HTML for figures), in order
    fragments: list[bool] = field(default_factory=list)  # per part: revealed step by step
    notes: list[str] = field(default_factory=list)      # markdown
    figure: str | None = None      # file name of the figure shown, if any
    html_parts: list[bool] = field(default_factory=list)  # per part: already HTML (figures, code)

    def add(self, text: str, fragment: bool = False, is_html: bool = False) -> None:
        if text.strip():
            self.parts.append(text)
            self.fragments.append(fragment)
            self.html_parts.append(is_html)

    @property
    def has_math(self) -> bool:
        return any(_MATH.search(t) for t, h in zip(self.parts, self.html_parts) if not h) \
            or any(_MATH.search(n) for n in self.notes)


@dataclass
class Deck:
    """A lab's slides as stacks: each stack is a horizontal slide and its vertical sub-slides (``#/h/v``)."""

    stem: str
    title: str
    stacks: list[list[Slide]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)          # figure files shown, in order
    missing_figures: list[str] = field(default_factory=list)  # referenced by the lab, not (yet) saved
    figure_files: dict[str, Path] = field(default_factory=dict)  # name -> the saved file

    @property
    def slides(self) -> list[Slide]:
        return [s for stack in self.stacks for s in stack]

    @property
    def has_math(self) -> bool:
        return any(s.has_math for s in self.slides)

    def fragment(self, slide: Slide) -> str:
        """The URL fragment that opens `slide` (reveal.js ``hash: true``): ``#/h`` or ``#/h/v``."""
        for h, stack in enumerate(self.stacks):
            for v, s in enumerate(stack):
                if s is slide:
                    return f"#/{h}" if v == 0 else f"#/{h}/{v}"
        raise SlidesError("that slide is not in this deck.")

    def first(self, kind: str | None = None, math: bool | None = None) -> Slide:
        """The first slide of `kind` (and with math, if asked)."""
        for s in self.slides:
            if (kind is None or s.kind == kind) and (math is None or s.has_math == math):
                return s
        raise SlidesError(f"deck {self.stem!r} has no slide of kind {kind!r}" + (" with math." if math else "."))


@dataclass
class BuiltDeck:
    deck: Deck
    path: Path


# --------------------------------------------------------------------------- markdown helpers
def _split_fenced(lines: Sequence[str]) -> list[tuple[str, bool]]:
    """Each line with whether it lies inside a fenced code block (where '#' is a comment, not a heading)."""
    out, fence = [], None
    for line in lines:
        m = _FENCE.match(line)
        if fence:
            out.append((line, True))
            if m and m.group(1) == fence:
                fence = None
        elif m:
            fence = m.group(1)
            out.append((line, True))
        else:
            out.append((line, False))
    return out


def _blocks(text: str) -> list[str]:
    """Split markdown into blocks at blank lines, keeping fenced code and ``$$`` display math whole."""
    blocks, cur, in_math = [], [], False
    for line, fenced in _split_fenced(text.splitlines()):
        if not fenced and line.count("$$") % 2 == 1:
            in_math = not in_math
        if not line.strip() and not fenced and not in_math:
            if cur:
                blocks.append("\n".join(cur))
                cur = []
        else:
            cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def _sections(text: str) -> list[tuple[str | None, str]]:
    """Cut a markdown cell at its ``#``/``##`` headings: ``[(heading or None, text after it), ...]``."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line, fenced in _split_fenced(text.splitlines()):
        if _BADGE_LINE.match(line):
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            sections.append((m.group(2), []))
        else:
            sections[-1][1].append(line)
    out = [(h, "\n".join(body).strip()) for h, body in sections]
    return [(h, b) for h, b in out if h is not None or b]


def _tags(cell) -> set[str]:
    return {str(t).lower() for t in cell.get("metadata", {}).get("tags", [])}


def _slide_type(cell) -> str | None:
    value = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    return value if value in SLIDE_TYPES else None


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _strip_badges(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not _BADGE_LINE.match(line)).strip()


def _code_markdown(source: str) -> str:
    return f"```python\n{source.rstrip()}\n```"


def _figure_label(name: str) -> str:
    """``00_probe.png`` -> ``probe``: what a figure slide calls its picture."""
    stem = Path(name).stem
    return re.sub(r"^\d+_", "", stem).replace("_", " ")


def lab_figures(stem: str, figures_dir: str | Path = FIGURES_DIR) -> list[Path]:
    """The figures a lab saved: ``<figures_dir>/<NN>_*.png`` where NN is the lab's number (its stem if unnumbered)."""
    prefix = stem.split("_", 1)[0] if re.match(r"^\d+_", stem) else stem
    return sorted(Path(figures_dir).glob(f"{prefix}_*.png"))


def referenced_figures(nb, stem: str) -> list[str]:
    """Figure file names (``<NN>_*.png``) that the lab's code cells mention, in order of first mention."""
    prefix = stem.split("_", 1)[0] if re.match(r"^\d+_", stem) else stem
    pattern = re.compile(rf"\b{re.escape(prefix)}_[\w.-]*?\.png\b")
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for name in pattern.findall(_source(cell)):
                if name not in names:
                    names.append(name)
    return names


# --------------------------------------------------------------------------- notebook -> deck
class _Builder:
    def __init__(self, stem: str, figures: dict[str, Path]):
        self.deck = Deck(stem=stem, title=stem)
        self.figures = figures            # name -> file, not yet placed
        self.pending: list[str] = []      # figures to place after the current slide

    @property
    def current(self) -> Slide:
        if not self.deck.stacks:
            self.new_slide("title", "")
        return self.deck.stacks[-1][-1]

    def new_slide(self, kind: str, title: str, vertical: bool = False) -> Slide:
        self.flush_figures()
        if not self.deck.stacks:
            kind = "title"
        slide = Slide(kind=kind, title=title)
        if vertical and self.deck.stacks:
            self.deck.stacks[-1].append(slide)
        else:
            self.deck.stacks.append([slide])
        return slide

    def note(self, text: str) -> None:
        text = _strip_badges(text)
        if text:
            self.current.notes.append(text)

    def code_mentions(self, source: str) -> None:
        for name in list(self.figures):
            if re.search(rf"\b{re.escape(name)}\b", source):
                self.pending.append(name)

    def flush_figures(self) -> None:
        pending, self.pending = self.pending, []
        for name in pending:
            path = self.figures.pop(name, None)
            if path is None:
                continue
            title = self.deck.stacks[-1][0].title if self.deck.stacks else self.deck.title
            if self.deck.stacks and self.deck.stacks[-1][0].kind == "title":
                title = _figure_label(name).capitalize()
            slide = Slide(kind="figure", title=title, figure=name)
            label = html.escape(_figure_label(name))
            slide.add(f'<h3 class="figure-title">{html.escape(re.sub(r"[*_`]", "", title))}</h3>', is_html=True)
            slide.add(f'<figure><img class="figure" src="figures/{html.escape(name)}" alt="{label}">'
                      f"<figcaption>{html.escape(name)}</figcaption></figure>", is_html=True)
            self.deck.stacks.append([slide])
            self.deck.figures.append(name)
            self.deck.figure_files[name] = path

    def finish(self) -> Deck:
        self.pending.extend(sorted(self.figures))  # figures no code cell names: at the end, by name
        self.flush_figures()
        titles = [s.title for s in self.deck.slides if s.kind == "title" and s.title]
        if titles:
            self.deck.title = titles[0]
        elif self.deck.stacks and not self.deck.stacks[0][0].parts:  # no heading to open with: the lab's name
            self.deck.stacks[0][0].parts.insert(0, f"# {self.deck.stem}")
            self.deck.stacks[0][0].fragments.insert(0, False)
            self.deck.stacks[0][0].html_parts.insert(0, False)
        return self.deck


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _lead(blocks: list[str]) -> int:
    """How many blocks a heading's slide shows: the first paragraph, plus a display formula right after it,
    or the list it introduces when it ends with a colon."""
    if not blocks:
        return 0
    if len(blocks) > 1 and blocks[1].lstrip().startswith(("$$", "\\[", "\\begin")):
        return 2
    if len(blocks) > 1 and blocks[0].rstrip().endswith(":") and _LIST_ITEM.match(blocks[1]):
        return 2
    return 1


def _default_mode(b: _Builder, nb) -> None:
    """Headings start slides (heading + first paragraph shown, the rest in notes); code hidden."""
    for cell in nb.cells:
        tags, text = _tags(cell), _source(cell)
        if TAG_SKIP in tags or not text.strip():
            continue
        if cell.cell_type == "code":
            b.code_mentions(text)
            if TAG_SLIDE in tags:
                b.new_slide("code", b.current.title).add(_code_markdown(text))
            elif TAG_SHOW in tags:
                b.current.add(_code_markdown(text))
            continue
        if cell.cell_type != "markdown":
            continue
        if TAG_NOTES in tags:
            b.note(text)
            continue
        if TAG_SLIDE in tags or TAG_SHOW in tags:
            sections = _sections(text)
            heading = next((h for h, _ in sections if h), "")
            slide = b.new_slide("text", heading) if TAG_SLIDE in tags else b.current
            for h, body in sections:
                slide.add((f"## {h}\n\n" if h else "") + body)
            continue
        for heading, body in _sections(text):
            if heading is None:
                b.note(body)
                continue
            slide = b.new_slide("text", heading)
            blocks = _blocks(body)
            slide.add(f"{'#' if slide.kind == 'title' else '##'} {heading}")
            shown = _lead(blocks)
            for block in blocks[:shown]:
                slide.add(block)
            if blocks[shown:]:
                slide.notes.append("\n\n".join(blocks[shown:]))


def _metadata_mode(b: _Builder, nb) -> None:
    """Jupyter's slide types, as set in JupyterLab's property inspector (cells shown whole)."""
    for cell in nb.cells:
        tags, text, kind = _tags(cell), _source(cell), _slide_type(cell)
        if cell.cell_type == "code":
            b.code_mentions(text)
        if TAG_SKIP in tags or kind == "skip" or not text.strip() or cell.cell_type not in ("markdown", "code"):
            continue
        if TAG_NOTES in tags or kind == "notes":
            b.note(text if cell.cell_type == "markdown" else _code_markdown(text))
            continue
        if cell.cell_type == "code" and kind is None and not tags & {TAG_SLIDE, TAG_SHOW}:
            continue  # code without slide metadata stays hidden
        content = _strip_badges(text) if cell.cell_type == "markdown" else _code_markdown(text)
        if cell.cell_type == "markdown":
            heading = next((h for h, _ in _sections(text) if h), "")
        else:
            heading = b.current.title if b.deck.stacks else ""
        if kind in ("slide", "subslide") or TAG_SLIDE in tags:
            slide = b.new_slide("code" if cell.cell_type == "code" else "text", heading,
                                vertical=kind == "subslide")
            slide.add(content)
        else:
            b.current.add(content, fragment=kind == "fragment")


def notebook_to_deck(notebook: str | Path, figures_dir: str | Path = FIGURES_DIR) -> Deck:
    """Read a lab and lay out its deck (no files written). See the module docstring for the rules."""
    import nbformat

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    stem = notebook.stem
    figures = {p.name: p for p in lab_figures(stem, figures_dir)}
    b = _Builder(stem, figures)
    if any(_slide_type(c) for c in nb.cells):
        _metadata_mode(b, nb)
    else:
        _default_mode(b, nb)
    deck = b.finish()
    deck.missing_figures = [n for n in referenced_figures(nb, stem) if n not in deck.figures]
    return deck


# --------------------------------------------------------------------------- deck -> HTML
@functools.lru_cache(maxsize=1)
def _markdown():
    try:
        from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    except ImportError as e:  # pragma: no cover - nbconvert comes with the lab extra
        raise SlidesError("building slides needs nbconvert: pip install -e '.[lab]' (make env does).") from e

    def render(text: str) -> str:
        return MarkdownWithMath(renderer=IPythonRenderer(escape=False, exclude_anchor_links=True)).render(text)

    return render


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".reveal .highlight")


_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")', re.I)


def _local_images(markup: str, base: Path, out_dir: Path, stem: str, copied: list[str]) -> str:
    """Copy images a lab's markdown points at (relative paths) next to the deck and point there instead."""
    def fix(m: re.Match) -> str:
        src = m.group(2)
        if re.match(r"^([a-z]+:|/|#)", src, re.I):
            return m.group(0)
        path = (base / src).resolve()
        if not path.is_file():
            return m.group(0)
        name = f"{stem}--{path.name}"
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out_dir / "figures" / name)
        copied.append(name)
        return f"{m.group(1)}figures/{html.escape(name)}{m.group(3)}"

    return _IMG_SRC.sub(fix, markup)


def render_deck(deck: Deck, notebook_dir: Path, out_dir: Path) -> str:
    """The deck's HTML page (references ``vendor/``, ``course.css`` and ``figures/`` beside it)."""
    import jinja2

    md = _markdown()
    copied: list[str] = []

    def part_html(slide: Slide) -> list[dict]:
        parts = []
        for text, frag, is_html in zip(slide.parts, slide.fragments, slide.html_parts):
            body = text if is_html else _local_images(md(text), notebook_dir, out_dir, deck.stem, copied)
            parts.append({"html": body, "fragment": frag})
        return parts

    stacks = [[{"kind": s.kind, "title": s.title, "parts": part_html(s),
                "notes": "\n".join(md(n) for n in s.notes), "figure": s.figure} for s in stack]
              for stack in deck.stacks]
    loader = jinja2.FileSystemLoader(str(TEMPLATE_DIR))
    jenv = jinja2.Environment(loader=loader, autoescape=False, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)
    template = jenv.get_template("deck.html.j2")
    return template.render(deck={"title": deck.title, "stem": deck.stem, "has_math": deck.has_math},
                           stacks=stacks, pygments_css=_pygments_css(), reveal_js=REVEAL_JS,
                           reveal_css=REVEAL_CSS, reveal_notes=REVEAL_NOTES, mathjax_js=MATHJAX_JS,
                           html_title=html.escape(re.sub(r"[*_`$]", "", deck.title)))


def install_vendor(out_dir: str | Path, vendor_dir: str | Path = VENDOR_DIR) -> Path:
    """Copy reveal.js and MathJax (with their licenses) and the course theme next to the decks."""
    out_dir = Path(out_dir)
    vendor_dir = Path(vendor_dir)
    problems = verify_vendor(vendor_dir)
    if problems:
        raise SlidesError("slides/vendor is incomplete or modified: " + "; ".join(problems[:5]) +
                          ". Restore it from git, or re-create it: python -m course_lib.slides --vendor update")
    target = out_dir / "vendor"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(vendor_dir, target)
    shutil.copy2(TEMPLATE_DIR / "course.css", out_dir / "course.css")
    return target


def build_deck(notebook: str | Path, out_dir: str | Path = OUT_DIR, figures_dir: str | Path = FIGURES_DIR,
               vendor: bool = True) -> BuiltDeck:
    """Build ``<out_dir>/<lab>.html`` (and its figures, and ``vendor/`` unless `vendor` is False)."""
    notebook, out_dir = Path(notebook), Path(out_dir)
    if not notebook.is_file():
        raise SlidesError(f"no notebook at {notebook}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    deck = notebook_to_deck(notebook, figures_dir)
    if deck.figures:
        (out_dir / "figures").mkdir(exist_ok=True)
        for name in deck.figures:
            shutil.copy2(deck.figure_files[name], out_dir / "figures" / name)
    if vendor:
        install_vendor(out_dir)
    path = out_dir / f"{notebook.stem}.html"
    text = render_deck(deck, notebook.parent, out_dir)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return BuiltDeck(deck=deck, path=path)


def build_all(notebooks: Sequence[str | Path] | None = None, out_dir: str | Path = OUT_DIR,
              figures_dir: str | Path = FIGURES_DIR) -> list[BuiltDeck]:
    """One deck per lab (default: every lab in ``notebooks/``), vendor files copied once."""
    from .notebooks import list_notebooks

    notebooks = list(notebooks) if notebooks else list_notebooks()
    if not notebooks:
        raise SlidesError("no labs found (notebooks/NN_*.ipynb).")
    install_vendor(out_dir)
    return [build_deck(nb, out_dir, figures_dir, vendor=False) for nb in notebooks]


_EXTERNAL = re.compile(
    r"""(?:<script\b[^>]*\bsrc|<link\b[^>]*\bhref|<img\b[^>]*\bsrc|<iframe\b[^>]*\bsrc)\s*=\s*["']\s*"""
    r"""((?:[a-z][a-z0-9+.-]*:)?//[^"']*)"""                       # an element loading from another host
    r"""|(?:url\(\s*["']?|@import\s+["'])((?:[a-z]+:)?//[^"')]+)""",  # CSS loading from another host
    re.I)


def external_resources(markup: str) -> list[str]:
    """Addresses a page or stylesheet would load from another host (scripts, styles, images, fonts, frames)."""
    return [a or b for a, b in _EXTERNAL.findall(markup) if not (a or b).startswith("data:")]


# --------------------------------------------------------------------------- vendor files
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_vendor(vendor_dir: str | Path = VENDOR_DIR) -> list[str]:
    """Problems with slides/vendor (missing files, sha256 not as recorded in MANIFEST.json); empty = all good."""
    vendor_dir = Path(vendor_dir)
    manifest = vendor_dir / "MANIFEST.json"
    if not manifest.is_file():
        return [f"{manifest} is missing"]
    problems = []
    for pkg, info in json.loads(manifest.read_text())["packages"].items():
        for rel, digest in info["files"].items():
            path = vendor_dir / pkg / rel
            if not path.is_file():
                problems.append(f"{pkg}/{rel} is missing")
            elif _sha256(path) != digest:
                problems.append(f"{pkg}/{rel} differs from its recorded sha256")
    return problems


def update_vendor(vendor_dir: str | Path = VENDOR_DIR, npm: str = "npm") -> Path:
    """Re-create slides/vendor from the npm registry (``npm pack`` of the pinned versions): the kept files,
    their licenses and a MANIFEST.json with versions, tarball integrity and each file's sha256. Needs npm."""
    vendor_dir = Path(vendor_dir)
    if shutil.which(npm) is None:
        raise SlidesError("npm is not installed: install Node.js (Debian: apt-get install npm) to update the vendor files.")
    manifest = {"about": "Browser libraries for the slides, from the npm registry via `npm pack`; re-create with "
                         "`python -m course_lib.slides --vendor update`. Files are unmodified.", "packages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for pkg, (version, license_name, files) in VENDOR_PACKAGES.items():
            out = subprocess.run([npm, "pack", f"{pkg}@{version}", "--json"], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout
            info = json.loads(out[out.index("["):])[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tf:
                tf.extractall(Path(tmp) / pkg, filter="data")
            root = Path(tmp) / pkg / "package"
            dest = vendor_dir / pkg
            if dest.exists():
                shutil.rmtree(dest)
            recorded = {}
            for rel in files:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, dest / rel)
                recorded[rel] = _sha256(dest / rel)
            manifest["packages"][pkg] = {"version": version, "license": license_name,
                                         "npm_integrity": info.get("integrity"), "files": recorded}
    (vendor_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return vendor_dir


# --------------------------------------------------------------------------- checking decks in a real browser
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "run .ci/install-browser (Debian: apt-get install chromium) or set COURSE_BROWSER to a Chromium binary"


def find_browser() -> str | None:
    """A headless-capable Chromium: ``$COURSE_BROWSER``, else the first of chromium/chrome on PATH."""
    explicit = os.environ.get("COURSE_BROWSER")
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@dataclass
class Server:
    url: str
    requests: list[tuple[str, int]]   # (path, HTTP status), in order

    def failed(self) -> list[tuple[str, int]]:
        return [(p, c) for p, c in self.requests if c >= 400]


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[Server]:
    """Serve `folder` on 127.0.0.1 (a free port) from a thread; records every request and its status."""
    record: list[tuple[str, int]] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            try:
                record.append((self.path, int(getattr(code, "value", code))))
            except (TypeError, ValueError):
                record.append((self.path, 0))

        def log_message(self, format, *args):  # quiet: the record above is the log
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Server(url=f"http://127.0.0.1:{httpd.server_address[1]}", requests=record)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@dataclass
class BrowserRun:
    returncode: int
    dom: str
    console: list[str]     # the page's console messages (chromium --enable-logging)


def run_browser(url: str, screenshot: str | Path | None = None, size: tuple[int, int] = (1280, 720),
                budget_ms: int = 8000, timeout: float = 90) -> BrowserRun:
    """Open `url` in headless Chromium with a fresh profile and no route to any host but 127.0.0.1; either save a
    screenshot or return the DOM after `budget_ms` of page time. Raises SlidesError if there is no browser."""
    browser = find_browser()
    if browser is None:
        raise SlidesError(f"no Chromium found: {INSTALL_HINT}.")
    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile:
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                "--disable-extensions", "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        try:
            proc = subprocess.run(args + [url], capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SlidesError(f"Chromium did not finish {url} within {timeout:.0f} s.") from e
    console = [m.group(1) for m in re.finditer(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[^\]]*\] (.*)", proc.stderr)]
    return BrowserRun(returncode=proc.returncode, dom="" if screenshot else proc.stdout, console=console)


@dataclass
class DeckCheck:
    deck: str
    ready: bool                  # reveal.js initialised (.reveal.ready)
    math_ok: bool | None         # MathJax SVG present and no error (None: the deck has no math)
    failed_requests: list[tuple[str, int]]
    failed_resources: list[str]  # reported by the page itself (any host, e.g. a CDN)

    @property
    def ok(self) -> bool:
        return self.ready and self.math_ok is not False and not self.failed_requests and not self.failed_resources


def math_rendered(dom: str) -> bool:
    """MathJax produced SVG output and reported no TeX error."""
    return bool(re.search(r'<mjx-container[^>]*jax="SVG"', dom)) and "<svg" in dom \
        and not re.search(r'<g[^>]*data-mml-node="merror"', dom) and "data-mjx-error" not in dom


def reveal_ready(dom: str) -> bool:
    m = re.search(r'<div class="([^"]*\breveal\b[^"]*)"', dom)
    return bool(m and "ready" in m.group(1).split())


def check_deck(path: str | Path, deck: Deck | None = None, budget_ms: int = 8000) -> DeckCheck:
    """Open a built deck from a local server in headless Chromium (its own folder served) and report."""
    path = Path(path)
    with serve(path.parent) as server:
        run = run_browser(f"{server.url}/{path.name}#/0", budget_ms=budget_ms)
        failed = server.failed()
    has_math = deck.has_math if deck is not None else MATHJAX_JS in path.read_text(encoding="utf-8")
    resources = [c for c in run.console if "resource failed" in c]
    return DeckCheck(deck=path.name, ready=reveal_ready(run.dom), math_ok=math_rendered(run.dom) if has_math else None,
                     failed_requests=failed, failed_resources=resources)


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.slides",
        description="Build one offline reveal.js deck per lab into build/slides/ (see slides/README.md).")
    parser.add_argument("notebooks", nargs="*", help="labs to build (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder (default: build/slides)")
    parser.add_argument("--figures", default=str(FIGURES_DIR), help="where the labs saved figures (build/figures)")
    parser.add_argument("--check", action="store_true", help="then open each deck in headless Chromium and report")
    parser.add_argument("--vendor", choices=["check", "update"],
                        help="only verify slides/vendor against MANIFEST.json, or re-create it with npm pack")
    args = parser.parse_args(argv)
    try:
        if args.vendor == "update":
            print(f"slides/vendor re-created in {update_vendor()}")
            return 0
        if args.vendor == "check":
            problems = verify_vendor()
            print("\n".join(problems) or "slides/vendor: every file matches MANIFEST.json")
            return 1 if problems else 0
        built = build_all(args.notebooks or None, args.out, args.figures)
        status = 0
        for b in built:
            d = b.deck
            print(f"{b.path}: {len(d.slides)} slides, {len(d.figures)} figures"
                  + (", math" if d.has_math else ""))
            if d.missing_figures:
                print(f"  not yet saved: {', '.join(d.missing_figures)} (run the lab first: "
                      f"python -m course_lib run-notebooks)")
        if args.check:
            for b in built:
                c = check_deck(b.path, b.deck)
                print(f"{c.deck}: {'ok' if c.ok else 'PROBLEM'} (reveal ready: {c.ready}, math: {c.math_ok}, "
                      f"failed requests: {c.failed_requests or 'none'}, failed resources: "
                      f"{c.failed_resources or 'none'})")
                status |= 0 if c.ok else 1
        return status
    except SlidesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
