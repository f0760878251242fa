"""What a lecture's ``:::`` lines become: HTML built from the kit's own stored, sourced data, never typed numbers.

- ``::: zoo NAME ...``: the model table (top-1, parameters, file size, multiply-adds, input size) read from
  ``course_lib.models`` (torchvision's weights metadata; the EfficientNet-Lite release notes), with each row's source.
- ``::: quotes``: the figures the course texts print (``course_lib.recommend.TEXT_QUOTES``), as printed, with where;
  tracing them is lab 03's exercise, so the slide asks and does not answer.
- ``::: claim ID [WORDS]``: a claim from the ledger (``course_lib.claims``) and each recorded measurement with its
  verdict (rows whose measurement mentions WORDS): from this checkout's last lab run (``build/results/*.claims.json``)
  when it recorded the claim, else from ``docs/CLAIMS.md``, the page generated from the labs' ledgers.
- ``::: diagram KIND``: a concept diagram of ``course_lib.diagrams`` (``backbone``, ``strategies``, ``decision``),
  drawn at build time and embedded as an SVG data URI (no file, no request).
- ``::: figure NN_name.png``: a figure a lab saved under ``build/figures/`` (copied beside the deck), or, before the
  lab has run, a note saying which lab saves it.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from .config import CLAIMS_DOC, RESULTS_DIR, SlidesError

DIRECTIVES = ("zoo", "quotes", "claim", "diagram", "figure")


def _table(head: list[str], rows: list[list[str]], caption: str, css: str) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="source">{caption}</p>')


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


# --------------------------------------------------------------------------- the model list
def zoo_table(names: list[str]) -> str:
    """The zoo's published facts for `names` (default: the whole zoo), one row each, with each row's source."""
    from course_lib import models

    names = names or models.list_models()
    rows, sources = [], {}
    for name in names:
        e = models.get_entry(name)
        short = "torchvision meta" if e.library == "torchvision" else "TF Lite README"
        sources.setdefault(short, html.escape(e.source.split(" (")[0]) if e.library != "torchvision"
                           else "<code>torchvision &lt;Model&gt;_Weights.DEFAULT.meta</code>, read at build time")
        rows.append([f"<code>{html.escape(name)}</code>", html.escape(e.weights.split(" (")[0]),
                     _num(e.top1, ".1f"), _num(e.params_m, ".1f"), _num(e.file_mb, ".0f"), _num(e.gflops, ".2f"),
                     str(e.input_size), html.escape(short)])
    caption = "ImageNet-1k top-1 as published for those weights; GMACs = multiply-adds at the input size. " + \
        "; ".join(f"{html.escape(k)}: {v}" for k, v in sources.items()) + \
        ". Table built by <code>course_lib.models</code>, not typed."
    return _table(["model", "weights", "top-1 %", "params M", "file MB", "GMACs", "px", "source"], rows, caption,
                  "zoo-table")


def quotes_table() -> str:
    """The figures course texts print, as printed, and where; which weights each belongs to is left as the question."""
    from course_lib import recommend

    rows = [[html.escape(q.label), html.escape(q.text), "?"] for q in recommend.TEXT_QUOTES]
    return _table(["as printed", "where", "which weights?"], rows,
                  "From <code>course_lib.recommend.TEXT_QUOTES</code>; lab 03 traces each one.", "quotes-table")


# --------------------------------------------------------------------------- measured claims
def docs_claim_rows(claim_id: str, doc: str | Path = CLAIMS_DOC) -> list[dict]:
    """The rows of ``docs/CLAIMS.md`` for one claim: measurement, measured, verdict."""
    doc = Path(doc)
    if not doc.is_file():
        return []
    rows = []
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] == claim_id:
            rows.append({"measurement": cells[1], "measured": cells[3], "verdict": cells[6].strip("*")})
    return rows


def ledger_claim_rows(claim_id: str, results_dir: str | Path = RESULTS_DIR) -> tuple[list[dict], str]:
    """The same rows from the labs' ledgers of the last run in this checkout, and which profile recorded them."""
    from course_lib import claims

    folder = Path(results_dir)
    entries = [e for e in claims.collect(folder) if e["claim"] == claim_id] if folder.is_dir() else []
    rows = [r for r in claims.report_rows(entries) if r["verdict"] != claims.NOT_MEASURED]
    out = [{"measurement": e.get("note") or "-", "measured": r["measured"], "verdict": r["verdict"]}
           for r, e in zip(rows, entries)]
    profiles = sorted({e.get("profile") or "?" for e in entries})
    return out, ", ".join(profiles)


def claim_table(claim_id: str, words: str = "", results_dir: str | Path = RESULTS_DIR,
                doc: str | Path = CLAIMS_DOC) -> str:
    """The claim as quoted, and its recorded measurements (those whose measurement mentions `words`)."""
    from course_lib import claims

    claim = claims.get_claim(claim_id)
    rows, profile = ledger_claim_rows(claim_id, results_dir)
    where = f"this checkout's last run, <code>build/results/{html.escape(claim.lab)}.claims.json</code> " \
            f"(profile {html.escape(profile)})"
    if not rows:
        rows, where = docs_claim_rows(claim_id, doc), "<code>docs/CLAIMS.md</code> (generated from the labs' ledgers)"
    rows = [r for r in rows if words.lower() in r["measurement"].lower()]
    if not rows:
        raise SlidesError(f"no recorded measurement of claim {claim_id!r}" + (f" mentioning {words!r}" if words else "")
                          + f": run {claim.lab} (python -m course_lib run-notebooks) or check docs/CLAIMS.md.")
    body = [[html.escape(r["measurement"]), html.escape(r["measured"]),
             f'<span class="verdict {html.escape(r["verdict"])}">{html.escape(r["verdict"])}</span>'] for r in rows]
    head = f'<p class="claim-statement">&ldquo;{html.escape(claim.statement)}&rdquo; <code>{claim_id}</code></p>'
    return head + _table(["measurement", "measured (A vs B, 90% interval of A − B)", "verdict"], body,
                         f"Measured by {html.escape(claim.lab)}; from {where}.", "claim-table")


# --------------------------------------------------------------------------- pictures
def diagram_html(kind: str) -> str:
    """A ``course_lib.diagrams`` concept diagram as an inline SVG image (its text drawn as paths: no font loaded)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from course_lib import diagrams

    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": kind}):
        ax = diagrams.concept_diagram(kind)
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(ax.figure)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img class="figure diagram" src="data:image/svg+xml;base64,{data}" alt="{html.escape(kind)} '
            f'diagram"><figcaption>course_lib.diagrams.concept_diagram("{html.escape(kind)}")</figcaption></figure>')


def figure_html(name: str, present: bool) -> str:
    """A lab's saved figure (copied to ``figures/`` beside the deck), or what to run to get it."""
    if present:
        return (f'<figure><img class="figure" src="figures/{html.escape(name)}" alt="{html.escape(name)}">'
                f"<figcaption>{html.escape(name)}, saved by the lab</figcaption></figure>")
    lab = name.split("_", 1)[0]
    return (f'<p class="figure-missing">Figure <code>{html.escape(name)}</code> is saved by lab {html.escape(lab)}: '
            f"run the labs (<code>python -m course_lib run-notebooks</code>), then rebuild the slides.</p>")
