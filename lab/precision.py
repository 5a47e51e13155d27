"""Which precision inference runs in: a host setting, with a default that is right for the CPU.

bf16 halves the memory traffic of a forward pass, and it is faster only where the CPU multiplies
bf16 natively (AVX512-BF16 or AMX). Without them oneDNN emulates bf16, ~5x *slower* than fp32 on
the 2-core Xeon this project is developed on (bench/train_throughput.py measures both peaks), so
``auto`` keeps fp32 there. Answers differ from fp32 only by rounding; the UI names the precision
under every result.
"""

from __future__ import annotations

CHOICES = ("auto", "fp32", "bf16")


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def inference_precision(setting: str) -> str:
    """"fp32" or "bf16" for the host's LAB_INFERENCE_PRECISION (auto: bf16 only with native bf16)."""
    if setting not in CHOICES:
        raise ValueError(f"LAB_INFERENCE_PRECISION must be one of {', '.join(CHOICES)} (got {setting!r}).")
    if setting == "auto":
        return "bf16" if native_bf16_cpu() else "fp32"
    return setting


def describe(model) -> str:
    """What ran, for the line under a result: e.g. "fp32, SDPA attention"."""
    import torch

    if model is None:
        return ""
    dtype = next(model.parameters()).dtype
    name = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
    attention = getattr(model.config, "_attn_implementation", None) or "default"
    attention = {"lab_sdpa": "SDPA", "sdpa": "SDPA", "eager": "eager"}.get(attention, attention)
    return f"{name}, {attention} attention"
