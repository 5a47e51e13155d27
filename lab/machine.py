"""What this machine's CPU can do, decided in one place: everything that depends on it asks here.

Two facts change what the lab does from one CPU to another:

- whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX). Where it does, bf16 matmul is
  faster than fp32; where it doesn't, oneDNN emulates bf16 several times *slower* than fp32
  (bench/README.md, "The machine behind these results"). Training's ``--precision auto`` and
  inference's ``LAB_INFERENCE_PRECISION=auto`` follow it (lab/precision.py).
- how many cores this process may use (a container's CPU set, not the host's): how many forward
  passes run at once (lab/settings.py).

The ``cpu_bf16`` setting (``LAB_CPU_BF16``: ``auto``, ``yes``, ``no``; lab/settings.py) overrides the
detection; callers pass it in. Hosts rarely need it; the test suite pins it so the same tests give
the same results on every CPU, and sets it to each answer in turn where a branch depends on it, so
a failure that one kind of CPU would show shows on any.
"""

from __future__ import annotations

import functools
import os

CPU_BF16_ENV = "LAB_CPU_BF16"
_YES, _NO = {"1", "yes", "true", "on"}, {"0", "no", "false", "off"}


@functools.cache
def detected_native_bf16() -> bool:
    """What the CPU says: AVX512-BF16 or AMX tiles (torch's own checks)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def bf16_choice(value: str) -> str:
    """``value`` of the cpu_bf16 setting as "auto", "yes" or "no" (1/true/on and 0/false/off too)."""
    value = value.strip().lower()
    if value in _YES:
        return "yes"
    if value in _NO:
        return "no"
    if value not in ("", "auto"):
        raise ValueError(f"{CPU_BF16_ENV} must be auto, yes or no (got {value!r}).")
    return "auto"


def native_bf16(setting: str = "auto") -> bool:
    """Whether this CPU multiplies bf16 natively: the cpu_bf16 ``setting`` when yes/no, else the detection."""
    choice = bf16_choice(setting)
    return detected_native_bf16() if choice == "auto" else choice == "yes"


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def describe(setting: str = "auto") -> str:
    """One line for logs and benchmark records, e.g. "2 cores, native bf16 (detected)"."""
    forced = bf16_choice(setting) != "auto"
    bf16 = "native bf16" if native_bf16(setting) else "no native bf16"
    return f"{cores()} cores, {bf16} ({CPU_BF16_ENV} set)" if forced else f"{cores()} cores, {bf16} (detected)"
