"""The busy-machine guard: what it measures, what it sets, and that it speaks when the machine is loaded."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import env, machine


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    monkeypatch.delenv("COURSE_THREADS", raising=False)    # `make test` pins it; these tests exercise the timing
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_an_idle_machine_times_both_thread_counts_and_keeps_the_faster(monkeypatch, capsys):
    monkeypatch.setattr(machine, "load_average", lambda: 0.0)
    check = machine.guard(_tiny(), input_size=16, batch_size=2)
    timed = check.seconds_per_batch
    assert set(timed) == {"1", str(env.cpu_cores())}
    assert check.threads == int(min(timed, key=timed.get)) == torch.get_num_threads()
    assert not check.busy and "BUSY" not in capsys.readouterr().out


def test_a_busy_machine_is_named_and_warned_about(monkeypatch, capsys):
    monkeypatch.setattr(machine, "load_average", lambda: 0.9 * env.cpu_cores())
    monkeypatch.setattr(machine, "probe_model", _tiny)      # no model of the lab's: the guard times its own
    with pytest.warns(machine.BusyMachineWarning, match="busy machine"):
        check = machine.guard(input_size=16, batch_size=2)
    assert check.busy and check.threads == torch.get_num_threads() and check.seconds_per_batch
    out = capsys.readouterr().out
    assert "BUSY" in out and "inconclusive" in out
    assert check.to_dict()["busy"] is True


def test_a_forced_thread_count_is_kept_and_nothing_is_timed(monkeypatch):
    monkeypatch.setattr(machine, "load_average", lambda: None)            # an OS without a load average
    monkeypatch.setattr(machine, "fastest_threads", lambda *a, **k: pytest.fail("a forced count is not timed"))
    check = machine.guard(_tiny(), threads=1, quiet=True)
    assert check.threads == 1 and check.seconds_per_batch == {} and not check.busy
    assert "load unknown" in str(check)


def test_course_threads_pins_the_count_in_every_lab_and_a_bad_value_says_what_to_write(monkeypatch):
    monkeypatch.setattr(machine, "fastest_threads", lambda *a, **k: pytest.fail("a pinned count is not timed"))
    monkeypatch.setenv("COURSE_THREADS", "1")
    assert env.pinned_threads() == 1
    check = machine.guard(_tiny(), quiet=True)
    assert check.threads == 1 == torch.get_num_threads() and check.seconds_per_batch == {}
    assert machine.guard(_tiny(), threads=2, quiet=True).threads == 2 == torch.get_num_threads()   # a lab's own wins
    monkeypatch.setenv("COURSE_THREADS", "two")
    with pytest.raises(ValueError, match="whole number"):
        machine.guard(_tiny(), quiet=True)
    monkeypatch.setenv("COURSE_THREADS", "")
    assert env.pinned_threads() == 0


def test_the_busy_threshold_is_half_a_core_or_a_quarter_of_the_machine():
    assert machine.MachineCheck(cores=2, load=0.4, threads=2).busy is False
    assert machine.MachineCheck(cores=2, load=0.6, threads=2).busy is True
    assert machine.MachineCheck(cores=8, load=1.9, threads=8).busy is False
    assert machine.MachineCheck(cores=8, load=2.1, threads=8).busy is True


def test_the_load_is_measured_now_and_sees_a_competing_process():
    """A process spinning on one core while the guard watches counts as about one core of load; this process's own
    sleep does not count."""
    import subprocess
    import sys

    if machine.load_average(0.05) is None or not hasattr(__import__("os"), "getloadavg"):
        pytest.skip("no load measurement on this OS")
    quiet = machine.load_average(0.3)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        loaded = machine.load_average(0.5)
    finally:
        spinner.kill()
    assert loaded > quiet + 0.5 or loaded >= 0.8      # one more busy core, whatever else the machine was doing


def test_probe_model_is_a_convolutional_network():
    model = machine.probe_model()
    assert any(isinstance(m, nn.Conv2d) for m in model.modules()) and not model.training
