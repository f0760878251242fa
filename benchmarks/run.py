"""Measured goals of the foundation, printed as ratios (run: `make bench`, or this file with the venv's python).

(a) course_lib feature extraction throughput / a plain timm loop on the same model and images  (goal >= 0.9)
(b) cached re-run speed-up of extract_features                                                   (goal >= 50x)
(c) linear probe on ~400 cached feature vectors                                                  (goal < 1 s)
(d) LogME on 244 whole-network-width (1280-d) feature vectors                                     (goal < 20 s)
(e) wall time and peak memory of the README's test command (make test: student copies, then pytest with nbval)

Timing follows timm's benchmark.py: an untimed warm-up, then timed repeats (median reported).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib import data, env, features, models, train  # noqa: E402


def plain_timm_loop(model, paths, batch_size: int) -> float:
    """What a learner would write by hand with timm: transform, stack, forward_head(pre_logits=True)."""
    import timm
    from PIL import Image

    cfg = timm.data.resolve_model_data_config(model)
    tf = timm.data.create_transform(**cfg)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(paths), batch_size):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
            model.forward_head(model.forward_features(x), pre_logits=True)
    return time.perf_counter() - start


def course_lib_extract(model, paths, batch_size: int, channels_last: bool) -> float:
    start = time.perf_counter()
    features.extract_features(model, paths, batch_size=batch_size, channels_last=channels_last, cache=False,
                              progress=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-test-command", action="store_true", help="skip (e), which runs the whole test suite")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "foundation.json"))
    args = parser.parse_args()

    env.set_threads()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, allocator tuned: {env.allocator_tuned()}")
    model = models.load_model(args.model)
    train_set = data.load_dataset("hymenoptera", split="train")
    val_set = data.load_dataset("hymenoptera", split="val")
    paths = list(train_set.paths) + list(val_set.paths)
    out: dict = {"model": args.model, "images": len(paths), "threads": torch.get_num_threads()}

    # Each contender gets its own copy of the model (extract_features leaves a model in the memory format it used),
    # and the repeats are interleaved so that load from other processes hits all of them alike.
    plain_model, ours_model, ours_cl_model = (copy.deepcopy(model) for _ in range(3))
    runs = {"plain": lambda: plain_timm_loop(plain_model, paths, args.batch_size),
            "ours": lambda: course_lib_extract(ours_model, paths, args.batch_size, False),
            "ours_cl": lambda: course_lib_extract(ours_cl_model, paths, args.batch_size, True)}
    for fn in runs.values():
        fn()  # warm-up: allocator, lazy init, file cache
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(fn())
    plain, ours, ours_cl = (statistics.median(times[k]) for k in ("plain", "ours", "ours_cl"))
    out["a_plain_timm_img_per_s"] = len(paths) / plain
    out["a_course_lib_img_per_s"] = len(paths) / ours_cl
    out["a_ratio"] = plain / ours_cl
    out["a_ratio_same_memory_format"] = plain / ours
    print(f"(a) plain timm loop {len(paths) / plain:.1f} img/s; course_lib {len(paths) / ours_cl:.1f} img/s "
          f"(channels_last, its default), {len(paths) / ours:.1f} img/s (contiguous, as the plain loop): "
          f"ratio {out['a_ratio']:.2f} [{out['a_ratio_same_memory_format']:.2f} same memory format]  goal >= 0.9")

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        first = features.extract_features(model, paths, cache_dir=cache, progress=False)
        cold = time.perf_counter() - t0
        warm = statistics.median(
            _timed(lambda: features.extract_features(model, paths, cache_dir=cache, progress=False))
            for _ in range(max(3, args.repeats)))
    out["b_cold_s"], out["b_cached_s"], out["b_speedup"] = cold, warm, cold / warm
    print(f"(b) first extraction {cold:.2f} s, cached re-run {warm * 1e3:.1f} ms: speed-up {cold / warm:.0f}x  goal >= 50x")

    n_train = len(train_set)
    X_train, X_val = first.X[:n_train], first.X[n_train:]
    train.fit_linear_probe(X_train, train_set.labels, X_val, val_set.labels)  # warm-up
    fits = [_timed(lambda: train.fit_linear_probe(X_train, train_set.labels, X_val, val_set.labels))
            for _ in range(args.repeats)]
    probe = train.fit_linear_probe(X_train, train_set.labels, X_val, val_set.labels)
    out["c_probe_s"], out["c_probe_vectors"], out["c_probe_accuracy"] = statistics.median(fits), len(paths), probe.metrics.accuracy
    print(f"(c) linear probe on {len(paths)} cached {first.X.shape[1]}-d vectors ({n_train} train, {len(paths) - n_train} val): {out['c_probe_s']:.3f} s "
          f"(val accuracy {probe.metrics.accuracy:.3f})  goal < 1 s")

    import numpy as np

    from course_lib import transfer

    rng = np.random.default_rng(1)
    X_wide, y_wide = rng.normal(size=(244, 1280)).astype(np.float32), rng.integers(0, 2, 244)
    transfer.logme(X_wide, y_wide)  # warm-up
    out["d_logme_s"] = statistics.median(_timed(lambda: transfer.logme(X_wide, y_wide)) for _ in range(args.repeats))
    print(f"(d) LogME on 244 x 1280 features: {out['d_logme_s']:.2f} s (median of {args.repeats})  goal < 20 s")

    if not args.skip_test_command:
        student = ROOT / "build" / "student-bench"
        subprocess.run([sys.executable, "-m", "tools.copies", "--workspace", str(student)], cwd=ROOT, check=True)
        cmd = [sys.executable, "-m", "pytest", "tests", str(student), "--nbval-lax", "-q", "-p", "no:cacheprovider"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "COURSE_CACHE_DIR": tempfile.mkdtemp(prefix="bench-cache-")})
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out["e_test_wall_s"], out["e_test_peak_rss_mb"] = wall, peak_mb
        out["e_test_summary"] = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
        print(f"(e) test command: {wall / 60:.1f} min wall, peak RSS {peak_mb:.0f} MB: {out['e_test_summary']}")

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}, indent=2))
    print(f"written to {Path(args.out).relative_to(ROOT)}")
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
