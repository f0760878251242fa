"""Command line: ``python -m course_lib doctor | list-models | fetch-weights NAME | fetch-data NAME | claims | run-notebooks``."""
from __future__ import annotations

import argparse
import sys


def _doctor(args) -> int:
    from .doctor import report

    text, ok = report()
    print(text)
    return 0 if ok or not args.strict else 1


def _list_models(args) -> int:
    import pandas as pd

    from .models import zoo_table

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print(zoo_table(args.pattern)[["library", "top1", "params_m", "gflops", "file_mb", "input_size", "weights_here"]])
    return 0


def _fetch_weights(args) -> int:
    from .models import load_model

    model = load_model(args.name, pretrained=True)
    print(f"{args.name}: weights ready and verified ({model.course_weights})")
    return 0


def _fetch_data(args) -> int:
    from .data import fetch_dataset

    path = fetch_dataset(args.name, url=args.url, checksum=args.checksum, trust_unverified=args.trust_unverified)
    print(f"{args.name}: ready in {path}")
    return 0


def _run_notebooks(args) -> int:
    from .notebooks import run_all

    results = run_all(profile=args.profile, output_dir=args.output_dir)
    for r in results:
        print(f"{r['notebook']}: {r['status']} in {r['seconds']:.0f} s")
    return 0 if all(r["status"] == "ok" for r in results) else 1


def _claims(args) -> int:
    from pathlib import Path

    from . import claims

    entries = claims.collect(args.results)
    out = claims.write_report(entries, Path(args.out))
    print(claims.report_markdown(entries))
    print(f"({len(entries)} measurements from {args.results}; report and one plot per measured claim written to "
          f"{out.parent})")
    if args.docs:
        import platform
        from datetime import date

        from ._atomic import atomic_write
        from .env import cpu_cores

        profiles = sorted({e.get("profile") or "-" for e in entries})
        stamp = (f"profile {', '.join(profiles)}, seed 0, {date.today().isoformat()}, {cpu_cores()} CPU cores, "
                 f"{platform.machine()}")
        with atomic_write(Path(args.docs), "w") as f:
            f.write(claims.docs_markdown(entries, stamp))
        print(f"wrote {args.docs}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .errors import CourseLibError

    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help="versions, device, data and weights found (sha256-verified), what to fix")
    p.add_argument("--strict", action="store_true", help="exit 1 if anything is missing")
    p.set_defaults(fn=_doctor)
    p = sub.add_parser("list-models", help="the zoo: published facts and whether weights load here")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(fn=_list_models)
    p = sub.add_parser("fetch-weights", help="download (online) and verify a model's pretrained weights")
    p.add_argument("name")
    p.set_defaults(fn=_fetch_weights)
    p = sub.add_parser("fetch-data", help="download (online) and verify a data set into COURSE_DATA_DIR")
    p.add_argument("name")
    p.add_argument("--url", help="download from this address instead of the registered one")
    p.add_argument("--checksum", help="expected checksum of the archive, 'sha256:<hex>' or 'md5:<hex>'")
    p.add_argument("--trust-unverified", action="store_true",
                   help="accept an archive with no published checksum (its sha256 is printed for you to record)")
    p.set_defaults(fn=_fetch_data)
    p = sub.add_parser("claims", help="the claims ledger: each claim, what the labs measured, and a verdict")
    p.add_argument("--results", default="build", help="folder searched for the labs' *.claims.json ledgers")
    p.add_argument("--out", default="build/claims/REPORT.md")
    p.add_argument("--docs", default="", help="also write the committed page (docs/CLAIMS.md) from these ledgers")
    p.set_defaults(fn=_claims)
    p = sub.add_parser("run-notebooks", help="execute every lab with papermill")
    p.add_argument("--profile", default="fast", choices=["fast", "full"])
    p.add_argument("--output-dir", default="build/executed")
    p.set_defaults(fn=_run_notebooks)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except CourseLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
