"""Linear weights stored input-major, for inference on a few tokens at a time.

``nn.Linear`` keeps its weight as (out, in) rows and computes ``x @ W.T``. For the short inputs of
a demo (a sentence: ~15 tokens), MKL multiplies that transposed operand slowly; the same numbers
stored as (in, out) (``W.t().contiguous().t()``: the parameter keeps its shape and meaning, only
its strides change, so ``W.T`` is a plain row-major matrix) multiply faster, and the logits move by
rounding only. The ratios, by length and thread count, are in bench/README.md (bench/inference.py).

``pays_off`` decides per task and thread count: at one thread (the app's default,
``LAB_TORCH_THREADS``) every task is moved; with more than one thread QA's windows keep the usual
layout, where it is not faster.

Only fp32 weights are moved (bf16 goes through other kernels), and never a weight
that an embedding shares (the MLM decoder's is the word-embedding table, whose rows are looked
up: row-major suits that). Models for training are built elsewhere and keep the usual layout.
"""

from __future__ import annotations

import torch
from torch import nn


def pays_off(task: str, threads: int) -> bool:
    """Whether ``task``'s model is faster with input-major weights at ``threads`` torch threads."""
    return threads == 1 or task != "qa"


def input_major_linears(model: nn.Module) -> int:
    """Store the fp32 ``nn.Linear`` weights of ``model`` input-major, in place; how many moved."""
    looked_up = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    moved = 0
    for module in model.modules():
        if not isinstance(module, nn.Linear):
            continue
        weight = module.weight
        if id(weight) in looked_up or weight.dtype != torch.float32 or not weight.is_contiguous():
            continue
        with torch.no_grad():
            # Rewritten in its own memory, through one scratch copy: a fresh input-major tensor per
            # weight raised the process's resident memory by ~40 MB per model (measured: the cold
            # start's peak went to 1.53 GB); in place, it stays where it was without the layout.
            out_features, in_features = weight.shape
            values = weight.detach().clone()
            same_memory = weight.detach().as_strided((in_features, out_features), (out_features, 1))
            same_memory.copy_(values.t())
            weight.data = same_memory.t()
        moved += 1
    return moved
