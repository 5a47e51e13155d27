"""lab/machine.py: the one place that says what the CPU can do, and the override tests and hosts use."""

import pytest

from lab import machine
from lab.settings import Settings
from tests.conftest import REAL_DETECTION


def test_the_override_wins_and_auto_asks_the_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(machine, "detected_native_bf16", REAL_DETECTION)  # the CPU itself, not the suite's pin
    for value, expected in (("yes", True), ("1", True), ("no", False), ("off", False)):
        assert machine.native_bf16(value) is expected
        assert "LAB_CPU_BF16 set" in machine.describe(value)
    cpu = torch.cpu
    detected = cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()
    assert machine.native_bf16("auto") is machine.native_bf16() is machine.detected_native_bf16() is bool(detected)
    assert machine.describe().endswith("(detected)")
    with pytest.raises(ValueError, match="LAB_CPU_BF16 must be auto, yes or no"):
        machine.native_bf16("maybe")


def test_the_setting_comes_from_the_host_through_settings_only(monkeypatch):
    monkeypatch.setattr(machine, "detected_native_bf16", lambda: False)
    monkeypatch.setenv(machine.CPU_BF16_ENV, "yes")
    assert machine.native_bf16() is False  # the library never reads the environment itself
    assert Settings.from_env().cpu_bf16 == "yes" and machine.native_bf16(Settings.from_env().cpu_bf16)
    monkeypatch.setenv(machine.CPU_BF16_ENV, "off")
    assert Settings.from_env().cpu_bf16 == "no"
    monkeypatch.setenv(machine.CPU_BF16_ENV, "maybe")
    with pytest.raises(ValueError, match="LAB_CPU_BF16 must be auto, yes or no"):
        Settings.from_env()


def test_the_suite_pins_the_cpu_kind_and_the_fixture_sets_each(cpu_bf16):
    # conftest pins "no" so results do not depend on the machine; cpu_bf16 runs a test on both kinds
    assert machine.native_bf16() is cpu_bf16
    assert Settings.from_env().cpu_bf16 == ("yes" if cpu_bf16 else "no")


def test_cores_are_the_ones_this_process_may_use():
    import os

    assert 1 <= machine.cores() <= (os.cpu_count() or 1)
