"""Linear weights stored input-major, for inference on a few tokens at a time.

``nn.Linear`` keeps its weight as (out, in) rows and computes ``x @ W.T``. For the short inputs of
a demo (a sentence: ~15 tokens), MKL's kernel for that transposed operand is slow on this CPU:
one thread, 14 tokens, the 384 -> 1536 feed-forward matmul took 0.56 ms as (out, in) and 0.22 ms
with the same numbers stored as (in, out) (``W.t().contiguous().t()``: the parameter keeps its
shape and meaning, only its strides change, so ``W.T`` is a plain row-major matrix). At 112 tokens
the two are within ~10% either way (bench/inference.py). A MiniLM forward pass for one
sentence took 0.72x the time; logits moved by rounding only (~2e-6).

How many threads a forward pass runs on matters too. At one thread (the app's default,
``LAB_TORCH_THREADS``) the input-major layout won at every length measured: 0.49x of the linear
layers' time at 14 tokens, 0.84x at 64, 0.93x at 112, even at 384. At two threads it still won
on sentences (0.38x at 14 tokens, 0.41x at 32) but QA's 64-token window took 1.05x, so with
more than one thread QA keeps the usual layout (``pays_off``).

Only fp32 weights are moved (bf16 goes through other kernels, not measured), and never a weight
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
