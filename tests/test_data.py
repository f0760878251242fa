"""course_lib.data on the real shared data sets, plus synthetic odd images and an offline (file://) download."""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from course_lib import data
from course_lib.errors import CourseLibError, DataError, ImageLoadError, UnknownNameError


@pytest.fixture(autouse=True)
def _real_data(shared_datasets, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_datasets))


@pytest.fixture(scope="module")
def lite0_cfg():
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False).pretrained_cfg


def _jpeg(path: Path, size=(32, 24), color=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")
    return path


# --------------------------------------------------------------------------- registry
def test_registry_lists_the_four_data_sets():
    assert data.list_datasets() == ["camera_traps", "chest_xray", "chest_xray_more", "eurosat", "eurosat_more",
                                    "hymenoptera"]
    assert data.list_datasets("c*") == ["camera_traps", "chest_xray", "chest_xray_more"]
    spec = data.get_dataset_spec("hymenoptera")
    assert spec.url == "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
    assert spec.tasks[0] == "ants_vs_bees" and spec.archive_root == "hymenoptera_data"
    assert data.get_dataset_spec("chest_xray").tasks == ("normal_vs_pneumonia", "bacteria_vs_virus")
    assert data.get_dataset_spec("eurosat").url.startswith("https://zenodo.org/records/7711810/")


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(UnknownNameError, match="'hymenoptera'") as info:
        data.get_dataset_spec("hymenoptra")
    assert isinstance(info.value, CourseLibError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError, match="bacteria_vs_virus"):
        data.load_dataset("chest_xray", task="bacteria_vs_virs")


def test_register_refuses_duplicates_and_bad_checksums(monkeypatch):
    monkeypatch.setattr(data.registry, "DATASETS", data.registry.DATASETS.copy())  # where register_dataset looks
    spec = data.DatasetSpec("tiny", "tiny", "d", None, "md5:" + "a" * 32, None, "MIT", "c", ("t",))
    assert data.register_dataset(spec) is spec and "tiny" in data.list_datasets("t*")
    with pytest.raises(DataError, match="already registered"):
        data.register_dataset(spec)
    with pytest.raises(DataError, match="sha256"):
        data.register_dataset(data.DatasetSpec("tiny2", "t", "d", None, "sha256:abc", None, "", "", ("t",)))
    with pytest.raises(DataError, match="task"):
        data.register_dataset(data.DatasetSpec("x", "x", "d", None, None, None, "", "", ()))


def test_dataset_root_missing_says_where_and_how(tmp_path, monkeypatch, shared_datasets):
    assert data.dataset_root("eurosat") == shared_datasets.resolve() / "eurosat"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as info:
        data.load_dataset("hymenoptera")
    msg = str(info.value)
    assert str(tmp_path / "hymenoptera") in msg and "COURSE_DATA_DIR" in msg
    assert "python -m course_lib fetch-data hymenoptera" in msg


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize("name,task,split,n", [
    ("hymenoptera", None, None, 397), ("hymenoptera", None, "train", 244), ("hymenoptera", None, "val", 153),
    ("chest_xray", None, None, 120), ("chest_xray", None, "train", 90), ("chest_xray", "bacteria_vs_virus", None, 60),
    ("camera_traps", None, None, 94), ("camera_traps", "species", "train", 75), ("camera_traps", None, "val", 19),
    ("camera_traps", "empty_vs_animal", None, 93), ("eurosat", None, None, 500), ("eurosat", None, "val", 150),
    ("eurosat_more", None, None, 1500), ("chest_xray_more", None, None, 1023),
    ("chest_xray_more", "bacteria_vs_virus", None, 682),
])
def test_counts_match_dataset_md(name, task, split, n):
    table = data.load_dataset(name, task, split)
    assert len(table) == n == len(table.labels) == len(table.frame)
    if split is not None:
        assert set(table.split) == {split}


def test_class_counts_per_class():
    assert data.load_dataset("hymenoptera", split="train").class_counts().to_dict() == {"ants": 123, "bees": 121}
    assert data.load_dataset("hymenoptera", split="val").class_counts().to_dict() == {"ants": 70, "bees": 83}
    bv = data.load_dataset("chest_xray", "bacteria_vs_virus")
    assert bv.class_counts().to_dict() == {"bacteria": 30, "virus": 30}
    counts = data.load_dataset("camera_traps").class_counts()
    assert counts["leopard_cat"] == 26 and counts["mouse-deer"] == 17 and "unlabeled" not in counts
    assert data.load_dataset("camera_traps", "empty_vs_animal").class_counts().to_dict() == {"animal": 90, "empty": 3}
    ec = data.load_dataset("eurosat", split="train").class_counts()
    assert len(ec) == 10 and set(ec) == {35}


def test_table_fields():
    table = data.load_dataset("chest_xray")
    assert table.classes == ["NORMAL", "PNEUMONIA"] and table.labels.dtype == np.int64
    assert all(p.is_absolute() and p.is_file() for p in table.paths)
    assert list(table.groups) == list(table.frame["patient_id"])
    assert {"path", "subtype", "patient_id", "split"} <= set(table.frame.columns)
    for i in (0, 70, 119):  # label id, class name and folder agree
        assert table.classes[table.labels[i]] == table.paths[i].parent.name
    sub = table.subset([5, 3])
    assert sub.paths == [table.paths[5], table.paths[3]] and sub.frame["path"][0] == str(table.paths[5])
    assert sub.classes == table.classes and len(table.subset(table.labels == 0)) == 60
    eu = data.load_dataset("eurosat")
    assert eu.classes == sorted(eu.classes) and eu.classes[0] == "AnnualCrop"


def test_val_table_keeps_all_classes_and_counts_zero():
    val = data.load_dataset("camera_traps", split="val")
    full = data.load_dataset("camera_traps")
    assert val.classes == full.classes
    counts = val.class_counts()
    assert counts["aardwolf"] == 0 and counts.sum() == 19 and len(counts) == len(full.classes)


def test_camera_trap_groups_are_bursts_and_sequences():
    table = data.load_dataset("camera_traps")
    group = dict(zip((p.name for p in table.paths), table.groups))
    burst = [f"StationB__2009-04-28__17-48-00({i}).JPG" for i in (1, 2, 3)]
    assert len({group[b] for b in burst}) == 1
    assert group["StationB__2009-04-28__17-47-00(1).JPG"] != group[burst[0]]
    assert group["S1_E03_R3_PICT0038.jpeg"] == group["S1_E03_R3_PICT0039.jpeg"] != group["S1_E03_R3_PICT0040.jpeg"]
    assert group["blank2.jpg"] != group["blank3.jpg"]
    train = data.load_dataset("camera_traps", split="train")
    data.assert_no_leak(train, data.load_dataset("camera_traps", split="val"))  # the data set's own split is clean


def test_drop_rare_relabels_consistently():
    table = data.load_dataset("camera_traps").drop_rare(3)
    assert table.classes == ["empty", "hippopotamus", "leopard_cat", "malay_civet", "moonrat", "mouse-deer",
                             "pig-tailed_macaque"]
    names = [table.classes[i] for i in table.labels]
    assert names == list(table.frame["species"]) and len(table) == 74


# --------------------------------------------------------------------------- splits
def test_stratified_split_is_deterministic_and_stratified():
    table = data.load_dataset("eurosat")
    tr, va = data.stratified_split(table, val_fraction=0.3, seed=0)
    tr2, va2 = data.stratified_split(table, val_fraction=0.3, seed=0)
    _, va3 = data.stratified_split(table, val_fraction=0.3, seed=1)
    assert va.paths == va2.paths and tr.paths == tr2.paths and va.paths != va3.paths
    assert set(va.class_counts()) == {15} and set(tr.class_counts()) == {35}
    assert len(set(tr.paths) | set(va.paths)) == 500
    data.assert_no_leak(tr, va)


@pytest.mark.parametrize("name,task", [("chest_xray", "normal_vs_pneumonia"), ("chest_xray", "bacteria_vs_virus"),
                                       ("camera_traps", "species")])
def test_group_split_never_shares_a_group(name, task, recwarn):
    table = data.load_dataset(name, task).drop_rare(2)
    tr, va = data.group_split(table, val_fraction=0.25, seed=0)
    assert not set(tr.groups) & set(va.groups)
    assert len(tr) + len(va) == len(table) and 0.1 < len(va) / len(table) < 0.45
    data.assert_no_leak(tr, va)
    tr2, va2 = data.group_split(table, val_fraction=0.25, seed=0)
    _, va3 = data.group_split(table, val_fraction=0.25, seed=1)
    assert va.paths == va2.paths and va.paths != va3.paths


@pytest.mark.filterwarnings("ignore:class.*one side only")
def test_group_split_keeps_bursts_together():
    table = data.load_dataset("camera_traps").drop_rare(2)
    for seed in range(3):
        tr, va = data.group_split(table, seed=seed)
        for side in (tr, va):
            names = {p.name for p in side.paths}
            inside = {f"StationB__2009-04-28__17-48-00({i}).JPG" for i in (1, 2, 3)} & names
            assert len(inside) in (0, 3)


def test_assert_no_leak_catches_files_and_groups():
    table = data.load_dataset("chest_xray")
    with pytest.raises(DataError, match=table.paths[2].name):
        data.assert_no_leak(table.subset([0, 1, 2]), table.subset([2, 3, 4]))
    tr, va = table.subset([0, 1]), table.subset([3, 4])
    data.assert_no_leak(tr, va)
    va.groups = va.groups.copy()
    va.groups[1] = tr.groups[0]
    with pytest.raises(DataError, match=f"group.*{tr.groups[0]}"):
        data.assert_no_leak(tr, va)


def test_too_few_images_for_a_split_names_the_class():
    table = data.load_dataset("camera_traps")
    with pytest.raises(DataError, match=r"class 'aardwolf' has only 1 image.*drop_rare"):
        data.stratified_split(table)
    with pytest.raises(DataError, match="aardwolf"):
        data.group_split(table)
    hym = data.load_dataset("hymenoptera", split="train")
    with pytest.raises(DataError, match=r"'bees' has only 121 image.*Lower n_per_class"):
        data.subsample_per_class(hym, 122)


def test_empty_class_is_refused():
    val = data.load_dataset("camera_traps", split="val")  # keeps all classes, most with 0 images here
    for split in (data.stratified_split, data.group_split):
        with pytest.raises(DataError, match="no images"):
            split(val)
    with pytest.raises(DataError, match="no images"):
        data.subsample_per_class(val, 1)


def test_subsample_per_class():
    table = data.load_dataset("eurosat")
    a = data.subsample_per_class(table, 5, seed=0)
    assert set(a.class_counts()) == {5} and len(a) == 50
    assert a.paths == data.subsample_per_class(table, 5, seed=0).paths
    assert a.paths != data.subsample_per_class(table, 5, seed=1).paths


# --------------------------------------------------------------------------- images
def test_open_image_modes(tmp_path):
    Image.new("L", (10, 8), 77).save(tmp_path / "gray.png")
    im = data.open_image(tmp_path / "gray.png")
    assert im.mode == "RGB" and im.size == (10, 8) and im.getpixel((0, 0)) == (77, 77, 77)

    rgba = Image.new("RGBA", (10, 8), (255, 0, 0, 0))
    rgba.putpixel((1, 1), (0, 0, 255, 255))
    rgba.save(tmp_path / "rgba.png")
    im = data.open_image(tmp_path / "rgba.png")
    assert im.getpixel((0, 0)) == (255, 255, 255) and im.getpixel((1, 1)) == (0, 0, 255)

    pal = Image.new("P", (10, 8), 0)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.putpixel((2, 2), 1)
    pal.save(tmp_path / "pal.png", transparency=0)
    im = data.open_image(tmp_path / "pal.png")
    assert im.mode == "RGB" and im.getpixel((0, 0)) == (255, 255, 255) and im.getpixel((2, 2)) == (0, 200, 0)

    Image.new("CMYK", (12, 9), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", "JPEG")
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    im = data.open_image(tmp_path / "cmyk.jpg")
    r, g, b = im.getpixel((5, 5))
    assert im.mode == "RGB" and im.size == (12, 9) and r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("kind", ["png16", "tiff16b", "float", "int32"])
def test_open_image_high_bit_depth_is_scaled_not_clipped(tmp_path, kind):
    ramp = np.tile(np.linspace(0, 4095, 64), (16, 1))
    if kind == "png16":
        Image.fromarray(ramp.astype(np.uint16)).save(path := tmp_path / "x.png")
    elif kind == "tiff16b":
        Image.frombytes("I;16B", (64, 16), ramp.astype(">u2").tobytes()).save(path := tmp_path / "x.tif")
    elif kind == "float":
        Image.fromarray((ramp / 4095 * 2 - 1).astype(np.float32)).save(path := tmp_path / "x.tif")
    else:
        Image.fromarray((ramp * 1000).astype(np.int32)).save(path := tmp_path / "x.tif")
    a = np.asarray(data.open_image(path))
    assert a.shape == (16, 64, 3) and a.dtype == np.uint8
    assert a[0, 0, 0] == 0 and a[0, -1, 0] == 255 and 120 <= a[0, 32, 0] <= 135
    assert (a[..., 0] == a[..., 2]).all()


def test_open_image_applies_exif_orientation(tmp_path):
    im = Image.new("RGB", (40, 20), (10, 120, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert Image.open(tmp_path / "rot.jpg").size == (40, 20)
    assert data.open_image(tmp_path / "rot.jpg").size == (20, 40)


def _bad_files(tmp_path, shared_datasets):
    real = sorted((shared_datasets / "hymenoptera" / "train" / "ants").glob("*.jpg"))[0]
    blob = real.read_bytes()
    truncated = tmp_path / "half_ant.jpg"
    truncated.write_bytes(blob[: len(blob) // 2])
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all" * 10)
    return real, truncated, garbage


def test_open_image_refuses_broken_files(tmp_path, shared_datasets):
    real, truncated, garbage = _bad_files(tmp_path, shared_datasets)
    assert data.open_image(real).mode == "RGB"
    for bad in (truncated, garbage):
        with pytest.raises(ImageLoadError, match=bad.name) as info:
            data.open_image(bad)
        assert "re-download" in str(info.value)
    with pytest.raises(ImageLoadError, match="does not exist"):
        data.open_image(tmp_path / "nope.jpg")
    from PIL import ImageFile
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    assert [p for p, _ in data.scan_images([real, truncated, garbage])] == [truncated, garbage]


def test_image_dataset_and_skip_bad(tmp_path, shared_datasets):
    real, truncated, garbage = _bad_files(tmp_path, shared_datasets)
    paths = [real, truncated, _jpeg(tmp_path / "bee.jpg"), garbage]
    table = data.ImageTable("t", "t", paths, np.array([0, 0, 1, 1]), ["ants", "bees"], None, None,
                            pd.DataFrame({"path": [str(p) for p in paths]}))
    ds = data.ImageDataset(table)
    x, y = ds[2]
    assert len(ds) == 4 and x.shape == (3, 24, 32) and x.dtype == torch.float32 and y == 1
    with pytest.raises(ImageLoadError, match="half_ant.jpg"):
        ds[1]
    with pytest.warns(UserWarning, match="half_ant.jpg.*garbage.png"):
        ok = data.ImageDataset(table, transform=lambda im: torch.zeros(3, 4, 4), skip_bad=True)
    assert len(ok) == 2 and ok.skipped == [truncated, garbage]
    assert [ok[i][1] for i in range(2)] == [0, 1] and ok[0][0].shape == (3, 4, 4)


# --------------------------------------------------------------------------- transforms
def test_data_config_from_cfg_and_model(lite0_cfg):
    import timm

    cfg = data.data_config(lite0_cfg, input_size=160)
    assert cfg["input_size"] == (3, 160, 160) and cfg["mean"] == tuple(lite0_cfg["mean"]) == (0.5, 0.5, 0.5)
    assert cfg["interpolation"] == "bicubic" and lite0_cfg["input_size"] == (3, 224, 224)  # input not mutated
    model = timm.create_model("resnet18", pretrained=False)
    assert data.data_config(model)["mean"] == (0.485, 0.456, 0.406)
    with pytest.raises(CourseLibError):
        data.data_config("tf_efficientnet_lite0")


def test_eval_transform_uses_the_models_size_and_normalisation(lite0_cfg, shared_datasets, tmp_path):
    tf = data.eval_transform(lite0_cfg, input_size=160)
    img = data.open_image(next((shared_datasets / "hymenoptera" / "val" / "bees").glob("*.jpg")))
    assert tf(img).shape == (3, 160, 160)
    white = Image.new("RGB", (64, 64), (255, 255, 255))
    assert torch.allclose(tf(white), torch.ones(3, 160, 160))  # (1 - 0.5) / 0.5
    imagenet = {"input_size": (3, 224, 224), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                "interpolation": "bilinear", "crop_pct": 0.875}
    out = data.eval_transform(imagenet)(white)
    assert out.shape == (3, 224, 224) and abs(out[0, 0, 0].item() - (1 - 0.485) / 0.229) < 1e-4


def test_train_transform_augments_with_model_stats(lite0_cfg, shared_datasets):
    tf = data.train_transform(lite0_cfg, input_size=160)
    img = data.open_image(next((shared_datasets / "hymenoptera" / "train" / "ants").glob("*.jpg")))
    torch.manual_seed(0)
    a, b = tf(img), tf(img)
    assert a.shape == b.shape == (3, 160, 160) and not torch.equal(a, b)
    assert -1.0001 <= a.min() and a.max() <= 1.0001  # mean/std 0.5 puts every pixel in [-1, 1]
    white = tf(Image.new("RGB", (200, 200), (255, 255, 255)))
    assert white.mean() > 0.8  # mild jitter only


# --------------------------------------------------------------------------- download (offline, file://)
HYM_FILES = ("train/ants/a.jpg", "train/bees/b.jpg", "val/ants/c.jpg", "val/bees/d.jpg")


def _archive(tmp_path: Path, kind: str = "zip", root: str = "hymenoptera_data", files=HYM_FILES) -> Path:
    src = tmp_path / "src"
    for rel in files:
        _jpeg(src / root / rel)
    if kind == "zip":
        out = tmp_path / "pack.zip"
        with zipfile.ZipFile(out, "w") as zf:
            for p in sorted(src.rglob("*.jpg")):
                zf.write(p, p.relative_to(src).as_posix())
    else:
        out = tmp_path / "pack.tar.gz"
        with tarfile.open(out, "w:gz") as tf:
            tf.add(src / root, arcname=root)
    shutil.rmtree(src)
    return out


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_dataset_from_file_url(tmp_path):
    archive = _archive(tmp_path)
    dest = tmp_path / "data"
    got = data.fetch_dataset("hymenoptera", dest=dest, url=archive.as_uri(), checksum=_sha256(archive))
    assert got == dest.resolve() / "hymenoptera" and (got / "train" / "ants" / "a.jpg").is_file()
    assert [p.name for p in dest.iterdir()] == ["hymenoptera"]  # no temp folder left behind
    table = data.load_dataset("hymenoptera", root=got)
    assert len(table) == 4 and list(table.split) == ["train", "train", "val", "val"]
    # already present: a no-op, even with a URL that does not exist
    assert data.fetch_dataset("hymenoptera", dest=dest, url=(tmp_path / "missing.zip").as_uri()) == got


def test_fetch_dataset_checksum_mismatch_leaves_nothing(tmp_path):
    archive = _archive(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch"):
        data.fetch_dataset("hymenoptera", dest=dest, url=archive.as_uri(), checksum="sha256:" + "0" * 64)
    assert list(dest.iterdir()) == []
    md5 = "md5:" + hashlib.md5(archive.read_bytes()).hexdigest()
    assert (data.fetch_dataset("hymenoptera", dest=dest, url=archive.as_uri(), checksum=md5) / "val").is_dir()


def test_fetch_dataset_needs_checksum_or_explicit_trust(tmp_path):
    archive = _archive(tmp_path, "tar", root="EuroSAT_RGB", files=("Forest/Forest_1.jpg", "River/River_7.jpg"))
    with pytest.raises(DataError, match="trust_unverified"):
        data.fetch_dataset("eurosat", dest=tmp_path / "d", url=archive.as_uri())
    assert not (tmp_path / "d" / "eurosat").exists()
    got = data.fetch_dataset("eurosat", dest=tmp_path / "d", url=archive.as_uri(), trust_unverified=True)
    table = data.load_dataset("eurosat", root=got)
    assert table.classes == ["Forest", "River"] and table.split is None and table.groups is None
    with pytest.warns(UserWarning, match="seeded one"), pytest.raises(DataError, match="only 1 image"):
        data.load_dataset("eurosat", split="train", root=got)     # a kit split, but one tile per class is too few
    with pytest.raises(DataError, match="lila.science"):
        data.fetch_dataset("camera_traps", dest=tmp_path / "d")


def test_fetch_dataset_refuses_unsafe_archive(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("hymenoptera_data/ok.txt", "x")
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(DataError, match="outside"):
        data.fetch_dataset("hymenoptera", dest=tmp_path / "d", url=evil.as_uri(), checksum=_sha256(evil))
    assert not (tmp_path / "escaped.txt").exists() and list((tmp_path / "d").iterdir()) == []


def test_official_layout_without_labels_csv(tmp_path):
    root = tmp_path / "chest_xray"
    for rel in ("train/NORMAL/IM-0117-0001.jpeg", "train/NORMAL/NORMAL2-IM-0389-0001.jpeg",
                "train/PNEUMONIA/person1_bacteria_1.jpeg", "test/PNEUMONIA/person2_virus_3.jpeg",
                "test/PNEUMONIA/person2_virus_4.jpeg"):
        _jpeg(root / rel)
    table = data.load_dataset("chest_xray", root=root)
    assert table.class_counts().to_dict() == {"NORMAL": 2, "PNEUMONIA": 3}
    assert sorted(set(table.groups)) == ["0117", "NORMAL2-0389", "person1", "person2"]
    assert list(data.load_dataset("chest_xray", split="val", root=root).groups) == ["person2", "person2"]
    bv = data.load_dataset("chest_xray", "bacteria_vs_virus", root=root)
    assert bv.classes == ["bacteria", "virus"]
    assert {p.stem: bv.classes[i] for p, i in zip(bv.paths, bv.labels)} == {
        "person1_bacteria_1": "bacteria", "person2_virus_3": "virus", "person2_virus_4": "virus"}


def test_a_copy_without_its_own_split_gets_a_seeded_one_not_an_error(tmp_path, shared_datasets):
    """The official EuroSAT archive has no labels.csv: asking for 'train' or 'val' makes a seeded stratified split
    (grouped where there are groups) with a warning, the same every time."""
    import shutil

    root = tmp_path / "eurosat"
    shutil.copytree(shared_datasets / "eurosat", root, ignore=shutil.ignore_patterns("labels.csv"))
    with pytest.warns(UserWarning, match="seeded one"):
        tr = data.load_dataset("eurosat", split="train", root=root)
    with pytest.warns(UserWarning):
        va = data.load_dataset("eurosat", split="val", root=root)
    assert (len(tr), len(va)) == (350, 150) and set(tr.split) == {"train"} and set(va.split) == {"val"}
    assert (va.class_counts() == 15).all() and tr.classes == va.classes
    data.assert_no_leak(tr, va)
    with pytest.warns(UserWarning):
        again = data.load_dataset("eurosat", split="val", root=root)
    assert [p.name for p in again.paths] == [p.name for p in va.paths]


def test_a_registered_data_set_brings_its_own_groups(tmp_path, monkeypatch):
    """A spec's ``rows`` logic adds the groups (here: the site in the file name), so a data set registered from
    outside the kit is grouped like chest_xray or camera_traps: load_dataset carries them, group_split keeps them
    together."""
    for i in range(12):
        _jpeg(tmp_path / "sites" / ("cat" if i % 2 else "dog") / f"site{i // 2}_{i}.jpg", color=(20 * i, 40, 90))

    def site_rows(root: Path, task: str) -> pd.DataFrame:
        df = data.read_rows(root)
        return df.assign(class_name=df["label"], group=[Path(f).stem.split("_")[0] for f in df["file"]])

    monkeypatch.setattr(data.registry, "DATASETS", data.registry.DATASETS.copy())
    data.register_dataset(data.DatasetSpec("sites", "sites", "cats and dogs by site", None, None, None, "CC0", "none",
                                           ("cat_vs_dog",), rows=site_rows))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    table = data.load_dataset("sites")
    assert table.classes == ["cat", "dog"] and len(table) == 12 and table.split is None
    assert sorted(set(table.groups)) == [f"site{k}" for k in range(6)]
    assert list(table.frame["group"]) == list(table.groups)
    train, val = data.group_split(table, 0.5, seed=0)
    data.assert_no_leak(train, val)
    assert not set(train.groups) & set(val.groups) and len(train) + len(val) == 12
    with pytest.warns(UserWarning, match="grouped"):  # no split of its own: the kit's seeded split, by group
        val_part = data.load_dataset("sites", split="val")
    assert set(val_part.split) == {"val"} and set(val_part.groups) <= set(table.groups)
