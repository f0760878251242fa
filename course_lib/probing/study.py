"""Lab 01's layer-wise study in a few calls: the images it looks at, every probe it fits, and what each curve says.

:func:`sample_images` picks the first image of a few classes of each data set; :func:`probe_all` fits the layer-wise
probe (pretrained and random weights), the raw-pixel reference and, for the X-ray sets, the one-number aspect-ratio
reference on every data set; :func:`curve_facts` reads one data set's best and final stage off the summary.
Used in: 01.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import data
from .layers import (RANDOM, aspect_ratio_feature, best_stage, curve, layerwise_probe, random_init_model,
                     raw_pixel_features, reference, reference_probe)

# caption -> (data set key, class): the images lab 01 shows stage by stage and asks ImageNet's head about
SAMPLES = {"ant": ("hymenoptera", "ants"), "bee": ("hymenoptera", "bees"),
           "EuroSAT Pasture": ("eurosat", "Pasture"), "EuroSAT SeaLake": ("eurosat", "SeaLake"),
           "EuroSAT Highway": ("eurosat", "Highway"),
           "X-ray NORMAL": ("xray_normal_vs_pneumonia", "NORMAL"),
           "X-ray PNEUMONIA": ("xray_normal_vs_pneumonia", "PNEUMONIA"),
           "camera trap: elephant": ("camera_traps", "african_elephant"),
           "camera trap: dog": ("camera_traps", "domestic_dog"), "camera trap: empty": ("camera_traps", "empty")}
SHAPE_SETS = ("xray_normal_vs_pneumonia", "xray_bacteria_vs_virus")   # where one number per scan is a reference


def first_of(table: data.ImageTable, cls: str) -> Path:
    """The first image of class `cls` in `table`."""
    return table.paths[int(np.flatnonzero(table.labels == table.classes.index(cls))[0])]


def sample_images(tables: Mapping[str, data.ImageTable], samples: Mapping[str, tuple] = SAMPLES) -> dict[str, Path]:
    """caption -> path, for each (data set key, class) of `samples` (default :data:`SAMPLES`), in that order."""
    return {caption: first_of(tables[name], cls) for caption, (name, cls) in samples.items()}


def probe_all(model, model_name: str, tables: Mapping[str, data.ImageTable], stages: Sequence[str], *,
              seeds: Sequence[int], transform, raw_size: int, raw_kind: str,
              shape_sets: Sequence[str] = SHAPE_SETS) -> pd.DataFrame:
    """Every fit of the layer-wise study, one row per data set, features, stage, seed and fold.

    Per data set: the probe after each stage with the pretrained `model` and with random weights drawn from each
    seed, and the raw-pixel reference (`raw_size` px, labelled `raw_kind`); for `shape_sets` also the image's aspect
    ratio alone ("aspect ratio"). Folds are grouped by the table's groups.
    """
    rows = []
    for name, table in tables.items():
        common = dict(seeds=seeds, groups=table.groups, dataset=name)
        rows.append(layerwise_probe(model, table, stages, transform=transform, **common))
        rows.append(layerwise_probe(lambda s: random_init_model(model_name, s), table, stages, transform=transform,
                                    kind=RANDOM, **common))
        rows.append(reference_probe(raw_pixel_features(table, raw_size), table, raw_kind, **common))
    for name in shape_sets:
        table = tables[name]
        rows.append(reference_probe(aspect_ratio_feature(table), table, "aspect ratio", seeds=seeds,
                                    groups=table.groups, dataset=name))
    return pd.concat(rows, ignore_index=True)


def curve_facts(summary: pd.DataFrame, name: str, raw_kind: str, majority: float) -> dict:
    """One data set's curve in numbers: best and final stage (mean, std), random weights' best and final stage,
    the raw-pixel reference and the majority-class fraction."""
    pre, rnd = curve(summary, name), curve(summary, name, RANDOM)
    best = best_stage(summary, name)
    return {"best_stage": best, "best": float(pre.loc[best, "mean"]), "best_std": float(pre.loc[best, "std"]),
            "final": float(pre["mean"].iloc[-1]), "final_std": float(pre["std"].iloc[-1]),
            "best_random_stage": best_stage(summary, name, RANDOM),
            "best_random": float(rnd["mean"].max()), "final_random": float(rnd["mean"].iloc[-1]),
            "raw_pixels": reference(summary, name, raw_kind)["mean"], "majority": majority}


def facts_line(name: str, f: Mapping) -> str:
    """:func:`curve_facts` as one printed line."""
    return (f"{name:<25} best {f['best_stage']:<8} {f['best']:.3f} ± {f['best_std']:.3f} | final {f['final']:.3f} "
            f"± {f['final_std']:.3f} | random best {f['best_random']:.3f} final {f['final_random']:.3f} | "
            f"raw {f['raw_pixels']:.3f} | majority {f['majority']:.3f}")


__all__ = ["SAMPLES", "SHAPE_SETS", "curve_facts", "facts_line", "first_of", "probe_all",
           "sample_images"]
