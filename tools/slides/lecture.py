"""Hand-written lecture decks: ``slides/lectures/NN_<lab>.md``, one per week, rendered through the same offline
template, MathJax and course theme as the lab decks, into ``build/slides/lectures/``.

The slide syntax (Markdown, as the labs write it, plus four markers; the markers are ignored inside fenced code):

- ``---`` alone on a line starts a new slide; ``--`` alone starts a sub-slide below the current one (``#/h/v``).
- The first slide is the title slide; a slide's first ``#``/``##`` heading is its title.
- ``Note:`` at the start of a line: everything after it on that slide is speaker notes (press ``S``).
- ``. . .`` alone on a line: what follows on that slide appears on the next click (a fragment).
- ``::: NAME ARGS`` alone on a line: a block built from the kit's stored data (see :mod:`tools.slides.blocks`):
  ``zoo``, ``quotes``, ``claim``, ``diagram``, ``figure``.
- Math as in the labs (``$...$``, ``$$...$$``), rendered by the vendored MathJax.

A lecture states no measured number itself: numbers come from ``::: claim`` or ``::: zoo`` blocks, or the slide asks
a question. :func:`typed_numbers` finds figures typed into a lecture's prose (tests/test_tools_slides.py uses it).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from . import blocks
from .config import CLAIMS_DOC, FIGURES_DIR, LECTURES_DIR, LECTURES_OUT, OUT_DIR, RESULTS_DIR, SlidesError
from .deck import Deck, Slide, split_fenced
from .render import BuiltDeck, install_vendor, write_deck

SLIDE_BREAK, SUBSLIDE_BREAK, PAUSE, NOTE = "---", "--", ". . .", "Note:"
_DIRECTIVE = re.compile(r"^:::\s*(\w+)\s*(.*?)\s*$")
_HEADING = re.compile(r"^#{1,2}\s+(.+?)\s*#*\s*$")
_FENCE_OPEN = re.compile(r"^\s*(```|~~~)")
# A figure typed into prose: a decimal number, or a number with a unit of accuracy, time, size or count.
_TYPED = re.compile(r"(?<![\w.$\\])[-+−]?\d+(?:\.\d+)?\s?(?:%|ms\b|s\b|MB\b|GB\b|M\b|G\b|GMACs?\b|points?\b)"
                    r"|(?<![\w.$\\])\d+\.\d+(?![\w.])")


def list_lectures(folder: str | Path = LECTURES_DIR) -> list[Path]:
    """The lecture sources, ``NN_*.md``, in week order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.md"))


def _chunks(text: str) -> list[tuple[list[str], bool]]:
    """Cut the source at ``---`` / ``--`` lines outside fenced code: (lines, starts a sub-slide) per slide."""
    chunks: list[tuple[list[str], bool]] = [([], False)]
    for line, fenced in split_fenced(text.splitlines()):
        if not fenced and line.strip() in (SLIDE_BREAK, SUBSLIDE_BREAK):
            chunks.append(([], line.strip() == SUBSLIDE_BREAK))
        else:
            chunks[-1][0].append(line)
    return [(lines, sub) for lines, sub in chunks if any(x.strip() for x in lines)]


def _split_notes(lines: list[str]) -> tuple[list[tuple[str, bool]], str]:
    """The visible lines (with whether each is fenced) and the speaker notes after the first ``Note:`` line."""
    marked = split_fenced(lines)
    for i, (line, fenced) in enumerate(marked):
        if not fenced and line.startswith(NOTE):
            notes = [line[len(NOTE):].strip()] + [x for x, _ in marked[i + 1:]]
            return marked[:i], "\n".join(notes).strip()
    return marked, ""


class _LectureBuilder:
    """Lays out one lecture: markdown parts, ``:::`` blocks rendered to HTML, lab figures to copy."""

    def __init__(self, stem: str, figures_dir: Path, results_dir: Path, claims_doc: Path):
        self.deck = Deck(stem=stem, title=stem, label=f"lecture before lab {stem}")
        self.figures_dir, self.results_dir, self.claims_doc = figures_dir, results_dir, claims_doc

    def directive(self, slide: Slide, name: str, args: str, fragment: bool) -> None:
        words = args.split()
        if name == "zoo":
            markup = blocks.zoo_table(words)
        elif name == "quotes":
            markup = blocks.quotes_table()
        elif name == "claim" and words:
            markup = blocks.claim_table(words[0], " ".join(words[1:]), self.results_dir, self.claims_doc)
        elif name == "diagram" and len(words) == 1:
            markup, slide.kind = blocks.diagram_html(words[0]), "figure"
        elif name == "figure" and len(words) == 1:
            markup = self.figure(slide, words[0])
        else:
            raise SlidesError(f"lecture {self.deck.stem}: '::: {name} {args}' is not a block; use one of "
                              f"{', '.join(blocks.DIRECTIVES)} (see tools/slides/blocks.py).")
        if name in ("zoo", "quotes", "claim") and slide.kind == "text":
            slide.kind = "table"
        slide.add(markup, fragment=fragment, is_html=True)

    def figure(self, slide: Slide, name: str) -> str:
        path = self.figures_dir / name
        slide.kind = "figure"
        if path.is_file():
            slide.figure = slide.figure or name
            if name not in self.deck.figures:
                self.deck.figures.append(name)
                self.deck.figure_files[name] = path
            return blocks.figure_html(name, True)
        if name not in self.deck.missing_figures:
            self.deck.missing_figures.append(name)
        return blocks.figure_html(name, False)

    def slide(self, lines: list[str], sub: bool) -> None:
        visible, notes = _split_notes(lines)
        first = not self.deck.stacks
        slide = Slide(kind="title" if first else "text")
        if notes:
            slide.notes.append(notes)
        fragment, text = False, []

        def flush():
            if "\n".join(text).strip():
                slide.add("\n".join(text).strip(), fragment=fragment)
            text.clear()

        for line, fenced in visible:
            directive = None if fenced else _DIRECTIVE.match(line)
            if not fenced and line.strip() == PAUSE:
                flush()
                fragment = True
            elif directive:
                flush()
                self.directive(slide, directive.group(1), directive.group(2), fragment)
            else:
                heading = None if fenced else _HEADING.match(line)
                if heading and not slide.title:
                    slide.title = heading.group(1)
                if _FENCE_OPEN.match(line) and slide.kind == "text":
                    slide.kind = "code"
                text.append(line)
        flush()
        if first:
            slide.kind = "title"
        if sub and self.deck.stacks:
            self.deck.stacks[-1].append(slide)
        else:
            self.deck.stacks.append([slide])


def lecture_to_deck(path: str | Path, figures_dir: str | Path = FIGURES_DIR, results_dir: str | Path = RESULTS_DIR,
                    claims_doc: str | Path = CLAIMS_DOC) -> Deck:
    """Read a lecture source and lay out its deck (no files written). The syntax is in the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise SlidesError(f"no lecture at {path}.")
    b = _LectureBuilder(path.stem, Path(figures_dir), Path(results_dir), Path(claims_doc))
    for lines, sub in _chunks(path.read_text(encoding="utf-8")):
        b.slide(lines, sub)
    if not b.deck.stacks:
        raise SlidesError(f"lecture {path} is empty.")
    b.deck.title = b.deck.stacks[0][0].title or path.stem
    return b.deck


def build_lecture(path: str | Path, out_dir: str | Path = OUT_DIR, figures_dir: str | Path = FIGURES_DIR,
                  results_dir: str | Path = RESULTS_DIR, claims_doc: str | Path = CLAIMS_DOC,
                  vendor: bool = True) -> BuiltDeck:
    """Build ``<out_dir>/lectures/<stem>.html`` (its figures in ``lectures/figures/``; ``vendor/`` and
    ``course.css`` at `out_dir`, shared with the lab decks, copied there unless `vendor` is False)."""
    path, out_dir = Path(path), Path(out_dir)
    deck = lecture_to_deck(path, figures_dir, results_dir, claims_doc)
    if vendor:
        install_vendor(out_dir)
    deck_dir = out_dir / LECTURES_OUT
    deck_dir.mkdir(parents=True, exist_ok=True)
    return write_deck(deck, path.parent, deck_dir, root="../")


def build_lectures(lectures: Sequence[str | Path] | None = None, out_dir: str | Path = OUT_DIR,
                   figures_dir: str | Path = FIGURES_DIR, results_dir: str | Path = RESULTS_DIR,
                   claims_doc: str | Path = CLAIMS_DOC, vendor: bool = True) -> list[BuiltDeck]:
    """Every lecture (default: ``slides/lectures/NN_*.md``), vendor files copied once."""
    lectures = list(lectures) if lectures else list_lectures()
    if not lectures:
        raise SlidesError(f"no lectures found ({LECTURES_DIR}/NN_*.md).")
    if vendor:
        install_vendor(out_dir)
    return [build_lecture(p, out_dir, figures_dir, results_dir, claims_doc, vendor=False) for p in lectures]


def typed_numbers(text: str) -> list[str]:
    """Figures typed into a lecture's prose or notes (outside fenced code, ``:::`` lines and math): decimals, and
    numbers with a unit (%, ms, MB, M, points). A lecture quotes measurements through ``::: claim`` instead."""
    found = []
    for line, fenced in split_fenced(text.splitlines()):
        if fenced or _DIRECTIVE.match(line):
            continue
        prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", line)
        found += [m.group(0).strip() for m in _TYPED.finditer(prose)]
    return found
