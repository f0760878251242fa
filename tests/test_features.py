"""Feature extraction with the content-keyed, atomically written cache."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from course_lib import features, models
from course_lib.errors import CourseLibError, ImageLoadError


@pytest.fixture()
def few_images(shared_datasets, tmp_path):
    """Eight real ant/bee photos copied to a folder the test may change."""
    src = sorted((shared_datasets / "hymenoptera/train/ants").glob("*.jpg"))[:4] + \
        sorted((shared_datasets / "hymenoptera/train/bees").glob("*.jpg"))[:4]
    paths = []
    for p in src:
        shutil.copy(p, tmp_path / p.name)
        paths.append(tmp_path / p.name)
    return paths


def test_cache_miss_then_hit_gives_identical_features(lite0, few_images, tmp_path):
    cache = tmp_path / "cache"
    first = features.extract_features(lite0, few_images, labels=[0] * 4 + [1] * 4, input_size=128,
                                      cache_dir=cache, progress=False)
    assert not first.from_cache and first.X.shape == (8, 1280) and first.X.dtype == np.float32
    second = features.extract_features(lite0, few_images, input_size=128, cache_dir=cache, progress=False)
    assert second.from_cache and second.key == first.key
    np.testing.assert_array_equal(first.X, second.X)
    assert not list(cache.rglob(".tmp-*")), "temporary files left behind"


def test_cache_invalidated_by_transform_weights_layers_and_file_content(lite0, few_images, tmp_path):
    cache = tmp_path / "cache"
    kw = dict(cache_dir=cache, progress=False)
    base = features.extract_features(lite0, few_images, input_size=128, **kw)
    assert features.extract_features(lite0, few_images, input_size=160, **kw).key != base.key
    random = models.load_model("tf_efficientnet_lite0", pretrained=False)
    assert features.extract_features(random, few_images, input_size=128, **kw).key != base.key
    assert features.extract_features(lite0, few_images, input_size=128, layers=["pooled", "blocks.3"], **kw).key != base.key
    from PIL import Image

    Image.open(few_images[0]).transpose(Image.FLIP_LEFT_RIGHT).save(few_images[0], quality=90)
    changed = features.extract_features(lite0, few_images, input_size=128, **kw)
    assert not changed.from_cache and changed.key != base.key
    assert not np.allclose(changed.X[0], base.X[0]) and np.allclose(changed.X[1:], base.X[1:], atol=1e-5)


def test_damaged_cache_file_is_recomputed(lite0, few_images, tmp_path):
    cache = tmp_path / "cache"
    first = features.extract_features(lite0, few_images, input_size=128, cache_dir=cache, progress=False)
    (cache_file,) = cache.rglob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    again = features.extract_features(lite0, few_images, input_size=128, cache_dir=cache, progress=False)
    assert not again.from_cache
    np.testing.assert_allclose(again.X, first.X, atol=1e-6)


def test_interrupted_write_leaves_no_cache(lite0, few_images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        features.extract_features(lite0, few_images, input_size=128, cache_dir=cache, progress=False)
    assert not list(cache.rglob("*")) or not [p for p in cache.rglob("*") if p.is_file()]


def test_stage_layers_and_bad_requests(lite0, few_images, tmp_path):
    feats = features.extract_features(lite0, few_images, layers=["blocks.1", "blocks.5", "pooled"], input_size=128,
                                      cache_dir=tmp_path, progress=False, batch_size=3)
    assert {k: v.shape[1] for k, v in feats.layers.items()} == {"blocks.1": 24, "blocks.5": 192, "pooled": 1280}
    assert feats.X is feats.layers["pooled"]
    with pytest.raises(CourseLibError, match="blocks.6"):
        features.extract_features(lite0, few_images, layers="block6", cache_dir=tmp_path, progress=False)
    with pytest.raises(CourseLibError, match="empty"):
        features.extract_features(lite0, [], cache_dir=tmp_path, progress=False)


def test_corrupt_image_is_named(lite0, few_images, tmp_path):
    broken = few_images[2]
    broken.write_bytes(broken.read_bytes()[:2000])
    with pytest.raises(ImageLoadError, match=broken.name):
        features.extract_features(lite0, few_images, input_size=128, cache_dir=tmp_path, progress=False)


def test_channels_last_gives_the_same_features(lite0, few_images, tmp_path):
    a = features.extract_features(lite0, few_images, input_size=128, channels_last=True, cache=False, progress=False)
    b = features.extract_features(lite0, few_images, input_size=128, channels_last=False, cache=False, progress=False)
    np.testing.assert_allclose(a.X, b.X, rtol=1e-3, atol=1e-3)
