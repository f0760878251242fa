"""Settings, device, seeding and offline detection."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import env
from course_lib.errors import CourseLibError


def test_seed_gives_same_numbers():
    env.seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    env.seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    env.seed_everything(8)
    c = torch.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and not torch.equal(a[0], c)


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert env.data_dir() == tmp_path / "d" and env.cache_dir() == tmp_path / "c" and env.profile() == "full"
    assert (tmp_path / "c").is_dir()
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(CourseLibError, match="fast"):
        env.profile()
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert env.data_dir() == env.PROJECT_ROOT / "datasets"


def test_offline_flag(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert env.is_offline()
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    assert not env.is_offline()
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.is_offline()


def test_device_and_threads():
    assert env.pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert env.pick_device().type in ("cpu", "mps")
        with pytest.raises(CourseLibError, match="no CUDA"):
            env.pick_device("cuda")
    assert env.set_threads(1) == 1 == torch.get_num_threads()
    assert env.set_threads() == torch.get_num_threads() == env.cpu_cores()  # default: every core this process may use


def test_not_in_colab_here():
    assert env.in_colab() is False
