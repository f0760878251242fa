"""Slides: each lab becomes an offline reveal.js deck, checked in a real headless Chromium.

Fixture notebooks (with a fake figure and a math cell) are built in tmp_path; the real 00_setup lab is built too.
The browser tests serve the decks from 127.0.0.1 and let Chromium resolve no other host, so a file that would come
from a CDN fails to load and is caught (the page reports failed resources in its console).
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from course_lib.notebooks import NOTEBOOK_DIR
from tools import slides

MATH = r"The cross-entropy $L = -\sum_i y_i \log \hat{y}_i$ is what the probe minimises."
DISPLAY = r"$$\mathrm{acc} = \frac{1}{N}\sum_{n=1}^{N} [\hat{y}_n = y_n]$$"


def _fake_figure(path: Path, seed: int = 0) -> Path:
    """A picture with structure (bars on white), like a saved matplotlib figure."""
    rng = np.random.default_rng(seed)
    img = np.full((300, 480, 3), 255, np.uint8)
    for i, h in enumerate(rng.integers(60, 280, size=6)):
        img[300 - h:, 20 + 75 * i: 80 + 75 * i] = (31 + 30 * i, 95, 168)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def _md(text, **meta):
    return nbformat.v4.new_markdown_cell(text, metadata=meta)


def _code(text, **meta):
    return nbformat.v4.new_code_cell(text, metadata=meta)


def _demo_notebook(folder: Path, stem: str = "98_demo") -> Path:
    """A lab in the default layout: headings, notes, hidden code that saves a figure, and math."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _md("# 98 · Demo lab\n\n"
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/o/r/blob/main/notebooks/98_demo.ipynb)\n\n"
            "**Goals.** See a deck built from a lab.\n\nHow to run: only in the notes."),
        _code("import matplotlib\nSECRET_CODE = 1", tags=["parameters"]),
        _md("## 1. A measured figure\n\nThe bars show accuracy per model.\n\n"
            "Speaker detail after the first paragraph."),
        _code('fig.savefig(notebooks.figure_path("98_bars.png"), dpi=120)'),
        _md("This cell has no heading, so it is a note."),
        _md("Tagged as notes.", tags=["notes"]),
        _md("## 2. The loss\n\n" + MATH + "\n\n" + DISPLAY + "\n\nWhy it matters: notes."),
        _md("Two ways in:\n\n- one\n- two", tags=["slide"]),
        _md("## Left out\n\nnever shown", tags=["no-slide"]),
        _code("print('hidden')"),
        _code("shown_code = 42", tags=["show"]),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides-demo")
    nb = _demo_notebook(folder / "notebooks")
    figures = folder / "figures"
    _fake_figure(figures / "98_bars.png", seed=1)
    _fake_figure(figures / "98_extra.png", seed=2)      # saved, but no code cell names it: goes last
    built = slides.build_deck(nb, folder / "out", figures_dir=figures)
    return built


@pytest.fixture(scope="module")
def setup_deck(tmp_path_factory):
    """The real 00_setup lab, with stand-in pictures for the figures it saves (CI may build slides before labs ran)."""
    nb_path = NOTEBOOK_DIR / "00_setup.ipynb"
    folder = tmp_path_factory.mktemp("slides-00")
    names = slides.referenced_figures(nbformat.read(nb_path, as_version=4), "00_setup")
    assert names, "00_setup saves figures through notebooks.figure_path(...)"
    for i, name in enumerate(names):
        _fake_figure(folder / "figures" / name, seed=10 + i)
    return slides.build_deck(nb_path, folder / "out", figures_dir=folder / "figures")


# --------------------------------------------------------------------------- layout (no browser)
def test_default_layout_headings_notes_and_figures(demo):
    deck = demo.deck
    kinds = [(s.kind, s.title) for s in deck.slides]
    assert kinds[0] == ("title", "98 · Demo lab")
    assert ("text", "1. A measured figure") in kinds and ("text", "2. The loss") in kinds
    # the figure slide follows the slide whose code saves it; an unnamed figure comes last
    i = kinds.index(("text", "1. A measured figure"))
    assert deck.slides[i + 1].kind == "figure" and deck.slides[i + 1].figure == "98_bars.png"
    assert deck.slides[-1].figure == "98_extra.png"
    assert deck.figures == ["98_bars.png", "98_extra.png"] and deck.missing_figures == []
    title = deck.slides[0]
    assert "See a deck built from a lab." in "\n".join(title.parts)
    assert "How to run" in "\n".join(title.notes) and "How to run" not in "\n".join(title.parts)
    fig_slide = deck.slides[i]
    assert "Speaker detail" in "\n".join(fig_slide.notes)
    assert "no heading" in "\n".join(fig_slide.notes) and "Tagged as notes." in "\n".join(fig_slide.notes)
    math_slide = deck.first(math=True)
    assert math_slide.title == "2. The loss" and DISPLAY in math_slide.parts   # a formula after the paragraph shows
    assert "Why it matters" in "\n".join(math_slide.notes)
    assert any("Two ways in" in "\n".join(s.parts) for s in deck.slides)   # tag "slide": whole cell, own slide


def test_deck_html_hides_code_drops_badges_and_loads_nothing_from_the_web(demo):
    page = demo.path.read_text()
    assert "SECRET_CODE" not in page and "print('hidden')" not in page   # code cells hidden...
    assert "shown_code" in page                                           # ...unless tagged "show"
    assert "never shown" not in page and "colab-badge" not in page
    assert '<aside class="notes">' in page
    assert slides.external_resources(page) == []
    assert slides.external_resources((demo.path.parent / "course.css").read_text()) == []
    assert slides.external_resources('<script src="https://cdn.example/x.js"></script>') == ["https://cdn.example/x.js"]
    assert (demo.path.parent / "figures" / "98_bars.png").is_file()
    assert slides.MATHJAX_JS in page          # the deck has math, so MathJax is loaded (from vendor/)


def test_metadata_slide_types_are_followed(tmp_path):
    nb = nbformat.v4.new_notebook()
    st = lambda t: {"slideshow": {"slide_type": t}}  # noqa: E731
    nb.cells = [
        _md("# Deck title", **st("slide")),
        _md("## Part A", **st("slide")),
        _md("step one", **st("fragment")),
        _md("## A, deeper", **st("subslide")),
        _code("visible_code = 1", **st("-")),
        _code("hidden_code = 2"),
        _md("skipped text", **st("skip")),
        _md("a note", **st("notes")),
    ]
    path = tmp_path / "97_meta.ipynb"
    nbformat.write(nb, path)
    deck = slides.notebook_to_deck(path, figures_dir=tmp_path)
    assert [len(s) for s in deck.stacks] == [1, 2]
    sub = deck.stacks[1][1]
    assert deck.fragment(sub) == "#/1/1" and sub.title == "A, deeper"
    assert deck.stacks[1][0].fragments == [False, True]
    assert "visible_code" in "\n".join(sub.parts) and "a note" in sub.notes
    text = json.dumps([s.parts for s in deck.slides])
    assert "hidden_code" not in text and "skipped text" not in text


def test_lead_ins_keep_what_they_introduce_and_operational_sections_stay_off_the_slides(tmp_path):
    """A title cut at "you can" shows its goals; a snippet or table announced by a colon is on the slide; "Save the
    measurements" and "What this lab measured" go to the notes."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _md("# 96 · A lab\n\n**Goals.** By the end of this lab you can\n\n1. load a model;\n2. replace its head."),
        _md("## 1. The recipe\n\nMost tutorials start like this:\n\n```python\nmodel.fc = nn.Linear(512, 2)\n```\n\n"
            "Then more text."),
        _md("## 2. Costs\n\nWhat each strategy costs:\n\n| strategy | seconds |\n|---|---|\n| probe | 1 |"),
        _md("## 7. Save the measurements\n\nThe numbers go to build/results."),
        _md("## 8. What this lab measured\n\nSee the ledger."),
    ]
    path = tmp_path / "96_lead.ipynb"
    nbformat.write(nb, path)
    deck = slides.notebook_to_deck(path, figures_dir=tmp_path)
    shown = {s.title: "\n".join(s.parts) for s in deck.slides}
    assert "2. replace its head." in shown["96 · A lab"]
    assert "model.fc = nn.Linear(512, 2)" in shown["1. The recipe"] and "Then more text." not in shown["1. The recipe"]
    assert "| probe | 1 |" in shown["2. Costs"]
    assert not any("Save the measurements" in t or "What this lab measured" in t for t in shown)
    assert any("build/results" in n for s in deck.slides for n in s.notes)


def test_real_lab_deck_layout(setup_deck):
    deck = setup_deck.deck
    assert deck.slides[0].kind == "title" and deck.title.startswith("00 · Setup")
    names = slides.referenced_figures(nbformat.read(NOTEBOOK_DIR / "00_setup.ipynb", as_version=4), "00_setup")
    assert [s.figure for s in deck.slides if s.kind == "figure"] == names   # each saved figure, in lab order
    assert "00_probe.png" in names
    assert sum(1 for s in deck.slides if s.notes) >= 2
    assert "import course_lib" not in setup_deck.path.read_text()


def test_vendor_files_are_complete_and_licensed():
    assert slides.verify_vendor() == []
    manifest = json.loads((slides.VENDOR_DIR / "MANIFEST.json").read_text())["packages"]
    assert manifest["reveal.js"]["license"] == "MIT" and manifest["mathjax"]["license"] == "Apache-2.0"
    assert "Permission is hereby granted, free of charge" in (slides.VENDOR_DIR / "reveal.js" / "LICENSE").read_text()
    assert "Apache License" in (slides.VENDOR_DIR / "mathjax" / "LICENSE").read_text()


def test_command_builds_every_lab_and_every_lecture(tmp_path, capsys):
    assert slides.main(["--out", str(tmp_path / "decks"), "--figures", str(tmp_path / "nofigs")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "decks" / "00_setup.html").is_file() and (tmp_path / "decks" / "vendor").is_dir()
    assert "not yet saved: 00_datasets.png" in out     # no figures yet: it says which and how to get them
    for lecture in slides.list_lectures():
        page = tmp_path / "decks" / "lectures" / f"{lecture.stem}.html"
        assert page.is_file() and slides.broken_references(page) == []   # a missing figure leaves no broken link
    assert slides.main(["--out", str(tmp_path / "one"), str(slides.list_lectures()[0])]) == 0   # a lecture alone
    assert (tmp_path / "one" / "vendor").is_dir() and not (tmp_path / "one" / "00_setup.html").exists()


# --------------------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser():
    found = slides.find_browser()
    if found is None:
        pytest.fail(f"headless Chromium is needed for the slide tests and was not found: {slides.INSTALL_HINT}.")
    return found


def _pixels(png: Path) -> np.ndarray:
    assert png.is_file() and png.stat().st_size > 0, f"Chromium wrote no screenshot {png}"
    return np.asarray(Image.open(png).convert("L"), dtype=np.float32)


def _assert_not_blank(png: Path, min_ink: float = 0.01) -> None:
    px = _pixels(png)
    ink = float((np.abs(px - np.median(px)) > 40).mean())
    assert px.std() > 5 and ink > min_ink, f"{png.name} looks blank (std {px.std():.1f}, ink {ink:.3%})"


def _open_deck(built, browser, tmp_path, slide_kind: str, **find):
    """Serve the deck's site; screenshot the title slide and the first `slide_kind` slide; dump the DOM there."""
    deck = built.deck
    target = deck.first(slide_kind, **find)
    with slides.serve(slides.site_root(built.path)) as server:
        base = slides.deck_url(server, built.path)
        title = slides.run_browser(base + "#/0", screenshot=tmp_path / "title.png")
        other = slides.run_browser(base + deck.fragment(target), screenshot=tmp_path / f"{slide_kind}.png")
        dom = slides.run_browser(base + deck.fragment(target))
        requests = list(server.requests)
    assert title.returncode == 0 and other.returncode == 0 and dom.returncode == 0
    failed = [r for r in requests if r[1] >= 400]
    assert not failed, f"requests failed: {failed}"
    bad = [c for c in title.console + other.console + dom.console if "resource failed" in c]
    assert not bad, f"the page could not load: {bad}"
    assert slides.reveal_ready(dom.dom), "reveal.js did not initialise (.reveal.ready missing)"
    assert any("speaker notes: on" in c for c in dom.console), dom.console   # the notes plugin (key S) loaded
    return target, requests, dom


def test_demo_deck_renders_offline_with_math(demo, browser, tmp_path):
    target, requests, dom = _open_deck(demo, browser, tmp_path, "text", math=True)
    paths = {p.split("?")[0] for p, _ in requests}
    assert {"/98_demo.html", "/" + slides.REVEAL_JS, "/" + slides.MATHJAX_JS, "/figures/98_bars.png"} <= paths
    assert slides.math_rendered(dom.dom), "MathJax produced no SVG output"
    assert dom.dom.count("<mjx-container") >= 2        # the inline and the display formula
    assert r"\hat{y}_i" not in dom.dom.split("<aside")[0]  # no raw TeX left on the slides
    _assert_not_blank(tmp_path / "title.png")
    _assert_not_blank(tmp_path / "text.png")
    fig_url = demo.deck.fragment(demo.deck.first("figure"))
    with slides.serve(demo.path.parent) as server:
        slides.run_browser(f"{server.url}/{demo.path.name}{fig_url}", screenshot=tmp_path / "fig.png")
        assert not server.failed()
    _assert_not_blank(tmp_path / "fig.png", min_ink=0.05)


def test_real_lab_deck_renders_offline(setup_deck, browser, tmp_path):
    _open_deck(setup_deck, browser, tmp_path, "figure")
    _assert_not_blank(tmp_path / "title.png")
    _assert_not_blank(tmp_path / "figure.png", min_ink=0.05)
    check = slides.check_deck(setup_deck.path, setup_deck.deck)
    assert check.ok, check


def test_a_cdn_reference_is_caught(tmp_path, browser):
    """The guard itself works: a page loading from the web (as plain nbconvert slides do) fails the check."""
    (tmp_path / "bad.html").write_text(
        '<html><head><script>window.addEventListener("error",function(e){var t=e.target;'
        'if(t&&t!==window&&(t.src||t.href)){console.error("resource failed: "+(t.src||t.href));}},true);</script>'
        '<script src="https://cdn.jsdelivr.net/npm/reveal.js/dist/reveal.js"></script></head>'
        '<body><div class="reveal"></div><img src="missing.png"></body></html>')
    check = slides.check_deck(tmp_path / "bad.html")
    assert not check.ok and ("/missing.png", 404) in check.failed_requests
    assert any("cdn.jsdelivr.net" in r for r in check.failed_resources)
