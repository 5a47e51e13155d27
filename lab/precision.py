"""Which precision inference runs in: a host setting, fp32 unless the host says otherwise.

A class compares answers: the same sentence must get the same probabilities on every machine that
serves it, so inference runs in fp32 by default whatever the CPU. bf16 rounds a probability in
its third digit (a next-sentence probability moved by 0.002, a fill-mask ranking can swap two
close words), and it is faster only where the CPU multiplies bf16 natively (lab/machine.py). A
host that prefers speed there sets ``LAB_INFERENCE_PRECISION=bf16`` (always) or ``auto`` (bf16
only on such CPUs). The UI names the precision under every result.
"""

from __future__ import annotations

from lab import machine

CHOICES = ("fp32", "bf16", "auto")
DEFAULT = "fp32"


def inference_precision(setting: str, cpu_bf16: str = "auto") -> str:
    """"fp32" or "bf16" for the host's LAB_INFERENCE_PRECISION (auto: bf16 only with native bf16,
    as the host's ``cpu_bf16`` setting says)."""
    if setting not in CHOICES:
        raise ValueError(f"LAB_INFERENCE_PRECISION must be one of {', '.join(CHOICES)} (got {setting!r}).")
    if setting == "auto":
        return "bf16" if machine.native_bf16(cpu_bf16) else "fp32"
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
