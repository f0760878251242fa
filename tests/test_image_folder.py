"""data.image_folder: a learner's own folder or CSV, built here under tmp_path with PIL, plus the shared sets."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from course_lib import data, env
from course_lib.data import ImageFolderWarning
from course_lib.errors import DataError


def _img(path: Path, size=(48, 40), mode="RGB", seed=0, fmt=None) -> Path:
    """A small image whose pixels (hence bytes) differ per seed, so no two are accidental duplicates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray((rng.integers(0, 4096, (size[1], size[0]))).astype(np.uint16))
    elif mode == "P":
        im = rgb.convert("P")
    else:
        im = rgb.convert(mode)
    im.save(path, fmt)
    return path


def _messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ImageFolderWarning)]


def _one(messages: list[str], needle: str) -> str:
    hits = [m for m in messages if needle in m]
    assert len(hits) == 1, (needle, messages)
    return hits[0]


@pytest.fixture
def messy(tmp_path) -> Path:
    """3 classes with every kind of trouble: bad, hidden, non-image, tiny, wide, duplicate and odd-mode files."""
    root = tmp_path / "messy"
    for i in range(4):
        _img(root / "cats" / f"c{i}.jpg", seed=i)
        _img(root / "dogs" / f"d{i}.JPG", seed=10 + i, fmt="JPEG")  # upper-case suffix
        _img(root / "birds" / f"b{i}.png", seed=20 + i)
    _img(root / "cats" / "gray.png", mode="L", seed=30)
    _img(root / "cats" / "rgba.png", mode="RGBA", seed=31)
    _img(root / "dogs" / "cmyk.jpg", mode="CMYK", seed=32)
    _img(root / "dogs" / "deep.png", mode="I;16", seed=33)
    _img(root / "dogs" / "pal.gif", mode="P", seed=34)
    _img(root / "birds" / "tiny.png", size=(1, 1), seed=35)
    _img(root / "birds" / "wide.png", size=(400, 50), seed=36)
    (root / "empty_class").mkdir()
    # bad files
    blob = (root / "cats" / "c3.jpg").read_bytes()
    (root / "cats" / "truncated.jpg").write_bytes(blob[: len(blob) // 2])
    (root / "dogs" / "zero.jpg").write_bytes(b"")
    (root / "birds" / "garbage.png").write_bytes(b"not a picture" * 20)
    # duplicates: one within a class, one across classes (a label conflict)
    (root / "cats" / "c0_copy.jpg").write_bytes((root / "cats" / "c0.jpg").read_bytes())
    (root / "dogs" / "also_cat.jpg").write_bytes((root / "cats" / "c1.jpg").read_bytes())
    # ignored: hidden files and folders, macOS junk, non-images, a format Pillow cannot read
    (root / "cats" / ".DS_Store").write_bytes(b"\0" * 10)
    (root / "cats" / "._c0.jpg").write_bytes(b"\0" * 10)
    _img(root / ".thumbs" / "cats" / "t.jpg", seed=40)
    _img(root / "__MACOSX" / "cats" / "m.jpg", seed=41)
    (root / "cats" / "notes.txt").write_text("shot in my garden")
    (root / "README.md").write_text("my pets")
    (root / "dogs" / "phone.heic").write_bytes(b"\0" * 10)
    return root


EXPECTED = {"birds": 6, "cats": 7, "dogs": 8}  # good files only: 4 + odd modes/sizes + copies


def test_suffixes_come_from_pillow():
    s = data.image_suffixes()
    assert {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"} <= s
    assert all(x == x.lower() and x.startswith(".") for x in s)
    assert not {".pdf", ".mpg", ".grib", ".h5", ".txt", ".md"} & s


def test_messy_folder_counts_and_warnings(messy):
    with pytest.warns(ImageFolderWarning) as record:
        table = data.image_folder(messy)
    assert table.classes == ["birds", "cats", "dogs"] and table.class_counts().to_dict() == EXPECTED
    assert len(table) == 21 == len(table.frame) and table.labels.dtype == np.int64
    assert table.split is None and table.groups is None and table.name == "messy"
    assert [table.classes[i] for i in table.labels] == [p.parent.name for p in table.paths]
    names = {p.name for p in table.paths}
    assert not names & {"truncated.jpg", "zero.jpg", "garbage.png", "t.jpg", "m.jpg", "._c0.jpg", "phone.heic"}
    assert {"d0.JPG", "cmyk.jpg", "deep.png", "pal.gif", "gray.png", "rgba.png", "tiny.png"} <= names

    msgs = _messages(record)
    assert len(msgs) == 6, msgs
    bad = _one(msgs, "cannot be read")
    assert "3 of 24 image file(s)" in bad and "zero.jpg (zero bytes)" in bad and "on_bad='raise'" in bad
    assert "garbage.png (not an image Pillow recognises)" in bad
    assert "truncated.jpg (OSError: image file is truncated" in bad
    for f in ("cats/truncated.jpg", "dogs/zero.jpg", "birds/garbage.png"):
        assert str(messy / f) in bad
    assert sorted(Path(p).name for p, _ in table.frame.attrs["skipped"]) == ["garbage.png", "truncated.jpg",
                                                                             "zero.jpg"]
    empty = _one(msgs, "no readable image")
    assert "empty_class/" in empty and "['empty_class'] are therefore left out of `classes`" in empty
    assert "{'.heic': 1}" in _one(msgs, "formats this Pillow cannot read")


def test_sizes_are_measured_and_odd_ones_flagged(messy):
    with pytest.warns(ImageFolderWarning) as record:
        table = data.image_folder(messy)
    f = table.frame.set_index(table.frame["path"].map(lambda p: Path(p).name))
    assert (f.loc["wide.png", "width"], f.loc["wide.png", "height"]) == (400, 50)
    assert (f.loc["tiny.png", "width"], f.loc["tiny.png", "height"]) == (1, 1)
    assert (f.loc["c0.jpg", "width"], f.loc["c0.jpg", "height"]) == (48, 40)
    odd = _one(_messages(record), "odd image sizes")
    assert f"{messy / 'birds' / 'tiny.png'} (1x1)" in odd and "smaller than 32 px" in odd
    assert f"{messy / 'birds' / 'wide.png'} (400x50)" in odd and "beyond 4:1" in odd
    assert "c0.jpg" not in odd and "kept" in odd


def test_duplicates_and_label_conflicts(messy):
    with pytest.warns(ImageFolderWarning) as record:
        table = data.image_folder(messy)
    dup = dict(zip(table.frame["path"], table.frame["duplicate_of"]))
    assert dup[str(messy / "cats" / "c0_copy.jpg")] == str(messy / "cats" / "c0.jpg")
    assert dup[str(messy / "dogs" / "also_cat.jpg")] == str(messy / "cats" / "c1.jpg")
    assert dup[str(messy / "cats" / "c0.jpg")] is None and table.frame["duplicate_of"].notna().sum() == 2
    msgs = _messages(record)
    copies = _one(msgs, "byte-identical")
    assert "2 set(s)" in copies and "LogME" in copies and "duplicate_of" in copies
    assert f"[{messy / 'cats' / 'c0.jpg'} = {messy / 'cats' / 'c0_copy.jpg'}]" in copies
    conflict = _one(msgs, "label conflict")
    assert "also_cat.jpg ('dogs')" in conflict and "c1.jpg ('cats')" in conflict and "c0_copy" not in conflict
    assert len(table.subset(table.frame["duplicate_of"].isna())) == 19


def test_on_bad_raise_lists_the_files(messy):
    with pytest.raises(DataError) as info:
        data.image_folder(messy, on_bad="raise")
    msg = str(info.value)
    assert "3 of 24 image file(s)" in msg and "on_bad='skip'" in msg
    assert "truncated.jpg" in msg and "zero.jpg (zero bytes)" in msg and "garbage.png" in msg
    with pytest.raises(DataError, match="on_bad='ignore'.*'skip'.*'raise'"):
        data.image_folder(messy, on_bad="ignore")


def test_every_mode_loads_through_the_kit(messy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageFolderWarning)
        table = data.image_folder(messy)
    ds = data.ImageDataset(table)
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape[0] == 3 and x.dtype == torch.float32 and y == table.labels[i]
    deep = next(i for i, p in enumerate(table.paths) if p.name == "deep.png")
    assert float(ds[deep][0].max()) > 0.9  # 16-bit scaled by its range, not clipped to white


def test_splits_work_and_features_extract(messy, lite0):
    from course_lib import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageFolderWarning)
        table = data.image_folder(messy)
    tr, va = data.stratified_split(table, val_fraction=0.3, seed=0)
    data.assert_no_leak(tr, va)
    assert len(tr) + len(va) == 21 and set(va.class_counts()) >= {2} and min(va.class_counts()) >= 1
    with pytest.raises(DataError, match="leak"):
        data.assert_no_leak(tr, table)
    small = data.subsample_per_class(table, 3, seed=0)  # 9 images, features of the real offline Lite0
    feats = features.extract_features(lite0, small, batch_size=9, cache=False, progress=False, input_size=64)
    assert feats.X.shape == (9, 1280) and np.isfinite(feats.X).all()
    assert (feats.labels == small.labels).all()


def test_train_val_test_folders_at_any_depth(tmp_path):
    root = tmp_path / "project"
    n = {"train": 3, "validation": 2, "test": 1}
    for k, (split, count) in enumerate(n.items()):
        for c in ("ants", "bees"):
            for i in range(count):
                _img(root / "data" / split / c / f"{c}{i}.png", seed=100 * k + 10 * (c == "bees") + i)
    _img(root / "data" / "train" / "stray.png", seed=999)
    with pytest.warns(ImageFolderWarning, match=r"1 image\(s\) sit directly in .*train/stray.png.*Move them"):
        table = data.image_folder(root)
    assert table.classes == ["ants", "bees"] and len(table) == 12
    assert pd.Series(table.split).value_counts().to_dict() == {"train": 6, "val": 4, "test": 2}
    assert list(table.frame["split"]) == list(table.split)
    val = table.subset(table.split == "val")
    assert val.class_counts().to_dict() == {"ants": 2, "bees": 2}
    assert all(p.parent.parent.name == "validation" for p in val.paths)
    train = table.subset(table.split == "train")
    data.assert_no_leak(train, val)


def test_csv_with_groups(tmp_path):
    root = tmp_path / "clinic"
    rows = []
    for c, cls in enumerate(("healthy", "sick")):
        for patient in range(4):
            for shot in range(2):
                f = _img(root / "img" / f"{cls}_p{patient}_{shot}.png", seed=100 * c + 10 * patient + shot)
                rows.append({"file": f"img/{f.name}" if shot == 0 else str(f), "label": cls,
                             "group": f"{cls}-p{patient}", "site": f"s{patient % 2}"})
    rows.append({"file": "img/gone.png", "label": "sick", "group": "x", "site": "s0"})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    with pytest.warns(ImageFolderWarning, match=r"1 of 17 image file\(s\).*gone.png \(missing\)"):
        table = data.image_folder(root / "labels.csv")
    assert table.name == "clinic" and table.classes == ["healthy", "sick"] and len(table) == 16
    assert table.split is None and {"file", "label", "group", "site", "width", "height"} <= set(table.frame)
    assert list(table.groups) == list(table.frame["group"]) and len(set(table.groups)) == 8
    tr, va = data.group_split(table, val_fraction=0.25, seed=0)
    assert not set(tr.groups) & set(va.groups)
    data.assert_no_leak(tr, va)

    with pytest.warns(ImageFolderWarning):
        by_site = data.image_folder(root, labels=root / "labels.csv", groups="site")
    assert sorted(set(by_site.groups)) == ["s0", "s1"]
    with pytest.raises(DataError, match=r"groups='patient' is not a CSV column.*'site'"):
        data.image_folder(root / "labels.csv", groups="patient")


def test_csv_relative_to_folder_split_column_and_errors(tmp_path):
    imgs, meta = tmp_path / "pictures", tmp_path / "meta"
    for i in range(3):
        for c in ("a", "b"):
            _img(imgs / f"{c}{i}.png", seed=10 * (c == "b") + i)
    meta.mkdir()
    pd.DataFrame({"file": [f"{c}{i}.png" for c in "ab" for i in range(3)], "kind": list("aaabbb"),
                  "split": ["train", "train", "valid", "train", "test", ""]}).to_csv(meta / "list.csv", index=False)
    table = data.image_folder(imgs, labels=meta / "list.csv", label_column="kind",
                              groups=lambda p: p.stem[0])
    assert table.classes == ["a", "b"] and list(table.split) == ["train", "train", "val", "train", "test", None]
    assert list(table.groups) == list("aaabbb") and table.name == "list"
    with pytest.raises(DataError, match=r"no column\(s\) \['label'\].*\['file', 'kind', 'split'\].*label_column"):
        data.image_folder(meta / "list.csv")
    with pytest.raises(DataError, match=r"no image files in .*pictures \(6 image\(s\) sit directly in.*a0.png.*"
                                        r"Move them into a <class>/ folder"):
        data.image_folder(imgs)  # a flat folder without its CSV: no classes
    for c in "ab":
        for i in range(2):
            _img(tmp_path / "tree" / c / f"{i}.png", seed=50 + 10 * (c == "b") + i)
    with pytest.raises(DataError, match="is not a CSV column.*folders.*lambda p"):
        data.image_folder(tmp_path / "tree", groups="site")
    with pytest.raises(DataError, match="neither a folder nor a CSV"):
        data.image_folder(tmp_path / "nowhere")


def test_fewer_than_two_classes_says_what_it_found(tmp_path):
    root = tmp_path / "one"
    for i in range(3):
        _img(root / "cats" / f"{i}.png", seed=i)
    (root / "dogs").mkdir()
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    with pytest.raises(DataError) as info:
        data.image_folder(root)
    msg = str(info.value)
    assert "1 class(es) with readable images ['cats']" in msg and "3 readable and 1 bad" in msg
    assert "empty: dogs/" in msg and "at least 2" in msg
    (tmp_path / "nothing" / "a").mkdir(parents=True)
    (tmp_path / "nothing" / "a" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no image files in .*nothing.*<class>/<image>"):
        data.image_folder(tmp_path / "nothing")


# --------------------------------------------------------------------------- shared sets
def test_hymenoptera_as_a_plain_folder():
    root = env.data_dir() / "hymenoptera"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageFolderWarning)  # a clean set: not a single warning
        table = data.image_folder(root)
    assert table.classes == ["ants", "bees"] and len(table) == 397
    assert table.class_counts().to_dict() == {"ants": 193, "bees": 204}
    assert pd.Series(table.split).value_counts().to_dict() == {"train": 244, "val": 153}
    assert table.frame["duplicate_of"].isna().all() and table.frame.attrs["skipped"] == []
    assert np.minimum(table.frame["width"], table.frame["height"]).max() <= 256  # DATASET.md: shorter side <= 256
    official = data.load_dataset("hymenoptera")
    assert sorted(map(str, table.paths)) == sorted(map(str, official.paths))
    assert [official.classes[i] for i in official.labels] == [table.classes[i] for i in table.labels]
    train = table.subset(table.split == "train")
    assert train.class_counts().to_dict() == {"ants": 123, "bees": 121}
    data.assert_no_leak(train, table.subset(table.split == "val"))
