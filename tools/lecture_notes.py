"""The "Numbers to quote" blocks of docs/LECTURE_NOTES.md, copied from docs/CLAIMS.md so they never go stale.

A block names the claims it quotes and is rewritten from the Verdicts table of CLAIMS.md (itself generated from the
labs' ledgers)::

    <!-- quote: start_small realtime_latency -->
    (generated table)
    <!-- /quote -->

Run ``python -m tools.lecture_notes`` after ``python -m course_lib claims --docs docs/CLAIMS.md``;
tests/test_tools_lecture_notes.py fails when a block differs from what CLAIMS.md holds.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- quote: ([\w ]+?) -->\n)(.*?)(<!-- /quote -->)", re.S)


def verdict_rows(claims_md: str) -> list[list[str]]:
    """The cells of each row of CLAIMS.md's Verdicts table: claim, measurement, lab, measured, design, power,
    verdict."""
    section = claims_md.split("## Verdicts", 1)[-1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 7 and cells[0] != "claim" and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def quote_table(claim_ids: list[str], rows: list[list[str]]) -> str:
    """A markdown table of the rows of `claim_ids`, in the order given; a claim with no row is an error."""
    lines = ["| claim | measurement | measured | verdict |", "|---|---|---|---|"]
    for cid in claim_ids:
        mine = [r for r in rows if r[0] == cid]
        if not mine:
            raise ValueError(f"docs/CLAIMS.md has no row for claim {cid!r}: check the name in the quote block.")
        lines += [f"| {r[0]} | {r[1]} | {r[3]} | {r[6]} |" for r in mine]
    return "\n".join(lines) + "\n"


def refresh(notes: str, claims_md: str) -> str:
    """`notes` with every quote block rewritten from `claims_md`."""
    rows = verdict_rows(claims_md)
    return BLOCK.sub(lambda m: m.group(1) + quote_table(m.group(2).split(), rows) + m.group(4), notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", default=str(ROOT / "docs" / "LECTURE_NOTES.md"))
    parser.add_argument("--claims", default=str(ROOT / "docs" / "CLAIMS.md"))
    args = parser.parse_args(argv)
    notes = Path(args.notes)
    try:
        new = refresh(notes.read_text(encoding="utf-8"), Path(args.claims).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    notes.write_text(new, encoding="utf-8")
    print(f"{notes.name}: {len(BLOCK.findall(new))} quote blocks refreshed from {Path(args.claims).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
