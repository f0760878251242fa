"""Instructor decks from the labs: one reveal.js deck per lab, built from its own text and saved figures, offline.

``python -m tools.slides`` (or ``make slides``) writes ``build/slides/<lab>.html`` for every lab, with
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

Hand-written lecture decks, one per week (``slides/lectures/NN_<lab>.md``: Markdown, ``---`` between slides,
``Note:`` for speaker notes, ``. . .`` for a pause, ``::: zoo|quotes|claim|diagram|figure`` for blocks built from the
kit's stored data), are built by the same command into ``build/slides/lectures/`` (module ``lecture``).

``python -m tools.slides --check`` then opens every deck in headless Chromium from a local server and reports
whether reveal.js started, the math rendered and every file loaded. Used in: slides/, tests/test_tools_slides.py.

Modules: ``config`` (folders, vendored file paths, :class:`SlidesError`), ``deck`` (a lab laid out as slides, no
files written), ``render`` (the deck as an HTML page, decks written to disk), ``vendor`` (reveal.js and MathJax in
slides/vendor), ``browser`` (a local server and headless Chromium that check a built deck), ``lecture`` (a lecture's
Markdown as a deck), ``blocks`` (its ``:::`` blocks: model table, claims, diagrams, figures), ``cli`` (the command).
"""
from __future__ import annotations

from .blocks import DIRECTIVES, claim_table, docs_claim_rows, quotes_table, zoo_table
from .browser import (BROWSER_NAMES, INSTALL_HINT, BrowserRun, DeckCheck, Server, check_deck, deck_url, find_browser,
                      math_rendered, reveal_ready, run_browser, serve, site_root)
from .cli import main
from .config import (CLAIMS_DOC, FIGURES_DIR, LECTURES_DIR, LECTURES_OUT, MATHJAX_JS, OUT_DIR, RESULTS_DIR, REVEAL_CSS,
                     REVEAL_JS, REVEAL_NOTES, SLIDES_DIR, TEMPLATE_DIR, VENDOR_DIR, SlidesError)
from .deck import Deck, Slide, lab_figures, notebook_to_deck, referenced_figures
from .lecture import build_lecture, build_lectures, lecture_to_deck, list_lectures, typed_numbers
from .render import (BuiltDeck, broken_references, build_all, build_deck, external_resources, install_vendor,
                     render_deck, write_deck)
from .vendor import VENDOR_PACKAGES, update_vendor, verify_vendor

__all__ = [
    "DIRECTIVES", "claim_table", "docs_claim_rows", "quotes_table", "zoo_table",
    "BROWSER_NAMES", "INSTALL_HINT", "BrowserRun", "DeckCheck", "Server", "check_deck", "deck_url", "find_browser",
    "math_rendered", "reveal_ready", "run_browser", "serve", "site_root", "main", "CLAIMS_DOC", "FIGURES_DIR",
    "LECTURES_DIR", "LECTURES_OUT", "RESULTS_DIR", "MATHJAX_JS", "OUT_DIR",
    "REVEAL_CSS", "REVEAL_JS", "REVEAL_NOTES", "SLIDES_DIR", "TEMPLATE_DIR", "VENDOR_DIR", "SlidesError", "Deck",
    "Slide", "lab_figures", "notebook_to_deck", "referenced_figures", "BuiltDeck", "build_all", "build_deck",
    "external_resources", "install_vendor", "render_deck", "VENDOR_PACKAGES", "update_vendor", "verify_vendor",
    "build_lecture", "build_lectures", "lecture_to_deck", "list_lectures", "typed_numbers", "broken_references",
    "write_deck",
]
