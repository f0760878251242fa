"""Command line: ``python -m course_lib doctor | list-models | fetch-weights NAME | fetch-data NAME | claims | run-notebooks | choose FOLDER``.

The instructor's build tools (slides, student/instructor copies, Colab badges, data archives) are not part of the
installed kit: they run from a checkout, as ``python -m tools.slides | tools.copies | tools.publish`` (see tools/).
"""
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
    from . import colab, datapacks
    from .data import fetch_dataset

    if args.official or args.url or args.name not in datapacks.PACKS:
        path = fetch_dataset(args.name, url=args.url, checksum=args.checksum, trust_unverified=args.trust_unverified)
    else:   # the course's own subset, from the kit's release, sha256-checked
        path = datapacks.fetch(args.name, colab.COURSE_REPO)
    print(f"{args.name}: ready in {path}")
    return 0


def _device_line(profile: str, asked: str) -> str:
    """What the runs will use: the profile, the device and its loader/precision policy (``accel.policy``)."""
    from . import accel, env

    device = env.pick_device()
    policy = accel.policy(device)
    return (f"profile {profile} (asked: {asked}); device {device.type}, precision {policy.precision}, "
            f"{policy.num_workers} loader workers")


def _run_notebooks(args) -> int:
    """Execute every lab in order with one profile (``auto``: full on a CUDA GPU, else fast), printing each as it
    finishes, then write the claims report from the ledgers those runs wrote (a failed lab's claims read "not
    measured"). Exit 0 only if every lab ran."""
    from pathlib import Path

    from . import claims, env, notebooks

    profile = env.profile(args.profile)
    print(_device_line(profile, args.profile), flush=True)
    out = Path(args.output_dir)
    results = []
    for nb in notebooks.list_notebooks():
        r = notebooks.run_notebook(nb, out, profile=profile)
        results.append(r)
        print(f"{r['notebook']}: {r['status']} in {r['seconds']:.0f} s", flush=True)
    entries = claims.collect(out)
    report = claims.write_report(entries, Path(args.claims_out))
    print(f"claims report ({len(entries)} measurements from {out}): {report}")
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
        from .env import cpu_cores, pinned_threads

        profiles = sorted({e.get("profile") or "-" for e in entries})
        pinned = pinned_threads()
        threads = f"torch threads {pinned} (COURSE_THREADS)" if pinned else "torch threads per lab"
        stamp = (f"profile {', '.join(profiles)}, seed 0, {date.today().isoformat()}, {cpu_cores()} CPU cores, "
                 f"{threads}, {platform.machine()}")
        with atomic_write(Path(args.docs), "w") as f:
            f.write(claims.docs_markdown(entries, stamp))
        print(f"wrote {args.docs}")
    return 0


def _choose(args) -> int:
    import time
    import warnings
    from pathlib import Path

    from . import choose, data

    start = time.perf_counter()
    print(f"[1/3] reading {args.folder} ...", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", data.ImageFolderWarning)
        table = data.image_folder(args.folder, labels=args.labels, on_bad="raise" if args.strict else "skip")
    for w in caught:
        print(f"  warning: {w.message}")
    print(f"  {len(table)} images, {len(table.classes)} classes", flush=True)
    question = choose.Question(domain=args.domain, compute=args.compute, fps=args.fps, per_class=args.per_class,
                               input_size=args.input_size, repeats=args.repeats, seed=args.seed,
                               **({"models": tuple(args.models)} if args.models else {}))
    print("[2/3] measuring candidates, scores and folds (features are cached: a second run is quicker) ...",
          flush=True)
    choice = choose.choose(table, question, progress=True)
    out = Path(args.out) if args.out else None
    report = choose.write_report(choice, out)
    print(f"[3/3] chosen: {choice.chosen}; report written to {report} in {time.perf_counter() - start:.0f} s")
    print("\n".join(report.read_text().splitlines()[:4]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .errors import CourseLibError

    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[1])
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
    p.add_argument("--official", action="store_true",
                   help="the official full archive (where there is one) instead of the course's own subset")
    p.add_argument("--trust-unverified", action="store_true",
                   help="accept an archive with no published checksum (its sha256 is printed for you to record)")
    p.set_defaults(fn=_fetch_data)
    p = sub.add_parser("claims", help="the claims ledger: each claim, what the labs measured, and a verdict")
    p.add_argument("--results", default="build", help="folder searched for the labs' *.claims.json ledgers")
    p.add_argument("--out", default="build/claims/REPORT.md")
    p.add_argument("--docs", default="", help="also write the committed page (docs/CLAIMS.md) from these ledgers")
    p.set_defaults(fn=_claims)
    p = sub.add_parser("run-notebooks", help="execute every lab with papermill, then write the claims report")
    p.add_argument("--profile", default="fast", choices=["auto", "fast", "full"],
                   help="auto: full on a CUDA GPU, else fast (COURSE_PROFILE, when set, decides auto)")
    p.add_argument("--output-dir", default="build/executed", help="executed notebooks, results and claim ledgers")
    p.add_argument("--claims-out", default="build/claims/REPORT.md", help="the claims report written after the runs")
    p.set_defaults(fn=_run_notebooks)
    p = sub.add_parser("choose", help="choose a pretrained model for a folder of your images; writes a report")
    p.add_argument("folder", help="class sub-folders of images (train/ and val/ above them or not), or a CSV "
                                  "of file,label[,group]")
    p.add_argument("--labels", help="a CSV of file,label[,group] for the images under FOLDER")
    p.add_argument("--domain", default="near", choices=["imagenet", "near", "far"],
                   help="how far the images are from ImageNet photos (far: X-rays, satellite, microscopy)")
    p.add_argument("--compute", default="cpu", choices=["cpu", "mobile", "gpu"])
    p.add_argument("--fps", type=float, default=None, help="a frame rate, for real-time use")
    p.add_argument("--per-class", type=int, default=None, help="subsample this many images per class (quick look)")
    p.add_argument("--input-size", type=int, default=None, help="one input size for all networks (default: own)")
    p.add_argument("--repeats", type=int, default=2, help="repeats of 5-fold cross-validation")
    p.add_argument("--models", nargs="+", default=None,
                   help="networks to compare (default: the EfficientNet-Lite models whose weights ship with the kit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strict", action="store_true", help="stop on a bad image file instead of skipping it")
    p.add_argument("--out", default="", help="report folder (default: build/reports/<folder name>)")
    p.set_defaults(fn=_choose)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except CourseLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
