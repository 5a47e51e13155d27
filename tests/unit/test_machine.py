"""lab/machine.py: the one place that says what the CPU can do, and the override tests and hosts use."""

import pytest

from lab import machine


def test_the_override_wins_and_auto_asks_the_cpu(monkeypatch):
    import torch

    for value, expected in (("yes", True), ("1", True), ("no", False), ("off", False)):
        monkeypatch.setenv(machine.CPU_BF16_ENV, value)
        assert machine.native_bf16() is expected
        assert "LAB_CPU_BF16 set" in machine.describe()
    monkeypatch.setenv(machine.CPU_BF16_ENV, "auto")
    cpu = torch.cpu
    detected = cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()
    assert machine.native_bf16() is machine.detected_native_bf16() is bool(detected)
    assert machine.describe().endswith("(detected)")
    monkeypatch.setenv(machine.CPU_BF16_ENV, "maybe")
    with pytest.raises(ValueError, match="LAB_CPU_BF16 must be auto, yes or no"):
        machine.native_bf16()


def test_the_suite_pins_the_cpu_kind_and_the_fixture_sets_each(cpu_bf16):
    # conftest pins "no" so results do not depend on the machine; cpu_bf16 runs a test on both kinds
    assert machine.native_bf16() is cpu_bf16


def test_cores_are_the_ones_this_process_may_use():
    import os

    assert 1 <= machine.cores() <= (os.cpu_count() or 1)
