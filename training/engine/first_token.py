"""Sequence classification reads one position of the last layer: compute only that one.

BERT's classifier sees the pooler's view of the [CLS] position of the last layer and nothing
else. Every other position of that layer (its query, attention output, feed-forward) is computed
and thrown away: 10/12 of the last block's matrix work, about a seventh of a 6-layer encoder's.
The last layer still needs keys and values of every position (the [CLS] query attends to all of
them), so only those are computed for the whole sequence.

``first_token_only(model)`` swaps the last block's forward for one that does exactly that, for
the duration of a ``with``: the logits are the same (to float rounding) and so are the gradients,
with any fine-tuning strategy (LoRA's adapters sit inside the same ``query``/``key``/... modules).
The weights and the saved model are untouched; models it does not know run as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

# Classes whose head reads only position 0 of the last hidden state, through BertLayer blocks.
SUPPORTED = {"BertForSequenceClassification"}


def _last_block(model: nn.Module) -> nn.Module | None:
    model = getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
    if type(model).__name__ not in SUPPORTED or getattr(model.config, "is_decoder", False):
        return None
    layers = getattr(getattr(getattr(model, "bert", None), "encoder", None), "layer", None)
    if not layers:
        return None
    block = layers[-1]
    needed = ("attention", "feed_forward_chunk")
    if not all(hasattr(block, n) for n in needed) or not hasattr(block.attention, "self"):
        return None
    return block


def _first_token_forward(block: nn.Module):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    attn = block.attention.self

    def forward(hidden_states, attention_mask=None, *args, **kwargs):
        batch, seq, _ = hidden_states.shape
        first = hidden_states[:, :1]  # (batch, 1, hidden)
        heads = (batch, -1, attn.num_attention_heads, attn.attention_head_size)
        query = attn.query(first).view(*heads).transpose(1, 2)  # (batch, heads, 1, head_size)
        key = attn.key(hidden_states).view(*heads).transpose(1, 2)  # (batch, heads, seq, head_size)
        value = attn.value(hidden_states).view(*heads).transpose(1, 2)
        if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[2] > 1:
            attention_mask = attention_mask[:, :, :1]  # the [CLS] query's row of a (seq x seq) mask
        interface = ALL_ATTENTION_FUNCTIONS.get_interface(attn.config._attn_implementation, eager_attention_forward)
        context, _ = interface(attn, query, key, value, attention_mask,
                               dropout=attn.dropout.p if attn.training else 0.0, scaling=attn.scaling)
        context = context.reshape(batch, 1, -1)
        return block.feed_forward_chunk(block.attention.output(context, first))  # (batch, 1, hidden)

    return forward


def is_active(model: nn.Module) -> bool:
    """Whether ``model``'s last layer computes position 0 only right now (for FLOP counters)."""
    block = _last_block(model)
    return block is not None and "forward" in vars(block)


@contextmanager
def first_token_only(model: nn.Module) -> Iterator[bool]:
    """Within the block, ``model``'s last layer computes position 0 only; yields whether it does.

    ``last_hidden_state`` then has one position: only for callers that want the logits.
    """
    block = _last_block(model)
    if block is None:
        yield False
        return
    block.forward = _first_token_forward(block)  # an instance attribute shadows the class's
    try:
        yield True
    finally:
        del block.forward
