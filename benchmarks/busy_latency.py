"""Lab 03's latency table on an idle machine and with one core kept busy by another process (issue 16).

Runs what lab 03's section 2 runs (``machine.guard`` to choose threads, then ``recommend.measure_zoo`` at batch 1 with
the fast profile's steps, warm-up and interleaved repeats, and the real-time verdicts), first as the machine is, then
with ``yes > /dev/null`` spinning on one core. Prints each model's batch-1 latency in both runs, their ratio, and the
verdicts of ``realtime_latency`` and ``convnets_faster_than_transformers`` in both. The claim to check: a busy
machine may move latencies, and the verdicts either hold or turn inconclusive; they must not flip to the opposite.
Run it on an otherwise idle machine (the first run is the baseline): `python benchmarks/busy_latency.py`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib import claims, machine, recommend  # noqa: E402

MODELS = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "mobilenet_v3_large",
          "mobilenet_v2", "resnet18", "mobilenet_v3_small", "regnet_y_400mf", "efficientnet_b0", "efficientnet_b1",
          "densenet121", "resnet50", "vit_b_16", "swin_t"]   # lab 03's fast-profile list


def one_run(label: str) -> tuple:
    check = machine.guard(quiet=True)
    load = float("nan") if check.load is None else check.load
    print(f"[{label}] others use {load:.1f} of {check.cores} cores; torch threads {check.threads}", flush=True)
    speed = recommend.measure_zoo(MODELS, batch_sizes=(1,), steps=6, warmup=3, repeats=5)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "busy.claims.json"
        verdicts = recommend.record_realtime(ledger, speed, fps=30.0, profile="fast")
    return check, speed, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "busy_latency.json"))
    args = parser.parse_args(argv)
    idle = one_run("as the machine is")
    spinner = subprocess.Popen("yes > /dev/null", shell=True)
    try:
        busy = one_run("one core busy (yes > /dev/null)")
    finally:
        spinner.kill()
        subprocess.run("pkill -x yes", shell=True, check=False)
    ratio = busy[1]["ms_bs1"] / idle[1]["ms_bs1"]
    print(f"\n{'model':<24} {'idle ms':>8} {'busy ms':>8} {'busy/idle':>9}")
    for m in MODELS:
        print(f"{m:<24} {idle[1].loc[m, 'ms_bs1']:8.1f} {busy[1].loc[m, 'ms_bs1']:8.1f} {ratio[m]:9.2f}")
    both = idle[2][["claim", "model", "verdict"]].merge(busy[2][["claim", "model", "verdict"]],
                                                        on=["claim", "model"], suffixes=("_idle", "_busy"))
    flips = both[(both.verdict_idle != both.verdict_busy)
                 & both.verdict_idle.isin([claims.SUPPORTED, claims.CONTRADICTED])
                 & both.verdict_busy.isin([claims.SUPPORTED, claims.CONTRADICTED])]
    print("\n" + both.to_string(index=False))
    print(f"\nverdicts that changed: {int((both.verdict_idle != both.verdict_busy).sum())} of {len(both)}; "
          f"flipped to the opposite: {len(flips)}")
    out = {"threads": [idle[0].threads, busy[0].threads], "others_load": [idle[0].load, busy[0].load],
           "ratio": ratio.round(3).to_dict(), "verdicts": both.to_dict(orient="records"), "flips": len(flips)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    return 0 if flips.empty else 1


if __name__ == "__main__":
    sys.exit(main())
