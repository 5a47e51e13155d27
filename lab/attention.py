"""Attention weights as plain data: every layer and head for one input, and one map to draw.

Models load with SDPA attention (lab/loading.py), whose fused kernel never materialises the
(seq, seq) weights; ``lab.attn_impl.attention_weights()`` makes this thread's forward run eager
attention, so ``output_attentions`` returns them without touching other requests.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from html import escape

import numpy as np
import torch
from transformers import BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from lab.attn_impl import attention_weights
from lab.errors import LabInputError
from lab.i18n import msg

# A heatmap of 48 x 48 cells is still readable; longer inputs are cut (and the caption says so).
MAX_TOKENS = 48


def model_inputs(model: PreTrainedModel, encoding: BatchEncoding) -> dict[str, torch.Tensor]:
    """The tokenizer's outputs the model's forward() names (DistilBERT takes no token_type_ids)."""
    accepted = inspect.signature(model.forward).parameters
    return {k: v for k, v in encoding.items() if k in accepted and k != "offset_mapping"}


@dataclass(frozen=True)
class Attention:
    tokens: list[str]
    weights: np.ndarray  # (layers, heads, seq, seq): row = the token attending, column = attended to
    truncated: bool  # the text was cut to the heatmap's maximum length

    @property
    def num_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[1]

    def select(self, layer: int, head: int | None = None) -> np.ndarray:
        """One (seq, seq) map. ``layer`` and ``head`` count from 1; ``head=None`` averages the heads."""
        if not 1 <= layer <= self.num_layers:
            raise LabInputError(msg("msg.lab.attention.no_such_layer", n=self.num_layers))
        if head is None:
            return self.weights[layer - 1].mean(axis=0)
        if not 1 <= head <= self.num_heads:
            raise LabInputError(msg("msg.lab.attention.no_such_head", n=self.num_heads))
        return self.weights[layer - 1, head - 1]


@torch.inference_mode()
def extract_attention(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    max_tokens: int = MAX_TOKENS,
) -> Attention:
    """Run ``text`` (and an optional second text) once and keep every layer's attention weights."""
    encoding = tokenizer(text, text_pair or None, truncation=True, max_length=max_tokens, return_tensors="pt")
    full_length = len(tokenizer(text, text_pair or None, truncation=False)["input_ids"])
    with attention_weights():
        outputs = model(**model_inputs(model, encoding), output_attentions=True)
    attentions = outputs.attentions
    if not attentions or any(a is None for a in attentions):
        raise LabInputError(msg("msg.lab.attention.no_weights"))
    weights = torch.stack([a[0] for a in attentions]).float().numpy()  # (layers, heads, seq, seq)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    return Attention(tokens, weights, truncated=full_length > len(tokens))


def parse_head(head: str | int | None) -> int | None:
    """A head choice from the UI or API: "average" (or empty) means the mean over heads, else a number."""
    if head is None or str(head).strip().lower() in {"", "average", "mean", "avg", "all"}:
        return None
    try:
        return int(str(head).strip())
    except ValueError:
        raise LabInputError(msg("msg.lab.attention.not_a_head", head=str(head)[:20])) from None


def heatmap_html(tokens: list[str], matrix: np.ndarray, caption: str = "") -> str:
    """The attention map as an HTML table: rows attend (queries), columns are attended to (keys).

    Each row is a probability distribution (it sums to 1); a cell's shade is its weight relative
    to the strongest link in its row, so every token's favourite target stands out. The exact
    weight is in the cell's tooltip and ``data-w``. Tokens are escaped.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(tokens), len(tokens)):
        raise ValueError(f"matrix {matrix.shape} does not fit {len(tokens)} tokens")
    row_max = matrix.max(axis=1, keepdims=True)
    shade = np.divide(matrix, row_max, out=np.zeros_like(matrix), where=row_max > 0)
    names = [escape(t) for t in tokens]
    head = "".join(f'<th class="attn-key"><div>{name}</div></th>' for name in names)
    rows = []
    for i, name in enumerate(names):
        cells = "".join(
            f'<td data-w="{matrix[i, j]:.4f}" title="{name} → {names[j]}: {matrix[i, j]:.3f}" '
            f'style="background:rgba(74,127,212,{shade[i, j]:.2f})"></td>'
            for j in range(len(names))
        )
        rows.append(f'<tr><th class="attn-query">{name}</th>{cells}</tr>')
    note = f'<p class="lab-note">{escape(caption)}</p>' if caption else ""
    return (
        f"<style>{_CSS}</style>"
        f'<div class="attn-wrap">{note}<table class="attn-grid"><tr><th></th>{head}</tr>{"".join(rows)}</table></div>'
    )


# Inline, so the heatmap looks the same wherever the HTML is shown (the app, a notebook, a test).
_CSS = (
    ".attn-wrap{overflow:auto}"
    ".attn-grid{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:12px}"
    ".attn-grid th{padding:2px 4px;font-weight:normal;white-space:nowrap}"
    ".attn-grid th.attn-query{text-align:right}"
    ".attn-grid th.attn-key div{writing-mode:vertical-rl;transform:rotate(180deg)}"
    ".attn-grid td{width:18px;height:18px;min-width:18px;padding:0;border:1px solid rgba(128,128,128,.15)}"
)
