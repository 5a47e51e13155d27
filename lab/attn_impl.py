"""One attention implementation for every loaded model: SDPA, and eager only where weights are wanted.

The fused SDPA kernel is the faster path (bench/README.md, "What the speed-ups are made of") but
never materialises the (seq, seq) attention weights the Attention view draws. Switching a shared
model between implementations (``set_attn_implementation``) would race with other requests using
the same model object, and the attention mask is built per implementation, so a mid-forward
switch could pair a boolean SDPA mask with eager attention.

So models load with ``attn_implementation="lab_sdpa"``, registered here with transformers'
``AttentionInterface``/``AttentionMaskInterface``: it runs SDPA, unless the calling thread is
inside ``attention_weights()``, where the mask and the attention are eager's and the weights come
back. The choice is per thread, and mask and attention always agree. A model class that does not
dispatch through ``AttentionInterface`` refuses ``lab_sdpa`` and loads with the fallback its caller
names (``from_pretrained``).

Training uses it too, for one more reason: SDPA's CPU kernels draw the attention probabilities'
dropout from torch's slow generator. A thread inside ``attention_dropout(drop)`` computes training
attention as SDPA's own math path does (scores, mask, softmax, dropout, values) with ``drop``
applying the dropout: the same operation, with masks from a faster generator
(training/engine/fast_dropout.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTN_IMPLEMENTATION = "lab_sdpa"
FALLBACK = "eager"  # for model classes that don't dispatch through AttentionInterface

_local = threading.local()
_registered = False


def wants_weights() -> bool:
    """Whether the calling thread is inside ``attention_weights()``."""
    return getattr(_local, "depth", 0) > 0


# Arguments of the attention call that our math path does not implement: with any, SDPA runs.
_CHANGES_ATTENTION = ("is_causal", "softcap", "position_bias", "cache", "sliding_window", "s_aux", "head_mask")


def _dropout_attention(drop, module, query, key, value, attention_mask, dropout, scaling=None):
    """Training attention with dropout applied by ``drop(probs, p)``: SDPA's math path, step by step."""
    import torch

    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # SDPA's masks: True where a query may attend
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:  # an additive float mask, as eager's
            scores = scores + attention_mask
    probs = drop(torch.softmax(scores, dim=-1), dropout)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


def register() -> str:
    """Register ``lab_sdpa`` with transformers (idempotent); returns its name."""
    global _registered
    if _registered:
        return ATTN_IMPLEMENTATION
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import eager_mask, sdpa_mask
    from transformers.models.bert.modeling_bert import eager_attention_forward

    def attention(module, query, key, value, attention_mask, **kwargs):
        if wants_weights():
            return eager_attention_forward(module, query, key, value, attention_mask, **kwargs)
        drop = getattr(_local, "drop", None)
        dropout = kwargs.get("dropout", 0.0)
        if drop is not None and dropout > 0 and not getattr(module, "is_causal", False) \
                and all(kwargs.get(k) is None or kwargs.get(k) is False for k in _CHANGES_ATTENTION):
            return _dropout_attention(drop, module, query, key, value, attention_mask, dropout, kwargs.get("scaling"))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    def mask(*args, **kwargs):
        return (eager_mask if wants_weights() else sdpa_mask)(*args, **kwargs)

    AttentionInterface.register(ATTN_IMPLEMENTATION, attention)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, mask)
    _registered = True
    return ATTN_IMPLEMENTATION


def from_pretrained(load: Callable[..., T], fallback: str | None) -> T:
    """``load(attn_implementation=...)`` with ``lab_sdpa``; a model class that doesn't dispatch
    through transformers' AttentionInterface refuses it and gets ``fallback`` (None: transformers'
    default) instead."""
    try:
        return load(attn_implementation=register())
    except ValueError as exc:
        if ATTN_IMPLEMENTATION not in str(exc):
            raise
        log.info("the model does not take %s attention (%s); using %s", ATTN_IMPLEMENTATION, exc,
                 fallback or "the default")
        return load() if fallback is None else load(attn_implementation=fallback)


@contextmanager
def attention_dropout(drop: Callable) -> Iterator[None]:
    """Inside this block, training attention on this thread drops probabilities with ``drop(probs, p)``."""
    previous = getattr(_local, "drop", None)
    _local.drop = drop
    try:
        yield
    finally:
        _local.drop = previous


@contextmanager
def attention_weights() -> Iterator[None]:
    """Inside this block, forwards on this thread run eager attention and can return weights."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
