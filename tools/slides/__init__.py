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

``python -m tools.slides --check`` then opens every deck in headless Chromium from a local server and reports
whether reveal.js started, the math rendered and every file loaded. Used in: slides/, tests/test_tools_slides.py.

Modules: ``config`` (folders, vendored file paths, :class:`SlidesError`), ``deck`` (a lab laid out as slides, no
files written), ``render`` (the deck as an HTML page, decks written to disk), ``vendor`` (reveal.js and MathJax in
slides/vendor), ``browser`` (a local server and headless Chromium that check a built deck), ``cli`` (the command).
"""
from __future__ import annotations

from .browser import (BROWSER_NAMES, INSTALL_HINT, BrowserRun, DeckCheck, Server, check_deck, find_browser,
                      math_rendered, reveal_ready, run_browser, serve)
from .cli import main
from .config import (FIGURES_DIR, MATHJAX_JS, OUT_DIR, REVEAL_CSS, REVEAL_JS, REVEAL_NOTES, SLIDES_DIR, TEMPLATE_DIR,
                     VENDOR_DIR, SlidesError)
from .deck import Deck, Slide, lab_figures, notebook_to_deck, referenced_figures
from .render import BuiltDeck, build_all, build_deck, external_resources, install_vendor, render_deck
from .vendor import VENDOR_PACKAGES, update_vendor, verify_vendor

__all__ = [
    "BROWSER_NAMES", "INSTALL_HINT", "BrowserRun", "DeckCheck", "Server", "check_deck", "find_browser",
    "math_rendered", "reveal_ready", "run_browser", "serve", "main", "FIGURES_DIR", "MATHJAX_JS", "OUT_DIR",
    "REVEAL_CSS", "REVEAL_JS", "REVEAL_NOTES", "SLIDES_DIR", "TEMPLATE_DIR", "VENDOR_DIR", "SlidesError", "Deck",
    "Slide", "lab_figures", "notebook_to_deck", "referenced_figures", "BuiltDeck", "build_all", "build_deck",
    "external_resources", "install_vendor", "render_deck", "VENDOR_PACKAGES", "update_vendor", "verify_vendor",
]
