"""The course's own data sets: their specs (archive, checksum, license, citation, tasks) and the table logic each
carries in its spec (``rows``): patients of the chest X-rays, bursts of the camera traps, one image per group for
the ants and bees. Registered on import of ``course_lib.data``.

The only place that knows data-set names: a new data set registers a spec with its own ``rows`` the same way.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .loading import read_labels, read_rows
from .registry import DatasetSpec, register_dataset


def _chest_meta(stem: str, label: str) -> tuple[str, str]:
    """(subtype, patient id) from an official file name: IM-0117-0001, NORMAL2-IM-0389-0001, person12_virus_3."""
    normal, person = re.match(r"(NORMAL2-)?IM-(\d+)", stem), re.match(r"(person\d+)", stem)
    patient = f"{normal[1] or ''}{normal[2]}" if normal else person[1] if person else stem
    low = stem.lower()
    subtype = "normal" if label == "NORMAL" else "bacteria" if "bacteria" in low else "virus" if "virus" in low else ""
    return subtype, patient


def _camera_group(row) -> str:
    """What must stay together: a camtrapR burst (station + minute), a Serengeti sequence, else the file alone."""
    parts = row["file"].split("/")
    if len(parts) > 3 and parts[1] == "camtrapR_sabah":
        m = re.search(r"__(\d{4}-\d{2}-\d{2})__(\d{2})-(\d{2})", parts[-1])
        return f"{parts[2]}@{m[1]}T{m[2]}:{m[3]}" if m else parts[2]
    m = re.search(r"seq_id=(\w+)", row.get("notes", "")) or re.search(r"sequence (\w+)", row["source_dataset"])
    return f"seq:{m[1]}" if m else f"{row['source_dataset']}|{row['file']}"


def _hymenoptera_rows(root: Path, task: str) -> pd.DataFrame:
    """Every image a group of its own (its file stem)."""
    df = read_rows(root)
    df = df.assign(group=[Path(f).stem for f in df["file"]])
    return df.assign(class_name=df["label"])


def _chest_xray_rows(root: Path, task: str) -> pd.DataFrame:
    """Grouped by patient (from labels.csv, else from the official file names); bacteria_vs_virus keeps only the
    pneumonia images, labelled by subtype."""
    df = read_rows(root)
    if "patient_id" not in df:
        meta = [_chest_meta(Path(f).stem, lab) for f, lab in zip(df["file"], df["label"])]
        df = df.assign(subtype=[m[0] for m in meta], patient_id=[m[1] for m in meta])
    df = df.assign(group=df["patient_id"])
    if task == "bacteria_vs_virus":
        df = df[df["label"] == "PNEUMONIA"]
        return df.assign(class_name=df["subtype"])
    return df.assign(class_name=df["label"])


def _camera_trap_rows(root: Path, task: str) -> pd.DataFrame:
    """Species (or empty vs animal) from labels.csv, which it needs, grouped by burst or sequence."""
    df = read_labels(root)
    if df is None:
        raise DataError(f"{root / 'labels.csv'} is missing, and the camera-trap labels live only there: "
                        "copy the folder again from the course data.")
    df = df[df["species"] != "unlabeled"]
    if task == "empty_vs_animal":  # a vehicle is neither: left out
        df = df[df["species"] != "vehicle"]
        df = df.assign(class_name=np.where(df["species"] == "empty", "empty", "animal"))
    else:
        df = df.assign(class_name=df["species"])
    return df.assign(group=[_camera_group(r) for r in df.to_dict("records")])


# No published checksum of these official archives is known to the kit, and none is invented:
# fetch_dataset then asks for checksum=... or trust_unverified=True.
for _spec in (
    DatasetSpec("hymenoptera", "hymenoptera", "Ants vs bees (PyTorch transfer-learning tutorial, an ImageNet "
                "subset): natural photos, close to the pretraining domain.",
                "https://download.pytorch.org/tutorial/hymenoptera_data.zip", None, "hymenoptera_data",
                "no explicit license; ImageNet subset - non-commercial research/education use",
                "S. Chilamkurthy, Transfer Learning for Computer Vision Tutorial, PyTorch Tutorials; Deng et al., "
                "ImageNet: A Large-Scale Hierarchical Image Database, CVPR 2009.", ("ants_vs_bees",),
                "https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html", rows=_hymenoptera_rows),
    DatasetSpec("chest_xray", "chest_xray", "Pediatric chest X-rays (Kermany et al. 2018), NORMAL vs PNEUMONIA "
                "(bacterial/viral), one image per patient: a far domain.", None, None, "chest_xray", "CC BY 4.0",
                "Kermany DS et al. (2018) Cell 172(5):1122-1131, doi:10.1016/j.cell.2018.02.010; Kermany D, Zhang K, "
                "Goldbaum M (2018) Mendeley Data v2, doi:10.17632/rscbjbr9sj.2",
                ("normal_vs_pneumonia", "bacteria_vs_virus"), "https://data.mendeley.com/datasets/rscbjbr9sj/2",
                rows=_chest_xray_rows),
    DatasetSpec("camera_traps", "camera_traps", "Small composite of real camera-trap images (camtrapR Sabah "
                "samples + LILA frames) with species, counts and a few boxes; bursts must not be split.",
                None, None, None, "CDLA-Permissive-1.0 (LILA images); GPL (>= 2) (camtrapR images)",
                "Swanson et al. (2015) Sci Data 2:150026; Beery et al. (2018) ECCV; Tabak et al. (2019) MEE 10(4); "
                "Niedballa et al. (2016) MEE 7(12); full list in camera_traps/DATASET.md",
                ("species", "empty_vs_animal"), "https://lila.science/datasets", rows=_camera_trap_rows),
    DatasetSpec("eurosat", "eurosat", "EuroSAT RGB (Helber et al. 2019): 64x64 Sentinel-2 patches, 10 land "
                "cover classes: a far domain (top-down, texture).",
                "https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip", None, "EuroSAT_RGB",
                "MIT (contains modified Copernicus Sentinel-2 data)", "Helber P, Bischke B, Dengel A, Borth D (2019) "
                "IEEE JSTARS 12(7):2217-2226, doi:10.1109/JSTARS.2019.2918242", ("landcover",),
                "https://github.com/phelber/EuroSAT"),
    # Confirmation sets (disjoint from the small ones): choose settings on the small set, confirm once here.
    DatasetSpec("eurosat_more", "eurosat_more", "1,500 more EuroSAT RGB tiles (150 per class), disjoint from "
                "`eurosat` by name and bytes, no split of their own: the confirmation set for the far domain.",
                "https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip", None, "EuroSAT_RGB",
                "MIT (contains modified Copernicus Sentinel-2 data)", "Helber P, Bischke B, Dengel A, Borth D (2019) "
                "IEEE JSTARS 12(7):2217-2226, doi:10.1109/JSTARS.2019.2918242", ("landcover",),
                "https://github.com/phelber/EuroSAT"),
    DatasetSpec("chest_xray_more", "chest_xray_more", "1,023 more pediatric chest X-rays (341 normal / bacterial / "
                "viral), disjoint from `chest_xray` by file and by patient, no split: group splits by patient.",
                None, None, "chest_xray", "CC BY 4.0",
                "Kermany DS et al. (2018) Cell 172(5):1122-1131, doi:10.1016/j.cell.2018.02.010; Kermany D, Zhang K, "
                "Goldbaum M (2018) Mendeley Data v2, doi:10.17632/rscbjbr9sj.2",
                ("normal_vs_pneumonia", "bacteria_vs_virus"), "https://data.mendeley.com/datasets/rscbjbr9sj/2",
                rows=_chest_xray_rows),
):
    register_dataset(_spec)
del _spec
