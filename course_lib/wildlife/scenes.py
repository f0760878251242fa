"""When the detector route wins: frames built from real camera-trap frames to hold a small animal or two animals,
scored by the same classifier on the whole frame and on the crops a (perfect) detector would cut.

The frames are constructed: a real frame pasted at its native resolution into a real empty frame, so that it
fills a chosen share of a larger picture (a small or distant animal), or two real frames of different species
in one picture (several animals). The whole-frame classifier sees the picture resized to its input; the crop
route sees each pasted frame at its own resolution, as a detector's crop of a large camera frame does.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import data, env
from .frames import crop_box
from .metrics import count_metrics, multilabel_metrics

Classify = Callable[[list], np.ndarray]     # image paths -> predicted class index per image


def save_images(images: Sequence[Image.Image], out_dir: str | Path | None = None) -> list[str]:
    """Write each image once as a JPEG named by its content (a second run reuses it and the features cache keys
    on it); return the paths."""
    out_dir = Path(out_dir) if out_dir else env.cache_dir() / "scenes"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for im in images:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=95)
        target = out_dir / f"scene-{hashlib.sha256(buf.getvalue()).hexdigest()[:20]}.jpg"
        if not target.exists():
            target.write_bytes(buf.getvalue())
        paths.append(str(target))
    return paths


def paste(background: Image.Image, frames: Sequence[Image.Image], share: float,
          centres: Sequence[tuple[float, float]]) -> tuple[Image.Image, np.ndarray]:
    """A picture in which each of `frames` (all the size of the first) fills `share` of the area, pasted at its
    native resolution centred at `centres` (fractions of the picture) on `background` stretched to fit; returns the
    picture and the pasted frames' boxes (normalised x, y, w, h)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    w, h = frames[0].size
    W, H = int(round(w / np.sqrt(share))), int(round(h / np.sqrt(share)))
    canvas = background.convert("RGB").resize((W, H))
    boxes = []
    for im, (cx, cy) in zip(frames, centres):
        x0 = int(np.clip(cx * W - w / 2, 0, W - w))
        y0 = int(np.clip(cy * H - h / 2, 0, H - h))
        canvas.paste(im.convert("RGB").resize((w, h)), (x0, y0))
        boxes.append([x0 / W, y0 / H, w / W, h / H])
    return canvas, np.array(boxes)


def small_animal_test(paths: Sequence, labels: Sequence[int], background: str | Path, classify: Classify,
                      shares: Sequence[float] = (1.0, 0.25, 1 / 16)) -> pd.DataFrame:
    """Each real frame pasted into the empty `background` so that it fills each of `shares` of the picture; one
    row per frame and share with the class `classify` gives the whole picture and the crop of the pasted frame."""
    bg = data.open_image(background)
    rows, wholes, crops = [], [], []
    for i, (p, y) in enumerate(zip(paths, labels)):
        frame = data.open_image(p)
        for share in shares:
            pic, boxes = paste(bg, [frame], share, [(0.6, 0.6)])
            wholes.append(pic)
            crops.append(crop_box(pic, boxes[0]))
            rows.append({"frame": i, "share": float(share), "true": int(y)})
    out = pd.DataFrame(rows)
    out["whole_frame"] = classify(save_images(wholes))
    out["crop"] = classify(save_images(crops))
    return out


def summarise_small(rows: pd.DataFrame, input_size: int) -> pd.DataFrame:
    """Accuracy of the whole-frame route and of the crop route by the animal's share of the picture, with the
    pixels the animal's frame gets in the whole-frame classifier's input."""
    g = rows.assign(whole_right=rows["whole_frame"] == rows["true"], crop_right=rows["crop"] == rows["true"])
    out = g.groupby("share", sort=False).agg(frames=("frame", "size"), whole_frame=("whole_right", "mean"),
                                             crop=("crop_right", "mean"))
    out["pixels in the classifier input"] = (out.index.to_numpy() * input_size ** 2).round().astype(int)
    return out.sort_index(ascending=False)


def animal_pairs(labels: Sequence[int], n: int, seed: int = 0) -> list[tuple[int, int]]:
    """Up to `n` distinct pairs of positions whose labels differ, drawn with `seed`."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    pairs: set[tuple[int, int]] = set()
    for _ in range(50 * n):
        i, j = (int(v) for v in rng.choice(len(labels), 2, replace=False))
        if labels[i] != labels[j]:
            pairs.add((min(i, j), max(i, j)))
        if len(pairs) == n:
            break
    return sorted(pairs)


def two_animal_test(paths: Sequence, labels: Sequence[int], background: str | Path, classify: Classify,
                    classes: Sequence[str], n_pairs: int = 20, seed: int = 0, empty: str = "empty") -> dict:
    """Pairs of real frames of different species in one picture (each a quarter of it). The whole-frame route
    names one species and counts one animal (none if it says `empty`); the crop route classifies each pasted frame
    and counts the crops not called `empty`. Returns the pairs, both routes' species sets and counts, and
    :func:`multilabel_metrics` and :func:`count_metrics` of each."""
    bg = data.open_image(background)
    pairs = animal_pairs(labels, n_pairs, seed)
    wholes, crops = [], []
    for i, j in pairs:
        pic, boxes = paste(bg, [data.open_image(paths[i]), data.open_image(paths[j])], 0.25, [(0.25, 0.3), (0.75, 0.7)])
        wholes.append(pic)
        crops += [crop_box(pic, b) for b in boxes]
    whole = classify(save_images(wholes))
    crop = np.asarray(classify(save_images(crops))).reshape(-1, 2)
    name = lambda k: classes[int(k)]                                                       # noqa: E731
    truth = [{name(labels[i]), name(labels[j])} for i, j in pairs]
    whole_sets = [set() if name(k) == empty else {name(k)} for k in whole]
    crop_sets = [{name(k) for k in ks if name(k) != empty} for ks in crop]
    whole_counts = [len(s) for s in whole_sets]
    crop_counts = [sum(name(k) != empty for k in ks) for ks in crop]
    scored = {route: {**multilabel_metrics(truth, sets), **count_metrics([2] * len(pairs), counts)}
              for route, sets, counts in (("whole_frame", whole_sets, whole_counts), ("crop", crop_sets, crop_counts))}
    return {"pairs": pairs, "truth": truth, "whole_frame": whole_sets, "crop": crop_sets, "metrics": scored}
