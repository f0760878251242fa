"""A lab laid out as a deck: which cells become slides, speaker notes or nothing, and where each saved figure goes.

Data only (:class:`Deck`, :class:`Slide`); nothing is written here. The rules are in ``tools.slides``' docstring and
slides/README.md.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .config import FIGURES_DIR, SlidesError

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
TAG_NOTES, TAG_SLIDE, TAG_SHOW, TAG_SKIP = "notes", "slide", "show", "no-slide"

_HEADING = re.compile(r"^(#{1,2})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MATH = re.compile(r"(?<!\\)\$\$.+?(?<!\\)\$\$|(?<![\\$])\$[^$\n]+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\]|\\begin\{", re.S)
# An "Open in Colab" badge (see tools.publish) is for the notebook, not the slides.
_BADGE_LINE = re.compile(r"^\s*\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$", re.I)


# --------------------------------------------------------------------------- the deck, as data
@dataclass
class Slide:
    """One reveal.js ``<section>``: visible markdown/HTML parts, speaker notes, and what it is (for tests/checks)."""

    kind: str                      # "title", "text", "figure", "code" (lectures also: "table")
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
    label: str = ""                # shown on the title slide (default: the stem)

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


# --------------------------------------------------------------------------- markdown helpers
def split_fenced(lines: Sequence[str]) -> list[tuple[str, bool]]:
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
    for line, fenced in split_fenced(text.splitlines()):
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
    for line, fenced in split_fenced(text.splitlines()):
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


def _introduces(block: str) -> bool:
    """A paragraph that leads into what follows: it ends with a colon, or stops mid-sentence ("you can")."""
    end = re.sub(r"[*_`]+$", "", block.rstrip())
    return end.endswith(":") or not end.endswith((".", "!", "?", ")", "$"))


def _lead(blocks: list[str]) -> int:
    """How many blocks a heading's slide shows: the first paragraph, plus a display formula right after it, or the
    list, code block or table it introduces (a paragraph ending in a colon or mid-sentence, e.g. "you can")."""
    if not blocks:
        return 0
    if len(blocks) > 1 and blocks[1].lstrip().startswith(("$$", "\\[", "\\begin")):
        return 2
    follows = blocks[1].lstrip() if len(blocks) > 1 else ""
    if follows and _introduces(blocks[0]) and (_LIST_ITEM.match(follows) or follows.startswith(("```", "|"))):
        return 2
    return 1


# Sections that run the lab rather than teach it: their text goes to the speaker notes, never onto a slide.
OPERATIONAL = re.compile(r"^(?:\d+[a-z]?\.\s*)?(?:save the measurements|what this lab measured|setup\b)", re.I)


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
            if heading is None or OPERATIONAL.match(heading):
                b.note(body if heading is None else f"{heading}: {body}")
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

