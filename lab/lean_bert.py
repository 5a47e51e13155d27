"""BERT's inference forward pass with the model's own weights and operations, minus transformers' per-call machinery.

transformers' ``BertFor*`` forward spends a share of each call outside the tensor operations:
output-capturing decorators, config-default merging, attention-mask building and ``__call__``
dispatch through ~80 modules. Calling the same operations directly (``F.linear``, SDPA,
``layer_norm``, the configured activation) on the same weights gives the same logits (bit for bit
on the embedded MiniLM), faster (bench/inference.py measures the tasks against the pipeline;
bench/README.md has the figures).

Only what we can reproduce exactly runs this way: a plain ``BertModel`` encoder (absolute
positions, no decoder or cross-attention, no hooks, every submodule of a known type, so a
PEFT-wrapped or quantised layer falls back), in eval mode, with gradients off, and not inside
``attn_impl.attention_weights()``. Anything else runs the model's own forward.

``rows`` restricts the *last* layer to some positions (keys and values still come from every
token), the same for every row of the batch (a list) or per row (a (batch, n) tensor of
positions): classification reads [CLS] only and fill-mask the masks only, so the rest of that layer
(queries, attention output, feed-forward: ~10/12 of its matmuls per token) is skipped, as
training/engine/first_token.py does during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import GELUActivation
from transformers.models.bert import modeling_bert as mb

from lab import attn_impl

# Exact types only: a subclass (or a PEFT/quantised replacement) may compute something else.
_KNOWN = {mb.BertModel, mb.BertEmbeddings, mb.BertEncoder, mb.BertLayer, mb.BertAttention,
          mb.BertSelfAttention, mb.BertSelfOutput, mb.BertIntermediate, mb.BertOutput, mb.BertPooler,
          mb.BertForQuestionAnswering, mb.BertForTokenClassification, mb.BertForSequenceClassification,
          nn.ModuleList, nn.Linear, nn.LayerNorm, nn.Embedding, nn.Dropout, nn.Tanh}


# Activation modules (GELU, its approximations, ReLU, ...) are called as they are: pure functions.
_ACTIVATIONS = ("transformers.activations", "torch.nn.modules.activation")


def _only_known_unhooked(root: nn.Module) -> bool:
    """Every module under ``root`` is of a known type and has no forward hooks. Checked on every
    call (~0.1 ms for MiniLM, a walk over ``_modules``; ``modules()`` took 0.3), so a hook or a
    LoRA layer added to a cached model after its first call is still seen."""
    stack = [root]
    while stack:
        module = stack.pop()
        kind = type(module)
        if kind not in _KNOWN and (kind.__module__ not in _ACTIVATIONS or kind is nn.MultiheadAttention):
            return False
        if module._forward_hooks or module._forward_pre_hooks:
            return False
        stack.extend(m for m in module._modules.values() if m is not None)
    return True


def _plain_encoder(model: nn.Module) -> mb.BertModel | None:
    """The model's BertModel when this module can run it exactly, else None."""
    if model.training or torch.is_grad_enabled() or attn_impl.wants_weights():
        return None
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return None
    base = model if type(model) is mb.BertModel else getattr(model, "bert", None)
    if type(base) is not mb.BertModel:
        return None
    config = base.config
    if config.is_decoder or getattr(config, "add_cross_attention", False) \
            or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    if not _only_known_unhooked(model):  # the head's modules too: a hook on the classifier counts
        return None
    return base


Rows = Sequence[int] | torch.Tensor | None


def _take(x: torch.Tensor, rows: Rows) -> torch.Tensor:
    """x (batch, seq, hidden) at ``rows``: every position, the same ones for every row, or per row."""
    if rows is None:
        return x
    if isinstance(rows, torch.Tensor):  # (batch, n) positions
        return x.gather(1, rows[..., None].expand(-1, -1, x.shape[-1]))
    return x[:, rows]


def _activation(layer: mb.BertLayer):
    act = layer.intermediate.intermediate_act_fn
    return act.act if type(act) is GELUActivation else act  # skip one module call per layer


def _layer(layer: mb.BertLayer, x: torch.Tensor, mask: torch.Tensor | None, rows: Rows = None) -> torch.Tensor:
    """One BertLayer, as BertSelfAttention + SDPA + BertSelfOutput + BertIntermediate + BertOutput do it."""
    a = layer.attention.self
    batch, seq, hidden = x.shape
    heads, size = a.num_attention_heads, a.attention_head_size

    def split(t: torch.Tensor) -> torch.Tensor:  # (batch, n, hidden) -> (batch, heads, n, size)
        return t.view(batch, -1, heads, size).transpose(1, 2)

    xq = _take(x, rows)  # (batch, n, hidden)
    q = split(F.linear(xq, a.query.weight, a.query.bias))
    k = split(F.linear(x, a.key.weight, a.key.bias))
    v = split(F.linear(x, a.value.weight, a.value.bias))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=a.scaling)
    context = context.transpose(1, 2).reshape(batch, -1, a.all_head_size)
    out = layer.attention.output
    h = F.layer_norm(F.linear(context, out.dense.weight, out.dense.bias) + xq, (hidden,),
                     out.LayerNorm.weight, out.LayerNorm.bias, out.LayerNorm.eps)
    inter = _activation(layer)(F.linear(h, layer.intermediate.dense.weight, layer.intermediate.dense.bias))
    out = layer.output
    return F.layer_norm(F.linear(inter, out.dense.weight, out.dense.bias) + h, (hidden,),
                        out.LayerNorm.weight, out.LayerNorm.bias, out.LayerNorm.eps)


def _encode(base: mb.BertModel, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None, rows: Rows = None) -> torch.Tensor:
    """The last hidden states (batch, seq or len(rows), hidden) of ``base``."""
    emb = base.embeddings
    seq = input_ids.shape[1]
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = emb.word_embeddings.weight[input_ids] + emb.token_type_embeddings.weight[token_type_ids]
    x = x + emb.position_embeddings.weight[:seq]
    x = F.layer_norm(x, (x.shape[-1],), emb.LayerNorm.weight, emb.LayerNorm.bias, emb.LayerNorm.eps)
    # SDPA's boolean mask (True: may attend), as transformers builds it; none without padding.
    mask = None
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, seq): broadcast over queries
    layers = base.encoder.layer
    for i, layer in enumerate(layers):
        x = _layer(layer, x, mask, rows if i == len(layers) - 1 else None)
    return x


def _inputs(inputs) -> dict:
    return {k: inputs.get(k) for k in ("input_ids", "token_type_ids", "attention_mask")}


def _lean_base(model: nn.Module, inputs) -> mb.BertModel | None:
    """``_plain_encoder(model)`` when ``inputs`` are token ids (embeddings given as input run the model)."""
    if inputs.get("input_ids") is None or inputs.get("inputs_embeds") is not None:
        return None
    return _plain_encoder(model)


def hidden_states(model: nn.Module, inputs, rows: Rows = None) -> torch.Tensor:
    """A base model's (e.g. ``BertModel``'s) last hidden states for ``inputs`` (a tokenizer's tensors);
    with ``rows``, at those positions only: (batch, seq or len(rows), hidden). Falls back to the
    model's own forward."""
    base = _lean_base(model, inputs)
    if base is not None:
        return _encode(base, **_inputs(inputs), rows=rows)
    return _take(model(**inputs).last_hidden_state, rows)


def forward(model: nn.Module, inputs):
    """``model(**inputs)`` for inference: the lean pass for a plain BERT question-answering, token- or
    sequence-classification model, else the model's own forward. Returns an object with the
    attributes the caller reads (``logits``, or ``start_logits``/``end_logits``)."""
    base = _lean_base(model, inputs)
    if base is None:
        return model(**inputs)
    kind = type(model)
    if kind is mb.BertForQuestionAnswering and type(model.qa_outputs) is nn.Linear:
        logits = F.linear(_encode(base, **_inputs(inputs)), model.qa_outputs.weight, model.qa_outputs.bias)
        start, end = logits.split(1, dim=-1)
        return SimpleNamespace(start_logits=start.squeeze(-1), end_logits=end.squeeze(-1))
    if kind is mb.BertForTokenClassification and type(model.classifier) is nn.Linear:
        hidden = _encode(base, **_inputs(inputs))  # dropout: identity in eval
        return SimpleNamespace(logits=F.linear(hidden, model.classifier.weight, model.classifier.bias))
    if kind is mb.BertForSequenceClassification and type(model.classifier) is nn.Linear \
            and base.pooler is not None:
        first = _encode(base, **_inputs(inputs), rows=[0])[:, 0]  # (batch, hidden): the pooler reads [CLS]
        pooled = torch.tanh(F.linear(first, base.pooler.dense.weight, base.pooler.dense.bias))
        return SimpleNamespace(logits=F.linear(pooled, model.classifier.weight, model.classifier.bias))
    return model(**inputs)
