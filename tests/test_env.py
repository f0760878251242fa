"""Settings, device, seeding and offline detection."""
from __future__ import annotations

import os
import sys
from pathlib import Path

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
    assert env.profile("fast") == "fast"                   # a lab's explicit choice wins over the environment
    with pytest.raises(CourseLibError, match="auto"):
        env.profile("quick")
    monkeypatch.delenv("COURSE_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.profile() == env.profile("auto") == "full"  # auto: the full profile on a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.profile() == "fast"
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


def test_output_folder_is_a_setting_and_defaults_to_the_checkouts_build(tmp_path, monkeypatch):
    assert env.kit_checkout() == env.PROJECT_ROOT
    monkeypatch.delenv("COURSE_OUTPUT_DIR", raising=False)
    assert env.output_dir() == env.PROJECT_ROOT / "build"
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path / "out"))
    from course_lib import notebooks

    assert notebooks.results_file("01_x") == tmp_path / "out" / "results" / "01_x.json"
    assert notebooks.figure_path("f.png") == tmp_path / "out" / "figures" / "f.png"


def test_a_pip_installed_kit_writes_nothing_into_site_packages(tmp_path):
    """A non-editable install (as on Colab): results, figures, ledgers and fetched data go under the working folder."""
    import subprocess
    import sys

    import shutil

    site, work, source = tmp_path / "site", tmp_path / "work", tmp_path / "source"
    work.mkdir()
    # a copy of the kit's source without build products: a stale build/lib in the checkout must not leak into the
    # install, and the install must not write build/ or *.egg-info into the checkout
    shutil.copytree(env.PROJECT_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "my-labs", "datasets", "__pycache__", "*.egg-info", ".pytest_cache", "notebooks"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, timeout=300,
                   capture_output=True)
    before = sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts)
    # what a learner gets: the kit the labs import, not the instructor's build tools (tools/ stays in the checkout)
    assert (site / "course_lib" / "colab.py").is_file() and not (site / "tools").exists()
    assert not (site / "course_lib" / "slides.py").exists() and not (site / "course_lib" / "copies.py").exists()
    script = (
        "import course_lib, pathlib\n"
        "from course_lib import claims, env, notebooks\n"
        f"assert pathlib.Path(course_lib.__file__).is_relative_to({str(site)!r}), course_lib.__file__\n"
        "assert env.kit_checkout() is None\n"
        "out = notebooks.save_results({'x': 1}, notebooks.results_file('01_lab'))\n"
        "claims.record(claims.ledger_path(out), 'hierarchy', a=[.9, .8, .85], b=[.7, .6, .65], design='independent')\n"
        "notebooks.figure_path('f.png').write_bytes(b'png')\n"
        "print(out, env.data_dir(), env.output_dir())\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(site), "COURSE_OUTPUT_DIR": "", "COURSE_DATA_DIR": ""})
    assert run.returncode == 0, run.stderr
    results, data, output = run.stdout.split()
    assert Path(results) == work / "build" / "results" / "01_lab.json" and Path(output) == work / "build"
    assert Path(data) == work / "datasets"
    assert (work / "build" / "results" / "01_lab.claims.json").is_file()
    assert (work / "build" / "figures" / "f.png").is_file()
    assert sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts) == before


def test_no_widget_front_end_under_tests_runners_or_when_told(monkeypatch):
    monkeypatch.delenv("COURSE_NO_WIDGETS", raising=False)
    assert not env.has_widget_frontend()                 # pytest (and no IPython kernel)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("PAPERMILL_INPUT_PATH", raising=False)
    monkeypatch.delitem(sys.modules, "papermill", raising=False)   # earlier tests ran labs with papermill in-process
    monkeypatch.setattr(env, "_parent_command", lambda: "/usr/bin/python -m papermill in.ipynb out.ipynb")

    class ZMQInteractiveShell:                           # a kernel, as papermill and nbconvert start one
        pass

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    assert not env.has_widget_frontend()
    for runner in ("jupyter-nbconvert --execute x.ipynb", "python -m pytest --nbval-lax notebooks"):
        monkeypatch.setattr(env, "_parent_command", lambda r=runner: r)
        assert not env.has_widget_frontend(), runner
    monkeypatch.setattr(env, "_parent_command", lambda: "/usr/bin/python /usr/local/bin/jupyter-lab --no-browser")
    assert env.has_widget_frontend()                     # a live server's kernel
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    assert not env.has_widget_frontend()
    monkeypatch.setenv("COURSE_NO_WIDGETS", "0")
    assert env.has_widget_frontend()


def test_panels_draw_once_with_their_defaults_without_a_front_end(monkeypatch):
    import ipywidgets as widgets

    from course_lib import widgets as kit_widgets

    calls = []
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    p = kit_widgets.panel(lambda a, b: calls.append((a, b)) or a + b, "a sum",
                          a=widgets.IntSlider(value=2), b=widgets.FloatSlider(value=0.5))
    assert isinstance(p, kit_widgets.StaticPanel) and p.result == 2.5 and calls == [(2, 0.5)]
    assert "drawn once with the defaults (a=2, b=0.5)" in p._repr_markdown_()
    monkeypatch.setenv("COURSE_NO_WIDGETS", "0")
    live = kit_widgets.panel(lambda a: a * 10, "times ten", a=widgets.IntSlider(value=3))
    assert isinstance(live, widgets.interactive) and live.result == 30


def test_release_memory_gives_freed_heap_back_under_the_tuned_allocator():
    """With the mmap threshold raised, glibc keeps 400 MB of freed tensors resident until release_memory trims them."""
    import subprocess

    code = """
import torch
from course_lib import env
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
t = torch.ones(100_000_000)
del t
held = rss()
trimmed = env.release_memory()
print(trimmed, round(held - rss()))
"""
    environ = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True)
    trimmed, freed_mb = out.stdout.split()
    assert trimmed == "True" and int(freed_mb) >= 300, out.stdout
