"""A deck as an offline reveal.js page: markdown rendered with nbconvert's filters, the course template, and the
decks, figures and vendored files written to ``build/slides/``."""
from __future__ import annotations

import functools
import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .config import (FIGURES_DIR, MATHJAX_JS, OUT_DIR, REVEAL_CSS, REVEAL_JS, REVEAL_NOTES, TEMPLATE_DIR, VENDOR_DIR,
                     SlidesError)
from .deck import Deck, Slide, notebook_to_deck
from .vendor import verify_vendor


@dataclass
class BuiltDeck:
    deck: Deck
    path: Path


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


def render_deck(deck: Deck, notebook_dir: Path, out_dir: Path, root: str = "") -> str:
    """The deck's HTML page (references ``vendor/`` and ``course.css`` at `root`, e.g. ``"../"`` for a deck one folder
    below them, and ``figures/`` beside it)."""
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
    return template.render(deck={"title": deck.title, "stem": deck.stem, "has_math": deck.has_math,
                                 "label": deck.label or deck.stem},
                           stacks=stacks, pygments_css=_pygments_css(), reveal_js=root + REVEAL_JS,
                           reveal_css=root + REVEAL_CSS, reveal_notes=root + REVEAL_NOTES,
                           mathjax_js=root + MATHJAX_JS, course_css=root + "course.css",
                           html_title=html.escape(re.sub(r"[*_`$]", "", deck.title)))


def install_vendor(out_dir: str | Path, vendor_dir: str | Path = VENDOR_DIR) -> Path:
    """Copy reveal.js and MathJax (with their licenses) and the course theme next to the decks."""
    out_dir = Path(out_dir)
    vendor_dir = Path(vendor_dir)
    problems = verify_vendor(vendor_dir)
    if problems:
        raise SlidesError("slides/vendor is incomplete or modified: " + "; ".join(problems[:5]) +
                          ". Restore it from git, or re-create it: python -m tools.slides --vendor update")
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
    if vendor:
        install_vendor(out_dir)
    return write_deck(deck, notebook.parent, out_dir)


def write_deck(deck: Deck, source_dir: Path, deck_dir: Path, root: str = "") -> BuiltDeck:
    """Copy the deck's saved figures to ``<deck_dir>/figures/`` and write ``<deck_dir>/<stem>.html`` atomically."""
    if deck.figures:
        (deck_dir / "figures").mkdir(parents=True, exist_ok=True)
        for name in deck.figures:
            shutil.copy2(deck.figure_files[name], deck_dir / "figures" / name)
    path = deck_dir / f"{deck.stem}.html"
    text = render_deck(deck, source_dir, deck_dir, root)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return BuiltDeck(deck=deck, path=path)


def build_all(notebooks: Sequence[str | Path] | None = None, out_dir: str | Path = OUT_DIR,
              figures_dir: str | Path = FIGURES_DIR) -> list[BuiltDeck]:
    """One deck per lab (default: every lab in ``notebooks/``), vendor files copied once."""
    from course_lib.notebooks import list_notebooks

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


_LOCAL = re.compile(r"""<(?:script|img|iframe)\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']"""
                    r"""|<link\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.I)


def broken_references(page: str | Path) -> list[str]:
    """Files a built deck loads (scripts, styles, images) that are not where it points: relative paths resolved
    against the page's folder. Addresses on other hosts are :func:`external_resources`' business."""
    page = Path(page)
    missing = []
    for a, b in _LOCAL.findall(page.read_text(encoding="utf-8")):
        ref = html.unescape(a or b).split("#")[0].split("?")[0]
        if not ref or re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I):
            continue
        if not (page.parent / ref).resolve().is_file():
            missing.append(ref)
    return missing
