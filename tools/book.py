"""``make book``: the executed labs (fast profile) as a static web site in ``build/book/``, readable offline.

The committed notebooks carry no outputs (they are stripped so diffs stay readable), so a reader on the web would
see no figure. This tool executes each lab with papermill where no executed copy newer than the lab exists
(``make test`` leaves its executed copies in ``build/executed/``), converts every one to HTML with nbconvert
(figures are embedded in the page as data, so the folder can be copied or served anywhere) and writes an index.
The pages load nothing from the web: nbconvert's lab template would fetch require.js, MathJax and the widget
manager from CDNs, so :data:`OFFLINE_TEMPLATE` drops them, shows a widget's text form (say, a progress bar's
last line) and typesets math with the MathJax the slides vendor (copied to ``vendor/`` beside the pages).
"""
from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

from course_lib import env
from course_lib.notebooks import NOTEBOOK_DIR, list_notebooks, run_notebook
from tools.slides import MATHJAX_JS, install_vendor

# nbconvert's lab page, with every script that would come from a CDN replaced or left out.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], processEscapes: true},
  svg: {fontCache: "global"}, options: {enableMenu: false}};</script>
<script src="MATHJAX_JS"></script>
{%- endblock html_head_js_mathjax -%}
{%- block data_widget_view scoped -%}
{%- if "text/plain" in output.data -%}
<div class="jp-RenderedText jp-OutputArea-output {{ extra_class }}" data-mime-type="text/plain">
<pre>{{ output.data["text/plain"] | escape_html }}</pre></div>
{%- endif -%}
{%- endblock data_widget_view -%}
""".replace("MATHJAX_JS", MATHJAX_JS)


def title_of(notebook: Path) -> str:
    """The first markdown heading of a notebook (its file name when it has none)."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def executed_copy(lab: Path, executed: Path, profile: str = "fast") -> Path:
    """An executed copy of `lab` in `executed`: the one there when newer than the lab, else a fresh papermill run."""
    copy = executed / lab.name
    if copy.exists() and copy.stat().st_mtime >= lab.stat().st_mtime:
        return copy
    run = run_notebook(lab, executed, profile=profile, seed=0)
    if run["status"] != "ok":
        raise SystemExit(f"{lab.name} did not run ({run['status']}); the executed copy is {run['executed']}.")
    return copy


def to_html(notebook: Path, out: Path) -> Path:
    """One page per lab, with the code, the text and every output (figures embedded as base64 data)."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file="book.html.j2",
                            extra_loaders=[DictLoader({"book.html.j2": OFFLINE_TEMPLATE})])
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    page = out / f"{notebook.stem}.html"
    page.write_text(body, encoding="utf-8")
    return page


def index_html(pages: list[tuple[str, Path]]) -> str:
    items = "\n".join(f'<li><a href="{html.escape(p.name)}">{html.escape(t)}</a></li>' for t, p in pages)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Choosing pre-trained models: the labs</title>"
            "<style>body{font-family:sans-serif;max-width:46em;margin:3em auto;line-height:1.5}</style></head><body>"
            "<h1>Choosing and adapting pre-trained models</h1>"
            "<p>Every lab as executed with the fast CPU profile: the numbers and figures are what that run measured."
            "</p>\n<ol>\n" + items + "\n</ol></body></html>\n")


def build(labs: list[Path], out: Path, executed: Path, profile: str = "fast") -> Path:
    """Execute (when needed) and convert `labs`, then write ``index.html``; returns the index's path."""
    out.mkdir(parents=True, exist_ok=True)
    install_vendor(out)                       # MathJax (and the slides' other vendored files) beside the pages
    pages = [(title_of(lab), to_html(executed_copy(lab, executed, profile), out)) for lab in labs]
    index = out / "index.html"
    index.write_text(index_html(pages), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.book", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="site folder (default: build/book)")
    parser.add_argument("--executed", type=Path, default=None, help="executed copies (default: build/executed)")
    parser.add_argument("--profile", default="fast")
    parser.add_argument("labs", nargs="*", help="lab file names (default: every lab)")
    args = parser.parse_args(argv)
    labs = [NOTEBOOK_DIR / name for name in args.labs] or list_notebooks()
    index = build(labs, args.out or env.output_dir() / "book", args.executed or env.output_dir() / "executed",
                  args.profile)
    print(f"wrote {index} ({len(labs)} labs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
