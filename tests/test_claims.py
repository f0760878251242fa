"""The claims ledger: the verdict rule on constructed measurements, the ledger file, the report."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from course_lib import claims
from course_lib.env import PROJECT_ROOT
from course_lib.errors import CourseLibError, UnknownNameError


def test_clear_win_clear_loss_overlap_and_tiny_n():
    assert claims.paired_verdict([0.9, 0.92, 0.91, 0.93], [0.5, 0.55, 0.52, 0.51]).verdict == claims.SUPPORTED
    assert claims.paired_verdict([0.5, 0.55, 0.52, 0.51], [0.9, 0.92, 0.91, 0.93]).verdict == claims.CONTRADICTED
    overlap = claims.paired_verdict([0.80, 0.90, 0.70, 0.85], [0.85, 0.80, 0.78, 0.84])
    assert overlap.verdict == claims.INCONCLUSIVE and overlap.low < 0 < overlap.high
    tiny = claims.paired_verdict([0.9, 0.95], [0.1, 0.2])
    assert tiny.verdict == claims.INCONCLUSIVE and "at least 3" in tiny.why
    assert claims.paired_verdict([], []).verdict == claims.NOT_MEASURED


def test_margin_and_no_gain_direction():
    a, b = [0.80, 0.82, 0.81, 0.80], [0.70, 0.71, 0.70, 0.72]       # A wins by about 0.10
    assert claims.paired_verdict(a, b, margin=0.05).verdict == claims.SUPPORTED
    assert claims.paired_verdict(a, b, margin=0.20).verdict == claims.INCONCLUSIVE
    assert claims.paired_verdict(a, b, margin=0.05, direction="no_gain").verdict == claims.CONTRADICTED
    same = [0.80, 0.81, 0.79, 0.80]
    assert claims.paired_verdict(same, [0.80, 0.80, 0.80, 0.80], margin=0.05, direction="no_gain").verdict == claims.SUPPORTED
    with pytest.raises(CourseLibError):
        claims.paired_verdict([1, 2], [1])
    with pytest.raises(CourseLibError):
        claims.paired_verdict([1], [1], direction="sideways")


def test_designs_need_what_their_width_depends_on():
    a, b = [0.80, 0.82, 0.81], [0.70, 0.71, 0.70]
    with pytest.raises(CourseLibError, match="n_eval"):
        claims.paired_verdict(a, b, design="seeds")
    with pytest.raises(CourseLibError, match="n_train"):
        claims.paired_verdict(a, b, design="splits", n_eval=50)
    with pytest.raises(CourseLibError, match="design"):
        claims.paired_verdict(a, b, design="folds")
    with pytest.raises(CourseLibError, match="accuracies"):
        claims.paired_verdict([12.0, 13.0, 12.5], [30.0, 31.0, 30.5], design="seeds", n_eval=50)
    with pytest.raises(CourseLibError, match="one per-image"):
        claims.paired_verdict(a, b, design="seeds", n_eval=4, correct_a=[[1, 0, 1, 1]] * 3, correct_b=[[1, 0]] * 3)


def test_a_small_validation_set_widens_the_interval():
    """The same seed-to-seed values: on 21 validation images the interval must be much wider than on 1,500, and
    wider than seed noise alone; overlapping splits are wider than independent ones."""
    a, b = [0.62, 0.60, 0.63, 0.61, 0.62], [0.52, 0.53, 0.51, 0.52, 0.53]
    alone = claims.paired_verdict(a, b)
    small = claims.paired_verdict(a, b, design="seeds", n_eval=21)
    large = claims.paired_verdict(a, b, design="seeds", n_eval=1500)
    assert alone.verdict == large.verdict == claims.SUPPORTED and small.verdict == claims.INCONCLUSIVE
    assert (small.high - small.low) > 3 * (alone.high - alone.low) and small.power > large.power > alone.power
    folds = claims.paired_verdict(a, b, design="splits", n_eval=100, n_train=400)
    assert folds.se == pytest.approx(alone.se * np.sqrt(1 + 5 * 100 / 400))


def test_per_image_results_give_the_paired_image_term():
    """With per-image results the image term is the variance over images of the per-image difference (averaged
    over seeds) / n_eval: two models that err on the same images are much surer than the binomial bound."""
    rng = np.random.default_rng(0)
    base = rng.random(200) < 0.8
    ca = [base.astype(int)] * 3
    cb = [np.where(np.arange(200) < 10, 0, base).astype(int)] * 3           # B errs on 10 more images
    a, b = [np.mean(x) for x in ca], [np.mean(x) for x in cb]
    paired = claims.paired_verdict(a, b, design="seeds", n_eval=200, correct_a=ca, correct_b=cb)
    bound = claims.paired_verdict(a, b, design="seeds", n_eval=200)
    z = ca[0] - cb[0]
    assert paired.se == pytest.approx(np.sqrt(np.var(z, ddof=1) / 200))
    assert paired.se < bound.se / 2


def test_power_tells_whether_more_data_would_help():
    v = claims.paired_verdict([0.71, 0.69, 0.72, 0.70, 0.68], [0.70, 0.70, 0.70, 0.70, 0.70], 0.0,
                              design="seeds", n_eval=30)
    assert v.verdict == claims.INCONCLUSIVE and v.power > 0.1 and "detects" in v.why
    more = claims.paired_verdict([0.71, 0.69, 0.72, 0.70, 0.68], [0.70, 0.70, 0.70, 0.70, 0.70], 0.0,
                                 design="seeds", n_eval=3000)
    assert more.power < v.power / 3
    no_gain = claims.paired_verdict([0.80, 0.81, 0.79], [0.80] * 3, 0.05, "no_gain", design="seeds", n_eval=150)
    assert no_gain.power < 0.05


def test_verdict_is_deterministic():
    a, b = [0.8, 0.7, 0.9, 0.75, 0.85], [0.7, 0.72, 0.8, 0.7, 0.8]
    assert claims.paired_verdict(a, b) == claims.paired_verdict(a, b)


def test_quoted_figure_within_tolerance():
    assert claims.figure_verdict(25.6, 25.557, 0.5).verdict == claims.SUPPORTED
    assert claims.figure_verdict(74.9, 80.858, 0.5).verdict == claims.CONTRADICTED


def test_registry_rejects_duplicates_and_suggests():
    with pytest.raises(CourseLibError):
        claims.register_claim(claims.get_claim("hierarchy"))
    with pytest.raises(UnknownNameError, match="pretrained_beats_scratch"):
        claims.get_claim("pretrained_beats_scrach")
    assert len(claims.list_claims()) >= 9


def test_ledger_written_atomically_and_report_keeps_unmeasured(tmp_path):
    ledger = claims.ledger_path(tmp_path / "02_lab.json")
    assert ledger.name == "02_lab.claims.json"
    claims.record(ledger, "pretrained_beats_scratch", a=[0.9, 0.92, 0.91], b=[0.55, 0.6, 0.5], profile="fast",
                  design="seeds", n_eval=150)
    claims.record(ledger, "quoted_figures", quoted=74.9, reference=80.858, tolerance=0.5, unit="% top-1",
                  note="ResNet-50 top-1")
    entries = json.loads(ledger.read_text())
    assert [e["verdict"] for e in entries] == [claims.SUPPORTED, claims.CONTRADICTED]
    assert entries[0]["versions"]["torch"] and not list(tmp_path.glob(".tmp-*"))
    rows = claims.report_rows(claims.collect(tmp_path))
    by_claim = {r["claim"]: r for r in rows}
    assert by_claim["hierarchy"]["verdict"] == claims.NOT_MEASURED
    assert by_claim["pretrained_beats_scratch"]["verdict"] == claims.SUPPORTED
    assert "0.910" in by_claim["pretrained_beats_scratch"]["measured"]
    text = claims.report_markdown(claims.collect(tmp_path))
    assert "not measured" in text and claims.RULE in text


def test_claims_command_builds_the_report(tmp_path):
    claims.record(claims.ledger_path(tmp_path / "00.json"), "pretrained_beats_scratch", a=[0.9] * 3, b=[0.5] * 3,
                  design="seeds", n_eval=150)
    out = tmp_path / "REPORT.md"
    docs = tmp_path / "CLAIMS.md"
    r = subprocess.run([sys.executable, "-m", "course_lib", "claims", "--results", str(tmp_path), "--out", str(out),
                        "--docs", str(docs)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert claims.docs_verdicts(docs.read_text())[("pretrained_beats_scratch", "-")] == claims.SUPPORTED
    assert out.exists() and "**supported**" in out.read_text() and "not measured" in out.read_text()
    assert (tmp_path / "pretrained_beats_scratch.png").stat().st_size > 1000     # a plot per measured claim
    assert "![pretrained_beats_scratch](pretrained_beats_scratch.png)" in out.read_text()
    assert not (tmp_path / "hierarchy.png").exists()                            # not measured: no plot, a line


def test_docs_page_is_generated_and_read_back(tmp_path):
    ledger = claims.ledger_path(tmp_path / "03.json")
    claims.record(ledger, "start_small", a=[0.93, 0.92, 0.94], b=[0.93, 0.93, 0.93], note="hymenoptera | 5 folds",
                  design="splits", n_eval=80, n_train=317)
    claims.record(ledger, "quoted_figures", quoted=74.9, reference=74.9, tolerance=0.05, unit="% top-1",
                  note="ResNet-50 vs Keras")
    page = claims.docs_markdown(claims.collect(tmp_path), stamp="test")
    verdicts = claims.docs_verdicts(page)
    assert verdicts[("start_small", "hymenoptera / 5 folds")] == claims.INCONCLUSIVE
    assert verdicts[("quoted_figures", "ResNet-50 vs Keras")] == claims.SUPPORTED
    assert verdicts[("hierarchy", "-")] == claims.NOT_MEASURED
    assert "do not edit by hand" in page and claims.RULE in page and "would need a true difference" in page


def test_claim_plot_shows_each_measurement(tmp_path):
    ledger = claims.ledger_path(tmp_path / "03.json")
    claims.record(ledger, "start_small", a=[0.93, 0.92, 0.94], b=[0.93, 0.93, 0.93], note="hymenoptera",
                  design="splits", n_eval=80, n_train=317)
    claims.record(ledger, "start_small", a=[0.85, 0.86, 0.84], b=[0.86, 0.85, 0.86], note="eurosat",
                  design="splits", n_eval=100, n_train=400)
    claims.record(ledger, "quoted_figures", quoted=74.9, reference=76.13, tolerance=0.5, unit="% top-1")
    entries = claims.collect(tmp_path)
    fig = claims.plot_claim("start_small", entries)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["hymenoptera [-]", "eurosat [-]"]
    assert claims.plot_claim("quoted_figures", entries).axes[0].get_xlabel().startswith("quoted minus reference")
    with pytest.raises(CourseLibError, match="run its lab"):
        claims.plot_claim("hierarchy", entries)


@pytest.mark.notebooks
def test_every_registered_claim_is_measured_when_the_labs_run(run_lab, tmp_path):
    """Executing the labs' fast profile leaves ledger entries for every registered claim (its lab exists), each
    with a verdict, and the report built from those ledgers lists no claim as "not measured"."""
    from course_lib.notebooks import list_notebooks

    labs = {p.stem for p in list_notebooks()}
    entries, seen = [], set()
    for cid in claims.list_claims():
        lab = claims.get_claim(cid).lab
        assert lab in labs, (cid, lab)
        run = run_lab(lab)
        assert run["status"] == "ok", (lab, run["status"])
        ledger = claims.ledger_path(run["results"])
        if lab not in seen:
            seen.add(lab)
            entries += claims.load_ledger(ledger)
        mine = [e for e in entries if e["claim"] == cid]
        assert mine, f"{lab} recorded nothing for {cid!r} in {ledger}"
        for e in mine:
            assert e["profile"] == "fast" and e["verdict"] in (claims.SUPPORTED, claims.CONTRADICTED,
                                                               claims.INCONCLUSIVE), e
            assert e["quoted"] is not None or (len(e["a"]) == len(e["b"]) == e["n"] >= 1), e
    text = claims.report_markdown(entries)
    assert claims.NOT_MEASURED not in text
    report = claims.write_report(entries, tmp_path / "REPORT.md").read_text()
    for cid in claims.list_claims():
        assert f"| {cid} |" in text and f"![{cid}]({cid}.png)" in report
        assert (tmp_path / f"{cid}.png").stat().st_size > 1000
    # The committed page is generated from these ledgers: verdict by verdict it must say what this run measured
    # (timings excepted: a busy or different machine changes them; they are shown with their spread, not asserted).
    fresh = claims.docs_verdicts(claims.docs_markdown(entries))
    committed = claims.docs_verdicts((PROJECT_ROOT / "docs" / "CLAIMS.md").read_text())
    timing = {e["claim"] for e in entries if e.get("unit") in claims.TIMING_UNITS}   # which model is fastest varies
    fresh = {k: v for k, v in fresh.items() if k[0] not in timing}
    committed = {k: v for k, v in committed.items() if k[0] not in timing}
    assert set(fresh) == set(committed), ("docs/CLAIMS.md lists other measurements than the labs record now: rebuild "
                                          "it with `python -m course_lib claims --docs docs/CLAIMS.md`",
                                          set(fresh) ^ set(committed))
    differ = {k: (committed[k], v) for k, v in fresh.items() if committed[k] != v}
    assert not differ, f"docs/CLAIMS.md states other verdicts than this run measured: {differ}"


@pytest.mark.notebooks
def test_every_lab_kernel_stays_within_the_memory_goal(run_lab):
    """Issue 16's goal: each lab's fast profile fits a laptop or a free Colab runtime, at most 4 GiB resident. Every
    lab kernel is a finished child of this process, so the largest child resident set bounds each one's peak
    (`benchmarks/lab_memory.py` reports them one by one). Memory, unlike time, does not depend on the load."""
    import resource

    from course_lib.notebooks import list_notebooks

    for lab in list_notebooks():
        assert run_lab(lab.stem)["status"] == "ok", lab.stem
    unit = 1024 ** 3 if sys.platform == "darwin" else 1024 ** 2        # ru_maxrss: bytes on macOS, KiB on Linux
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / unit
    assert peak_gib <= 4.0, f"a lab kernel (or another child of the test run) peaked at {peak_gib:.2f} GiB"
