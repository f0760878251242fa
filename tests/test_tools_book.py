"""`make book`: executed labs become static pages with their figures embedded, and an index links them."""
from __future__ import annotations

import base64
import io
import os

import nbformat
import pytest

from tools import book


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
    assert "<img src=\"http" not in page
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
