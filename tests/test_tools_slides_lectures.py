"""Lecture decks: the hand-written weekly decks in slides/lectures/ build offline through the lab decks' template,
quote measured numbers only from the claims ledger and model figures only from the kit's zoo, and pass the same
headless-Chromium checks as the lab decks (reveal.js ready, math rendered, no failed request, screenshots not blank).
"""
from __future__ import annotations

import html
import re

import pytest
import torch

from course_lib import claims, models
from course_lib.notebooks import list_notebooks
from tools import slides
from tools.slides import blocks

from test_tools_slides import _assert_not_blank, _fake_figure, _open_deck, browser  # noqa: F401  (fixture)

LECTURES = slides.list_lectures()
FIGURE_LINE = re.compile(r"^:::[ \t]*figure[ \t]+(\S+)[ \t]*$", re.M)
CLAIM_LINE = re.compile(r"^:::[ \t]*claim[ \t]+(\w+)[ \t]*([^\n]*?)[ \t]*$", re.M)


def _source(stem: str) -> str:
    return (slides.LECTURES_DIR / f"{stem}.md").read_text()


@pytest.fixture(scope="module")
def lectures(tmp_path_factory):
    """Every lecture built into one site, with stand-ins for the lab figures they show, and an empty results folder
    (so measured numbers come from docs/CLAIMS.md, as on a fresh checkout)."""
    folder = tmp_path_factory.mktemp("lectures")
    names = sorted({n for p in LECTURES for n in FIGURE_LINE.findall(p.read_text())})
    for i, name in enumerate(names):
        _fake_figure(folder / "figures" / name, seed=30 + i)
    (folder / "results").mkdir()
    built = slides.build_lectures(out_dir=folder / "site", figures_dir=folder / "figures",
                                  results_dir=folder / "results")
    return {b.deck.stem: b for b in built}


# --------------------------------------------------------------------------- sources and layout (no browser)
def test_one_lecture_per_week_beside_each_lab():
    assert [p.stem for p in LECTURES] == [p.stem for p in list_notebooks()]


def test_lecture_syntax(tmp_path):
    src = tmp_path / "97_demo.md"
    src.write_text("# Demo lecture\n\nWhy we are here.\n\nNote: say hello\n\n---\n\n## Code\n\n```python\n"
                   "# not a heading\n---\nx = 1\n```\n\n---\n\n## Ask\n\nA question?\n\n. . .\n\n"
                   "$$a = \\frac{1}{n}$$\n\nNote: the answer\n\n--\n\n## Below\n\n::: claim start_small\n")
    deck = slides.lecture_to_deck(src, figures_dir=tmp_path, results_dir=tmp_path / "none")
    assert deck.title == "Demo lecture" and [len(s) for s in deck.stacks] == [1, 1, 2]
    title, code, ask, below = deck.slides
    assert title.kind == "title" and title.notes == ["say hello"] and "say hello" not in "".join(title.parts)
    assert code.kind == "code" and "# not a heading" in code.parts[-1] and "x = 1" in code.parts[-1]  # fences kept
    assert ask.fragments == [False, True] and ask.has_math and ask.notes == ["the answer"]
    assert deck.fragment(below) == "#/2/1" and below.html_parts == [False, True]
    assert "docs/CLAIMS.md" in below.parts[-1] and "start_small" in below.parts[-1]
    src.write_text("# T\n\n::: nonsense here\n")
    with pytest.raises(slides.SlidesError, match="not a block"):
        slides.lecture_to_deck(src)


def test_lectures_type_no_measured_numbers():
    """Measured results come from ``::: claim`` blocks (the ledger) or are asked as questions, never typed."""
    assert slides.typed_numbers("it scored 0.866, i.e. 86.6% in 78 ms; a 12 MB file, 25 M params, +3 points") == \
        ["0.866", "86.6%", "78 ms", "12 MB", "25 M", "+3 points"]
    assert slides.typed_numbers("Week 2, lab 03, 5 per class, $x_{0.5}$, `lr=1e-3`, ResNet-50\n```\n0.1\n```") == []
    for path in LECTURES:
        assert slides.typed_numbers(path.read_text()) == [], path.name


def test_every_claim_a_lecture_quotes_is_in_the_ledger_page():
    quoted = [(cid, words) for p in LECTURES for cid, words in CLAIM_LINE.findall(p.read_text())]
    assert len(quoted) >= 8
    for cid, words in quoted:
        claims.get_claim(cid)
        rows = [r for r in slides.docs_claim_rows(cid) if words.lower() in r["measurement"].lower()]
        assert rows, f"docs/CLAIMS.md has no row for {cid} {words!r}"


def test_claim_block_shows_the_recorded_measurement(lectures, tmp_path):
    page = lectures["01_hierarchical_features"].path.read_text()
    rows = slides.docs_claim_rows("far_domain_poor")
    assert len(rows) == 2
    for row in rows:
        assert html.escape(row["measured"]) in page and html.escape(row["measurement"]) in page
    # a run's own ledger takes precedence over the committed page, and says which profile recorded it
    claims.record(tmp_path / "03_model_comparison.claims.json", "start_small", a=[0.9, 0.91, 0.92, 0.9, 0.93],
                  b=[0.9, 0.9, 0.93, 0.91, 0.92], design="splits", n_eval=40, n_train=160, profile="fast",
                  note="unit-test run")
    markup = slides.claim_table("start_small", results_dir=tmp_path)
    assert "unit-test run" in markup and "last run" in markup and "profile fast" in markup
    with pytest.raises(slides.SlidesError, match="no recorded measurement"):
        slides.claim_table("start_small", "no such words", results_dir=tmp_path / "none")


def test_model_list_comes_from_the_zoo(lectures):
    """The course slide's model list: top-1, parameters and size for each model, read from course_lib.models."""
    src = _source("03_model_comparison")
    names = re.search(r"^:::\s*zoo\s+(.+)$", src, re.M).group(1).split()
    assert {"resnet50", "vgg16", "inception_v3", "mobilenet_v2", "efficientnet_b0", "vit_b_16"} <= set(names)
    page = lectures["03_model_comparison"].path.read_text()
    for name in names:
        e = models.get_entry(name)
        row = re.search(rf"<tr><td><code>{name}</code></td>(.*?)</tr>", page).group(1)
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert cells[1:4] == [f"{e.top1:.1f}", f"{e.params_m:.1f}", f"{e.file_mb:.0f}"], name
    assert "quotes-table" in page and "which weights?" in page   # the printed figures are asked about, not traced


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_four_step_workflow_and_its_snippet_run(monkeypatch):
    """Week 2 shows choose / load weights / replace the head / fine-tune at a lower rate, and the freeze-and-replace
    snippet runs as written (random weights stand in for the download) and does what the slide says."""
    import torchvision.models as tvm

    src = _source("02_feature_extraction_vs_finetuning")
    steps = re.search(r"## The recipe, in four steps\n\n((?:\d\. .*\n)+)", src).group(1)
    assert [re.search(r"\*\*(.+?)\*\*", s).group(1) for s in steps.strip().splitlines()] == \
        ["Choose", "Load its weights", "Replace the head", "Fine-tune"]
    freeze, unfreeze = _code_blocks(src)[:2]
    build = tvm.resnet50
    monkeypatch.setattr(tvm, "resnet50", lambda weights=None, **kw: build(weights=None, **kw))
    ns: dict = {}
    exec(compile(freeze, "week2-freeze", "exec"), ns)
    model = ns["model"]
    assert model.fc.out_features == ns["num_classes"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    trained = {id(p) for g in ns["optimizer"].param_groups for p in g["params"]}
    assert trained == {id(model.fc.weight), id(model.fc.bias)}
    exec(compile(unfreeze, "week2-unfreeze", "exec"), ns)
    backbone, head = ns["optimizer"].param_groups
    assert backbone["lr"] < head["lr"] and len(head["params"]) == 2
    assert len(backbone["params"]) + 2 == len(list(model.parameters()))
    assert torch.is_tensor(model(torch.zeros(1, 3, 64, 64)))
    deck = slides.lecture_to_deck(slides.LECTURES_DIR / "02_feature_extraction_vs_finetuning.md")
    assert any(s.kind == "code" and "model.fc = nn.Linear" in "".join(s.parts) for s in deck.slides)


def test_lecture_decks_build_offline(lectures):
    assert set(lectures) == {p.stem for p in LECTURES}
    site = next(iter(lectures.values())).path.parent.parent
    assert (site / "vendor").is_dir() and (site / "course.css").is_file()
    for stem, built in lectures.items():
        page = built.path.read_text()
        assert built.path.parent.name == slides.LECTURES_OUT
        assert slides.broken_references(built.path) == [], stem
        assert slides.external_resources(page) == [], stem
        assert "../" + slides.REVEAL_JS in page and "../course.css" in page
        assert built.deck.has_math and "../" + slides.MATHJAX_JS in page, stem   # every lecture has math
        assert built.deck.missing_figures == [] and sum(1 for s in built.deck.slides if s.notes) >= 3, stem
        assert len(built.deck.slides) >= 8, stem


def test_a_missing_lab_figure_is_a_note_not_a_broken_link(tmp_path):
    built = slides.build_lecture(slides.LECTURES_DIR / "00_setup.md", tmp_path / "site", figures_dir=tmp_path)
    assert built.deck.missing_figures == ["00_datasets.png", "00_probe.png"]
    assert slides.broken_references(built.path) == [] and "is saved by lab 00" in built.path.read_text()


# --------------------------------------------------------------------------- in a real browser
@pytest.mark.parametrize("stem", [p.stem for p in LECTURES])
def test_lecture_deck_passes_the_browser_checks(lectures, browser, stem):  # noqa: F811
    built = lectures[stem]
    check = slides.check_deck(built.path, built.deck)
    assert check.ok and check.math_ok, check


@pytest.mark.parametrize("stem, kind, find", [
    ("00_setup", "text", {"math": True}),
    ("02_feature_extraction_vs_finetuning", "code", {}),
    ("03_model_comparison", "table", {}),
])
def test_lecture_screenshots_are_not_blank(lectures, browser, tmp_path, stem, kind, find):  # noqa: F811
    """Three lecture decks screenshotted (title slide and one content slide each: math, the code slide, the model
    list), besides the lab decks in test_tools_slides.py."""
    target, requests, dom = _open_deck(lectures[stem], browser, tmp_path, kind, **find)
    assert any(p.startswith("/lectures/") for p, _ in requests) and any(p.startswith("/vendor/") for p, _ in requests)
    _assert_not_blank(tmp_path / "title.png")
    _assert_not_blank(tmp_path / f"{kind}.png")
    if kind == "table":
        assert "zoo-table" in "".join(target.parts)
    if find.get("math"):
        assert slides.math_rendered(dom.dom)
