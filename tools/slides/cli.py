"""``python -m tools.slides``: build every lab's deck into build/slides/, optionally check them in Chromium."""
from __future__ import annotations

import argparse
import sys

from .browser import check_deck
from .config import FIGURES_DIR, OUT_DIR, SlidesError
from .lecture import build_lectures
from .render import build_all
from .vendor import update_vendor, verify_vendor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.slides",
        description="Build one offline reveal.js deck per lab into build/slides/, and the hand-written lecture "
                    "decks (slides/lectures/NN_*.md) into build/slides/lectures/ (see slides/README.md).")
    parser.add_argument("sources", nargs="*", help="labs (.ipynb) and lectures (.md) to build (default: every "
                        "notebooks/NN_*.ipynb and every slides/lectures/NN_*.md)")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder (default: build/slides)")
    parser.add_argument("--figures", default=str(FIGURES_DIR), help="where the labs saved figures (build/figures)")
    parser.add_argument("--check", action="store_true", help="then open each deck in headless Chromium and report")
    parser.add_argument("--vendor", choices=["check", "update"],
                        help="only verify slides/vendor against MANIFEST.json, or re-create it with npm pack")
    args = parser.parse_args(argv)
    try:
        if args.vendor == "update":
            print(f"slides/vendor re-created in {update_vendor()}")
            return 0
        if args.vendor == "check":
            problems = verify_vendor()
            print("\n".join(problems) or "slides/vendor: every file matches MANIFEST.json")
            return 1 if problems else 0
        built = _build(args.sources, args.out, args.figures)
        status = 0
        if args.check:
            for b in built:
                c = check_deck(b.path, b.deck)
                print(f"{c.deck}: {'ok' if c.ok else 'PROBLEM'} (reveal ready: {c.ready}, math: {c.math_ok}, "
                      f"failed requests: {c.failed_requests or 'none'}, failed resources: "
                      f"{c.failed_resources or 'none'})")
                status |= 0 if c.ok else 1
        return status
    except SlidesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _build(sources: list[str], out: str, figures: str) -> list:
    """Build the labs and lectures named (all of both by default) and say what each deck holds."""
    lectures = [s for s in sources if s.endswith(".md")]
    labs = [s for s in sources if not s.endswith(".md")]
    built = build_all(labs or None, out, figures) if labs or not sources else []
    if lectures or not sources:
        built += build_lectures(lectures or None, out, figures, vendor=not built)
    for b in built:
        d = b.deck
        print(f"{b.path}: {len(d.slides)} slides, {len(d.figures)} figures" + (", math" if d.has_math else ""))
        if d.missing_figures:
            print(f"  not yet saved: {', '.join(d.missing_figures)} (run the lab first: "
                  f"python -m course_lib run-notebooks)")
    return built


if __name__ == "__main__":
    sys.exit(main())
