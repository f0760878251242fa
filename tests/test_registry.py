"""The one registry class: refusing taken names, filtering, close-name errors, lazy filling; every kit registry uses it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from course_lib import claims, data, models, wildlife
from course_lib._registry import Registry, natural_key
from course_lib.errors import CourseLibError, DataError, UnknownNameError


@dataclass(frozen=True)
class Thing:
    name: str
    size: int = 0


def test_register_get_and_refuse_a_taken_name():
    reg = Registry("thing", "things.list()")
    a = reg.register(Thing("lite2"))
    assert reg["lite2"] is a and "lite2" in reg and len(reg) == 1 and list(reg) == ["lite2"]
    with pytest.raises(CourseLibError, match="already registered"):
        reg.register(Thing("lite2", 1))
    assert reg["lite2"].size == 0                      # never silently replaced


def test_unknown_name_suggests_close_ones_and_where_to_list():
    reg = Registry("thing", "things.list()")
    for n in ("resnet18", "resnet50", "vgg16"):
        reg.register(Thing(n))
    with pytest.raises(UnknownNameError, match=r"resnet50.*things\.list\(\)") as err:
        reg["resnet5"]
    assert isinstance(err.value, KeyError)
    assert reg.get("resnet5") is None and reg.get("resnet5", "x") == "x"    # dict semantics


def test_names_filter_and_natural_order():
    reg = Registry("thing", "things.list()")
    for n in ("lite10", "Lite2", "vit_b_16", "lite1"):
        reg.register(Thing(n))
    assert reg.names() == ["lite10", "Lite2", "vit_b_16", "lite1"]              # registration order
    assert reg.names("lite*", sort=True) == ["lite1", "Lite2", "lite10"]          # case-insensitive, natural
    assert reg.names(["lite*", "vit*"], exclude="*1*") == ["Lite2"]
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]


def test_loader_runs_once_on_first_use_and_the_error_class_is_the_registrys():
    calls = []

    def load():
        calls.append(1)
        return [Thing("a"), Thing("b")]

    reg = Registry("thing", "things.list()", loader=load, error=DataError)
    assert calls == []
    assert reg.names() == ["a", "b"] and "a" in reg and reg["b"].name == "b"
    assert calls == [1]
    with pytest.raises(DataError):
        reg.register(Thing("a"))
    trial = reg.copy()
    trial.register(Thing("c"))
    assert "c" in trial and "c" not in reg and trial.kind == reg.kind


@pytest.mark.parametrize("registry, listing", [
    (data.DATASETS, data.list_datasets), (claims.CLAIMS, claims.list_claims), (models.ZOO, models.list_models),
    (wildlife.DETECTORS, lambda: list(wildlife.DETECTORS)), (models.OFFLINE_WEIGHTS, lambda: list(models.OFFLINE_WEIGHTS)),
], ids=["datasets", "claims", "zoo", "detectors", "offline_weights"])
def test_every_kit_registry_is_one_registry(registry, listing):
    assert isinstance(registry, Registry)
    names = listing()
    assert names and sorted(names) == sorted(registry)
    for name in names:
        assert registry[name] is registry.get(name)
    with pytest.raises(UnknownNameError, match="Did you mean"):
        registry[names[0] + "x"]
