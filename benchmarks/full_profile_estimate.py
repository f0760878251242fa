"""Expected full-profile time per lab, on this CPU and on a Colab T4, from measured unit costs (run: about 1-2 min).

    python benchmarks/full_profile_estimate.py            # prints the markdown table pasted into docs/GPU_PLAN.md

MEASURED here: the seconds per image of EfficientNet-Lite0 (a) training (forward + backward + AdamW step, batch 16,
channels_last) and (b) inference (batch 16), each at 224 and 128 px, and (c) decoding + resizing one JPEG.
READ from the notebooks: each lab's full-profile settings (the ``P`` / ``settings`` / ``question`` statement of its
settings cell, evaluated with ``profile = "full"``); data set sizes are counted from the data folder.
COUNTED here: how many images each lab pushes through a network (see ``lab_passes``); these counts follow the labs'
code but are approximate (e.g. lab 01's random-init networks, lab 02's reused runs are counted as new).
ESTIMATED (not measured): the T4 rates. Anchor: NVIDIA's published EfficientNet-B0 training throughput on one V100
16 GB with AMP, 1301 img/s at 224 px (NVIDIA/DeepLearningExamples, PyTorch/Classification/ConvNets/efficientnet,
README "Training performance: NVIDIA DGX-1 (8x V100 16GB)"), scaled by the memory-bandwidth ratio T4 / V100 =
320 / 900 GB/s (NVIDIA datasheets; these depthwise networks are bandwidth-bound), and by FLOPs for other networks
and sizes. Inference is taken as 3x the training rate (a forward pass is about a third of a training step); each
optimiser step adds a fixed 15 ms (kernel launches of a small network at batch 32). Decoding on Colab's 2 vCPUs runs
in 2 loader workers at this machine's measured per-image speed. CPU-only work (probes, LogME, lab 04's CPU latency
table, model loading) is NOT in the network columns.
"""
from __future__ import annotations

import ast
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib import data, env, models, recommend, transfer, wildlife, choose  # noqa: E402,F401
from course_lib.strategies.run import optimiser_steps_per_epoch, schedule_epochs  # noqa: E402

V100_B0_TRAIN_AMP = 1301.0          # img/s, cited above
T4_OVER_V100 = 320.0 / 900.0        # memory bandwidth ratio, datasheets
B0_GFLOPS = 0.39
T4_STEP_OVERHEAD_S = 0.015          # estimate
COLAB_WORKERS = 2
LITE0 = "tf_efficientnet_lite0"


def _time_step(fn, warmup: int = 1, steps: int = 1) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def measure(batch: int = 16) -> dict:
    """Seconds per image on this CPU: Lite0 training and inference at 224 and 128 px, and one JPEG decode."""
    env.seed_everything(0)
    out = {}
    model = models.load_model(LITE0, pretrained=False, num_classes=10).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    for px in (224, 128):
        x = torch.randn(batch, 3, px, px).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,))

        def train_step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        model.train()
        out[f"train_{px}"] = _time_step(train_step) / batch
        model.eval()
        with torch.inference_mode():
            out[f"infer_{px}"] = _time_step(lambda: model(x)) / batch
    tf = data.eval_transform(model, input_size=224)
    paths = data.load_dataset("hymenoptera").paths[:32]
    out["decode"] = _time_step(lambda: [tf(data.open_image(p)) for p in paths], 1, 1) / len(paths)
    return out


def settings(nb: str, name: str, **ns) -> object:
    """The value of `name` assigned in the notebook's settings cell, evaluated with the full profile."""
    cells = json.loads((ROOT / "notebooks" / nb).read_text())["cells"]
    for cell in cells:
        src = "".join(cell["source"])
        if "env.profile(profile)" not in src:
            continue
        scope = dict(globals(), profile="full", FULL=True, seed=0, pathlib=Path, domain="far", **ns)
        for node in ast.parse(src).body:      # the cell's plain assignments in order (calls that need a lab skipped)
            if not isinstance(node, ast.Assign):
                continue
            try:
                exec(compile(ast.Module([node], []), nb, "exec"), scope)
            except Exception:
                continue
            if any(getattr(t, "id", "") == name for t in node.targets):
                return scope[name]
    raise KeyError(f"{name} not in the settings cell of {nb}")


class Tally:
    """Images pushed through networks: (kind, GFLOPs per image at that size, images, optimiser steps)."""

    def __init__(self):
        self.rows = []

    def add(self, kind: str, model: str, px: int, images: float, steps: float = 0.0):
        g = float(models.zoo_table().loc[model, "gflops"]) * (px / int(models.zoo_table().loc[model, "input_size"])) ** 2
        self.rows.append((kind, g, float(images), float(steps), px))

    def cpu_seconds(self, unit: dict) -> float:
        lite = float(models.zoo_table().loc[LITE0, "gflops"])
        total = 0.0
        for kind, g, n, _, px in self.rows:
            base = "train" if kind == "train" else "infer"
            # per-GFLOP cost measured for Lite0 at the nearer of the two sizes
            ref = 224 if px > 176 else 128
            per_gflop = unit[f"{base}_{ref}"] / (lite * (ref / 224) ** 2)
            total += n * g * per_gflop + (n * unit["decode"] if kind == "extract" else 0.0)
        return total

    def t4_seconds(self, unit: dict) -> float:
        train_rate = V100_B0_TRAIN_AMP * T4_OVER_V100 * B0_GFLOPS     # GFLOP-images per second, training
        total = 0.0
        for kind, g, n, steps, _ in self.rows:
            rate = train_rate if kind == "train" else 3 * train_rate
            gpu = n * g / rate + steps * T4_STEP_OVERHEAD_S
            total += max(gpu, n * unit["decode"] / COLAB_WORKERS) if kind == "extract" else gpu
        return total


def _n(name: str, task: str | None = None, split: str | None = None) -> int:
    return len(data.load_dataset(name, task=task, split=split))


def _train_runs(t: Tally, px: int, n_train: int, n_val: int, runs: int, epochs: int, min_steps: int, batch=32):
    """`runs` fine-tuning runs on `n_train` images: schedule_epochs epochs, then one pass over the val set."""
    e = schedule_epochs(n_train, epochs, batch, min_steps)
    t.add("train", LITE0, px, runs * n_train * e, runs * e * optimiser_steps_per_epoch(n_train, batch))
    t.add("infer", LITE0, px, runs * n_val)


def lab02(t: Tally) -> None:
    P = settings("02_feature_extraction_vs_finetuning.ipynb", "P")
    sets = {"hymenoptera": (_n("hymenoptera", split="train"), _n("hymenoptera", split="val"), 2),
            "eurosat": (_n("eurosat", split="train"), _n("eurosat", split="val"), 10)}
    plan = {"last_k": P["sizes"], "full_ft": P["sizes_full_ft"], "scratch": P["sizes_scratch"], "lp_ft": P["sizes_lp_ft"]}
    for name, (n_tr, n_va, k) in sets.items():
        px = P["input_size"][name]
        t.add("extract", LITE0, px, n_tr + n_va)                       # the probe's features, once
        for sizes in plan.values():
            for s in sizes:
                n = n_tr if s == "all" else min(n_tr, int(s) * k)
                _train_runs(t, px, n, n_va, P["n_seeds"], P["epochs"], P["min_steps"])
        inner = int(n_tr * (1 - P["inner_fraction"]))                 # variants chosen on the inner split
        _train_runs(t, px, inner, n_tr - inner, len(P["candidates"]) * P["select_seeds"], P["epochs"], P["min_steps"])
    px = P["input_size"]["hymenoptera"]
    _train_runs(t, px, sets["hymenoptera"][0], sets["hymenoptera"][1], len(P["lr_backbones"]) * P["n_seeds"],
                P["epochs"], P["min_steps"])                            # the learning-rate experiment
    _train_runs(t, px, sets["hymenoptera"][0], sets["hymenoptera"][1], 1, P["recipe_epochs"], 0)
    n_more = _n("eurosat_more")
    n_tr = int(n_more * 0.75)                                          # estimate: a 75/25 split of eurosat_more
    t.add("extract", LITE0, P["input_size"]["eurosat"], n_more)
    for s in P["more_sizes"]:
        n = n_tr if s == "all" else min(n_tr, int(s) * 10)
        _train_runs(t, P["input_size"]["eurosat"], n, n_more - n_tr, P["n_seeds"], P["more_epochs"], P["min_steps"])


def lab03(t: Tally) -> None:
    S = settings("03_model_comparison.ipynb", "settings")
    for m in S["timed_models"]:                                        # latency: batch 1 and batch 32
        name = m if m in models.zoo_table().index else LITE0
        px = int(models.zoo_table().loc[name, "input_size"])
        b1 = (S["bench_steps"][1] + S["bench_warmup"][1]) * S["bench_repeats"][1]
        b32 = (S["bench_steps"][32] + S["bench_warmup"][32]) * S["bench_repeats"][32] * 32
        t.add("infer", name, px, b1 + b32, b1 + b32 / 32)
    bases = sorted({(c.model, c.pretrained) for c in transfer.lite_candidates()})
    for ds in S["transfer_sets"]:
        n_all, n_tr, n_va = _n(ds), _n(ds, split="train"), _n(ds, split="val")
        for model, _ in bases:
            px = S["feature_px"] or int(models.zoo_table().loc[model, "input_size"])
            t.add("extract", model, px, n_all)
        r = S["recipe"]
        e = r.epochs
        for model, _ in bases:                                         # the fine-tuned ground truth
            steps = len(S["truth_seeds"]) * e * optimiser_steps_per_epoch(n_tr)
            t.add("train", model, r.input_size, len(S["truth_seeds"]) * e * n_tr, steps)
            t.add("infer", model, r.input_size, len(S["truth_seeds"]) * n_va)
    neg = S["negative"]
    n_x = _n("chest_xray")
    for _ in range(neg["repeats"]):
        _train_runs(t, neg["input_size"], int(n_x * 0.75), n_x - int(n_x * 0.75), 1, neg["epochs"], 0)
        t.add("extract", LITE0, neg["input_size"], _n("hymenoptera"))
    t.add("extract", LITE0, 224, 2 * _n("chest_xray"))               # pretrained and random Lite0 on the X-rays


def lab_passes() -> dict[str, Tally]:
    """Per lab, the images it pushes through networks in the full profile."""
    tallies = {nb.stem: Tally() for nb in sorted((ROOT / "notebooks").glob("0*.ipynb"))}
    t = tallies["00_setup"]
    t.add("extract", LITE0, 224, 16)
    t = tallies["01_hierarchical_features"]
    px = settings("01_hierarchical_features.ipynb", "input_size")
    seeds = settings("01_hierarchical_features.ipynb", "seeds")
    n = sum(_n(*a) for a in [("hymenoptera",), ("eurosat",), ("chest_xray", "normal_vs_pneumonia"),
                             ("chest_xray", "bacteria_vs_virus"), ("camera_traps",), ("eurosat_more",),
                             ("chest_xray_more", "bacteria_vs_virus")])
    t.add("extract", LITE0, px, n * (1 + len(seeds)))                 # pretrained, and a random init per seed
    lab02(tallies["02_feature_extraction_vs_finetuning"])
    lab03(tallies["03_model_comparison"])
    S = settings("04_wildlife_case_study.ipynb", "settings")
    t, n = tallies["04_wildlife_case_study"], _n("camera_traps", task="species")
    t.add("extract", LITE0, S["input_size"], n * (1 + S["crops_per_frame"]) + _n("camera_traps", "empty_vs_animal"))
    _train_runs(t, S["input_size"], int(n * 0.75), n - int(n * 0.75), 2 * S["compare_seeds"], S["train_epochs"], 0)
    q = settings("05_choose_for_your_data.ipynb", "question")
    for m in q.models:
        name = m if m in models.zoo_table().index else LITE0
        px = q.input_size or int(models.zoo_table().loc[name, "input_size"])
        tallies["05_choose_for_your_data"].add("extract", name, px, _n("eurosat_more"))
    return tallies


def _fmt(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def main() -> None:
    start = time.perf_counter()
    threads = env.set_threads()
    tallies = lab_passes()
    unit = measure()
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"measured on this CPU ({threads} threads, load average {load:.1f}; a busy machine inflates the CPU "
          "column, not the T4 one), per image: " +
          ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in unit.items()))
    t4_img = 1 / (V100_B0_TRAIN_AMP * T4_OVER_V100 * B0_GFLOPS / float(models.zoo_table().loc[LITE0, "gflops"]))
    print(f"CPU -> T4 factor (Lite0 training at 224 px): {unit['train_224'] / t4_img:.0f}x "
          f"(T4 estimate {t4_img * 1000:.2f} ms per image)")
    print()
    print("| lab | images through a network (train / inference) | network time, full, this CPU (measured rates) "
          "| network time, full, Colab T4 (estimate) |")
    print("|---|---|---|---|")
    for lab, t in tallies.items():
        tr = sum(n for k, _, n, _, _ in t.rows if k == "train")
        inf = sum(n for k, _, n, _, _ in t.rows if k != "train")
        print(f"| {lab} | {tr:,.0f} / {inf:,.0f} | {_fmt(t.cpu_seconds(unit))} | {_fmt(t.t4_seconds(unit))} |")
    print(f"\n(this script ran {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
