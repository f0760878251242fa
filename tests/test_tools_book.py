"""`make book`: executed labs become static pages with their figures embedded, and an index links them."""
from __future__ import annotations

import base64
import io
import os

import nbformat
import numpy as np
import pytest
from PIL import Image

from tools import book
from tools.slides import external_resources, serve


def _figure_png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _lab(folder, name: str, title: str, with_output: bool):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()")
    if with_output:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _figure_png(), "text/plain": "<Figure>"})]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nText."), cell]
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_book_embeds_every_figure_and_indexes_the_labs(tmp_path, monkeypatch):
    labs, executed, out = tmp_path / "labs", tmp_path / "executed", tmp_path / "book"
    labs.mkdir(), executed.mkdir()
    lab = _lab(labs, "01_demo.ipynb", "01 · A demo lab", with_output=False)
    done = _lab(executed, "01_demo.ipynb", "01 · A demo lab", with_output=True)
    os.utime(done, (lab.stat().st_mtime + 10,) * 2)         # the executed copy is newer: it is used as it is
    monkeypatch.setattr(book, "run_notebook", lambda *a, **k: pytest.fail("a fresh executed copy must be reused"))

    index = book.build([lab], out, executed)

    page = (out / "01_demo.html").read_text()
    assert "data:image/png;base64," in page                  # the figure travels inside the page: offline, copyable
    assert external_resources(page) == []                    # no script, style or image from a CDN
    assert (out / book.MATHJAX_JS).is_file()                 # math is typeset by the vendored MathJax
    text = index.read_text()
    assert 'href="01_demo.html"' in text and "01 · A demo lab" in text


def test_a_lab_changed_after_its_executed_copy_is_run_again(tmp_path, monkeypatch):
    labs, executed = tmp_path / "labs", tmp_path / "executed"
    labs.mkdir(), executed.mkdir()
    stale = _lab(executed, "02_demo.ipynb", "02 · old", with_output=True)
    lab = _lab(labs, "02_demo.ipynb", "02 · new", with_output=False)
    os.utime(lab, (stale.stat().st_mtime + 10,) * 2)
    ran = []

    def fake_run(notebook, output_dir, profile="fast", **params):
        ran.append((notebook, profile))
        _lab(output_dir, notebook.name, "02 · new", with_output=True)
        return {"status": "ok", "executed": str(output_dir / notebook.name)}

    monkeypatch.setattr(book, "run_notebook", fake_run)
    book.build([lab], tmp_path / "book", executed)
    assert ran == [(lab, "fast")]


def test_a_lab_that_fails_stops_the_build_with_its_executed_copy_named(tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    labs.mkdir()
    lab = _lab(labs, "03_demo.ipynb", "03", with_output=False)
    monkeypatch.setattr(book, "run_notebook",
                        lambda nb, out, **k: {"status": "failed: ValueError: x", "executed": str(out / nb.name)})
    with pytest.raises(SystemExit, match="03_demo.ipynb did not run"):
        book.build([lab], tmp_path / "book", tmp_path / "executed")


# --------------------------------------------------------------------------- in a real browser
MATH = r"The loss $L = -\sum_i y_i \log \hat{y}_i$ is what the probe minimises."
WAIT_MS = 60_000     # generous bounds on a busy machine: conditions are waited for, never slept on


def _book_of_two_labs(tmp_path):
    """Two executed demo labs (a figure each; math, and a widget with its text form, in the second) as a book."""
    labs, executed = tmp_path / "labs", tmp_path / "executed"
    labs.mkdir(), executed.mkdir()
    sources = []
    for stem, title in (("01_demo", "01 · A demo lab"), ("02_demo", "02 · Another")):
        sources.append(_lab(labs, f"{stem}.ipynb", title, with_output=False))
        done = _lab(executed, f"{stem}.ipynb", title, with_output=True)
        if stem == "02_demo":
            nb = nbformat.read(done, as_version=4)
            nb.cells.insert(1, nbformat.v4.new_markdown_cell(MATH))
            widget = {"model_id": "m1", "version_major": 2, "version_minor": 0}
            nb.cells[-1].outputs.append(nbformat.v4.new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": widget, "text/plain": "100%|##########| 5/5"}))
            nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
                "version_major": 2, "version_minor": 0, "state": {}}}
            nbformat.write(nb, done)
        os.utime(done, (sources[-1].stat().st_mtime + 10,) * 2)
    return book.build(sources, tmp_path / "book", executed)


def _open(page, url: str) -> tuple[list[tuple[bool, int]], list[tuple[str, object]]]:
    """Open `url`; once every image has finished loading, each one's (complete, naturalWidth) and the requests that
    failed (no answer, e.g. a CDN this machine cannot reach, or an HTTP error)."""
    failed: list[tuple[str, object]] = []
    on_failed = lambda r: failed.append((r.url, r.failure))                          # noqa: E731
    on_response = lambda r: r.status >= 400 and failed.append((r.url, r.status))     # noqa: E731
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    try:
        page.goto(url, wait_until="load", timeout=WAIT_MS)
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=WAIT_MS)
        images = page.evaluate("() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    finally:
        page.remove_listener("requestfailed", on_failed)
        page.remove_listener("response", on_response)
    return [tuple(i) for i in images], failed


def _assert_not_blank(png, min_ink: float = 0.01) -> None:
    px = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    ink = float((np.abs(px - np.median(px)) > 40).mean())
    assert px.std() > 5 and ink > min_ink, f"{png} looks blank (std {px.std():.1f}, ink {ink:.3%})"


def test_the_book_shows_every_figure_in_chromium_and_loads_nothing_from_the_web(tmp_path, chromium):
    index = _book_of_two_labs(tmp_path)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    try:
        with serve(index.parent) as server:
            _, failed = _open(page, f"{server.url}/index.html")
            assert not failed, failed
            links = page.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
            assert links == ["01_demo.html", "02_demo.html"]
            for href in links:
                images, failed = _open(page, f"{server.url}/{href}")
                assert images and all(done and width > 0 for done, width in images), (href, images)
                assert not failed, (href, failed)
            # the last page: math typeset offline, the widget's text shown, the figure painted
            page.wait_for_selector("mjx-container svg", timeout=WAIT_MS)
            text = page.inner_text("body")
            assert "100%|##########| 5/5" in text and "$L" not in text                 # no raw TeX left
            page.locator("img").first.screenshot(path=tmp_path / "figure.png")
            page.locator(".jp-Notebook").screenshot(path=tmp_path / "page.png")     # the page's content
            served = [(p, code) for p, code in server.failed() if p != "/favicon.ico"]   # the browser's own ask
    finally:
        page.close()
    assert not served, served
    _assert_not_blank(tmp_path / "figure.png", min_ink=0.02)
    _assert_not_blank(tmp_path / "page.png")


def test_the_browser_check_catches_a_broken_figure_and_a_cdn_script(tmp_path, chromium):
    """The guard itself works: a figure that does not load and a script from the web are both reported."""
    (tmp_path / "bad.html").write_text('<html><head><script src="https://cdn.jsdelivr.net/npm/x/x.js"></script>'
                                       '</head><body><img src="missing.png"><img src="data:image/png;base64,AAAA">'
                                       '</body></html>')
    page = chromium.new_page()
    try:
        with serve(tmp_path) as server:
            images, failed = _open(page, f"{server.url}/bad.html")
    finally:
        page.close()
    assert images == [(True, 0), (True, 0)]                  # complete, but nothing drawn: both count as broken
    urls = [u for u, _ in failed]
    assert any("cdn.jsdelivr.net" in u for u in urls) and any(u.endswith("/missing.png") for u in urls), failed
