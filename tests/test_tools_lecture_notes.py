"""The lecture notes quote the claims ledger through generated blocks, never typed numbers that go stale."""
from __future__ import annotations

import re

import pytest

from tools import lecture_notes

ROOT = lecture_notes.ROOT
CLAIMS_MD = """# x

## Verdicts

| claim | measurement | lab | measured | design | power | verdict |
|---|---|---|---|---|---|---|
| start_small | hymenoptera, 5-fold | 03_model_comparison | Lite2 0.93 vs Lite0 0.93 | splits | -0.009 | **supported** |
| start_small | eurosat, 5-fold | 03_model_comparison | Lite2 0.85 vs Lite0 0.86 | splits | -0.051 | **inconclusive** |
| hierarchy | eurosat | 01_hierarchical_features | mid 0.89 vs final 0.87 | splits | +0.044 | **inconclusive** |

## Reading it
"""


def test_block_is_rewritten_with_every_row_of_its_claims_in_order():
    notes = "before\n<!-- quote: hierarchy start_small -->\nold 77.8 ms\n<!-- /quote -->\nafter\n"
    out = lecture_notes.refresh(notes, CLAIMS_MD)
    body = out.split("-->\n", 1)[1].split("<!-- /quote -->")[0]
    assert "77.8" not in out and out.startswith("before\n") and out.endswith("after\n")
    assert [line.split(" | ")[1] for line in body.splitlines()[2:]] == ["eurosat", "hymenoptera, 5-fold",
                                                                         "eurosat, 5-fold"]
    assert lecture_notes.refresh(out, CLAIMS_MD) == out   # idempotent


def test_unknown_claim_in_a_block_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="no_such_claim"):
        lecture_notes.refresh("<!-- quote: no_such_claim -->\n<!-- /quote -->\n", CLAIMS_MD)


def test_committed_lecture_notes_match_committed_claims_page():
    notes = (ROOT / "docs" / "LECTURE_NOTES.md").read_text(encoding="utf-8")
    claims_md = (ROOT / "docs" / "CLAIMS.md").read_text(encoding="utf-8")
    assert len(lecture_notes.BLOCK.findall(notes)) >= 5
    assert lecture_notes.refresh(notes, claims_md) == notes, "run: python -m tools.lecture_notes"


def test_numbers_to_quote_sections_hold_no_typed_measurement():
    notes = (ROOT / "docs" / "LECTURE_NOTES.md").read_text(encoding="utf-8")
    for section in re.findall(r"### Numbers to quote.*?(?=\n### )", notes, re.S):
        typed = lecture_notes.BLOCK.sub("", section)
        assert not re.search(r"\d\.\d{2,}|\d+(\.\d+)? ?(ms|%|points)\b", typed), typed
