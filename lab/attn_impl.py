"""One attention implementation for every loaded model: fast SDPA, eager only when weights are wanted.

The fused SDPA kernel is the faster path (the benchmark measured fill-mask and NER ~16% faster
than eager) but never materialises the (seq, seq) attention weights the Attention view draws.
Switching a shared model between implementations (``set_attn_implementation``) would race with
other requests using the same model object, and the attention mask is built per
implementation, so a mid-forward switch could pair a boolean SDPA mask with eager attention.

So models load with ``attn_implementation="lab_sdpa"``, registered here with transformers'
``AttentionInterface``/``AttentionMaskInterface``: it runs SDPA, unless the calling thread is
inside ``attention_weights()``, where the mask and the attention are eager's and the weights come
back. The choice is per thread, and mask and attention always agree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

ATTN_IMPLEMENTATION = "lab_sdpa"
FALLBACK = "eager"  # for model classes that don't dispatch through AttentionInterface

_local = threading.local()
_registered = False


def _wants_weights() -> bool:
    return getattr(_local, "depth", 0) > 0


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
        if _wants_weights():
            return eager_attention_forward(module, query, key, value, attention_mask, **kwargs)
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    def mask(*args, **kwargs):
        return (eager_mask if _wants_weights() else sdpa_mask)(*args, **kwargs)

    AttentionInterface.register(ATTN_IMPLEMENTATION, attention)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, mask)
    _registered = True
    return ATTN_IMPLEMENTATION


@contextmanager
def attention_weights() -> Iterator[None]:
    """Inside this block, forwards on this thread run eager attention and can return weights."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
