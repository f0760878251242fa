"""course_lib.bench.measure_latency against a timm-benchmark.py-style loop, on the same models, in one run.

Both time inference with random weights at each model's own input size: untimed warm-up steps, then timed steps
under ``torch.inference_mode``. The loop below is written here in the manner of timm's ``benchmark.py`` (its
``InferenceBenchmarkRunner``: warm-up, then ``perf_counter`` around the timed steps, mean step time), so the ratio
says whether course_lib's numbers can be compared with timm's published CPU benchmarks. Goal: every ratio within
10% of 1.

Each contender gets its own copy of each model (``measure_latency`` moves models and may change memory format), and
repeats are interleaved (model A ours, A timm-style, B ours, B timm-style, ..., then again, with the order of the two
contenders swapped every round), so load from other processes hits both alike. Reported per model and batch size:
the median over repeats of the *paired* ratio (ours / timm-style, measured back to back), its range, and the ratio
of the two medians.

    python benchmarks/bench_latency_vs_timm.py                          # the default models, batch 1 and 32
    python benchmarks/bench_latency_vs_timm.py --models resnet50 --batch-sizes 1 --repeats 7
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib import bench, env, models  # noqa: E402

DEFAULT_MODELS = ["tf_efficientnet_lite0", "tf_efficientnet_lite2", "mobilenet_v3_large", "resnet18", "efficientnet_b0"]


def timm_style_ms(model: torch.nn.Module, x: torch.Tensor, warmup: int, steps: int) -> float:
    """Mean milliseconds per batch, the way timm's benchmark script measures inference (CPU: no synchronize)."""
    model.eval()
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        elapsed = time.perf_counter() - start
    return 1e3 * elapsed / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per measurement; 0: 20 at batch 1, 3 above")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: every core this process may use")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "latency_vs_timm.json"))
    args = parser.parse_args()

    env.set_threads(args.threads or None)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, allocator tuned: {env.allocator_tuned()}")
    nets, sizes = {}, {}
    for name in args.models:
        base = models.load_model(name, pretrained=False)
        nets[name] = {"ours": base, "timm": copy.deepcopy(base)}
        try:
            sizes[name] = models.get_entry(name).input_size
        except Exception:  # noqa: BLE001 - a name outside the zoo: timm's own default size
            sizes[name] = bench._input_size(None, base)[-1]
    times = {(n, b, k): [] for n in args.models for b in args.batch_sizes for k in ("ours", "timm")}
    for r in range(args.repeats + 1):  # repeat 0 is a warm-up round for the whole process, not recorded
        for name in args.models:
            for bs in args.batch_sizes:
                steps = args.steps or (20 if bs == 1 else 3)
                x = torch.randn(bs, 3, sizes[name], sizes[name], generator=torch.Generator().manual_seed(0))

                def run_ours():
                    return bench.measure_latency(nets[name]["ours"], batch_size=bs, input_size=sizes[name],
                                                 warmup=args.warmup, steps=steps, device="cpu").ms_per_batch

                if r % 2:
                    ours, theirs = run_ours(), timm_style_ms(nets[name]["timm"], x, args.warmup, steps)
                else:
                    theirs, ours = timm_style_ms(nets[name]["timm"], x, args.warmup, steps), run_ours()
                if r:
                    times[(name, bs, "ours")].append(ours)
                    times[(name, bs, "timm")].append(theirs)
    rows = []
    print(f"\n{'model':<24}{'batch':>6}{'px':>5}{'course_lib ms':>15}{'timm-style ms':>15}{'paired ratio':>14}"
          f"{'range':>16}{'ratio of medians':>18}  within 10%")
    for name in args.models:
        for bs in args.batch_sizes:
            a, b = times[(name, bs, "ours")], times[(name, bs, "timm")]
            ours, theirs = statistics.median(a), statistics.median(b)
            paired = [x / y for x, y in zip(a, b)]
            ratio = statistics.median(paired)
            rows.append({"model": name, "batch_size": bs, "img_size": sizes[name], "course_lib_ms": round(ours, 3),
                         "timm_style_ms": round(theirs, 3), "paired_ratio": round(ratio, 4),
                         "paired_ratio_range": [round(min(paired), 4), round(max(paired), 4)],
                         "ratio_of_medians": round(ours / theirs, 4), "within_10pct": abs(ratio - 1) <= 0.10,
                         "course_lib_all": [round(v, 3) for v in a], "timm_style_all": [round(v, 3) for v in b]})
            print(f"{name:<24}{bs:>6}{sizes[name]:>5}{ours:>15.2f}{theirs:>15.2f}{ratio:>14.3f}"
                  f"{f'{min(paired):.2f}-{max(paired):.2f}':>16}{ours / theirs:>18.3f}  "
                  f"{'yes' if abs(ratio - 1) <= 0.10 else 'NO'}")
    ok = sum(r["within_10pct"] for r in rows)
    print(f"\n{ok} of {len(rows)} within 10% (median of {args.repeats} interleaved repeats; course_lib reports the "
          f"median step, the timm-style loop the mean step)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": torch.get_num_threads(), "repeats": args.repeats, "rows": rows},
                                         indent=2))
    print(f"written to {Path(args.out).relative_to(ROOT) if Path(args.out).is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
