"""``python -m tools.slides``: build every lab's deck into build/slides/, optionally check them in Chromium."""
from __future__ import annotations

import argparse
import sys

from .browser import check_deck
from .config import FIGURES_DIR, OUT_DIR, SlidesError
from .render import build_all
from .vendor import update_vendor, verify_vendor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.slides",
        description="Build one offline reveal.js deck per lab into build/slides/ (see slides/README.md).")
    parser.add_argument("notebooks", nargs="*", help="labs to build (default: every notebooks/NN_*.ipynb)")
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
        built = build_all(args.notebooks or None, args.out, args.figures)
        status = 0
        for b in built:
            d = b.deck
            print(f"{b.path}: {len(d.slides)} slides, {len(d.figures)} figures"
                  + (", math" if d.has_math else ""))
            if d.missing_figures:
                print(f"  not yet saved: {', '.join(d.missing_figures)} (run the lab first: "
                      f"python -m course_lib run-notebooks)")
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


if __name__ == "__main__":
    sys.exit(main())
