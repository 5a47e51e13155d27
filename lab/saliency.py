"""Which words drove a classifier's decision: attributions on the input embeddings.

Two methods, both on the word embeddings the model looks up for each piece:

- gradient x input: one backward pass; the first-order guess "how much would the score
  move if this piece's embedding were removed";
- integrated gradients (Sundararajan et al., 2017): the gradient averaged along a straight
  path from a baseline (the text's pieces set to zero, special tokens kept) to the input,
  times (input - baseline). Slower (``steps`` forward passes) but its attributions add up to
  score(input) - score(baseline), which the single gradient does not promise.

A piece's score is the sum of its hidden dimensions (signed: for or against the label) or
their L2 norm (magnitude only). Pieces are then summed into the words they came from,
through the tokenizer's ``word_ids``/offsets, and normalised to [-1, 1] (signed) or [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import BatchEncoding, PreTrainedModel

from lab.attention import model_inputs
from lab.errors import LabInputError
from lab.i18n import msg
from lab.options import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS
from lab.options import SALIENCY_METHODS as METHODS


@dataclass(frozen=True)
class TokenWeight:
    token: str
    word: int  # index into Saliency.words
    weight: float  # normalised over the text's pieces


@dataclass(frozen=True)
class WordWeight:
    word: str  # the characters of the text the word's pieces came from
    start: int
    end: int
    tokens: tuple[str, ...]  # its sub-word pieces, e.g. ("un", "##bel", "##ie", "##va", "##bly")
    weight: float  # the pieces' sum, normalised over the text's words


@dataclass(frozen=True)
class Saliency:
    text: str
    label: str  # the label whose score is explained
    method: str  # one of METHODS
    signed: bool  # True: weights in [-1, 1] (for/against the label); False: magnitudes in [0, 1]
    words: list[WordWeight]
    tokens: list[TokenWeight]  # special tokens excluded
    truncated: bool  # part of the text fell beyond the model's maximum length: no weight there


def normalise(scores: Sequence[float], signed: bool) -> list[float]:
    """Scale so the largest magnitude is 1: [-1, 1] when signed, [0, 1] for magnitudes.

    All-zero scores stay zero (nothing to explain is not "everything matters equally").
    """
    values = [float(s) for s in scores]
    if not signed:
        values = [abs(v) for v in values]
    peak = max((abs(v) for v in values), default=0.0)
    return [v / peak if peak > 0 else 0.0 for v in values]


def align_to_words(
    text: str,
    tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    scores: Sequence[float],
    signed: bool = True,
) -> tuple[list[WordWeight], list[TokenWeight]]:
    """Sum each word's piece scores and normalise words and pieces separately.

    ``word_ids`` is the fast tokenizer's ``encoding.word_ids()``: ``None`` for special tokens
    (left out), else the word a piece belongs to. A word's characters are the span from its
    first piece's start to its last piece's end in ``text``. Words are returned in text order.
    """
    if not len(tokens) == len(offsets) == len(word_ids) == len(scores):
        raise ValueError("tokens, offsets, word_ids and scores must have one entry per piece")
    pieces: dict[int, list[int]] = {}
    for i, w in enumerate(word_ids):
        if w is not None:
            pieces.setdefault(w, []).append(i)
    order = sorted(pieces)
    word_scores = [sum(float(scores[i]) for i in pieces[w]) for w in order]
    if not signed:  # a word's magnitude: pieces' magnitudes add up, signs don't cancel
        word_scores = [sum(abs(float(scores[i])) for i in pieces[w]) for w in order]
    word_weights = normalise(word_scores, signed)
    kept = [i for w in order for i in pieces[w]]
    token_weights = dict(zip(kept, normalise([scores[i] for i in kept], signed)))
    words, token_list = [], []
    for n, (w, weight) in enumerate(zip(order, word_weights)):
        start = min(offsets[i][0] for i in pieces[w])
        end = max(offsets[i][1] for i in pieces[w])
        words.append(WordWeight(text[start:end], start, end, tuple(tokens[i] for i in pieces[w]), weight))
        token_list += [TokenWeight(tokens[i], n, token_weights[i]) for i in pieces[w]]
    return words, token_list


def token_scores(
    model: PreTrainedModel,
    encoding: BatchEncoding,
    target: int,
    method: str = INTEGRATED_GRADIENTS,
    signed: bool = True,
    steps: int = 16,
    special_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One attribution per piece, shape (seq,), for logit ``target`` of a one-text ``encoding``.

    Attributes the logit rather than the probability: the softmax saturates, and a confident
    prediction would leave every gradient near zero. ``special_mask`` (seq,) marks pieces kept
    in the integrated-gradients baseline, so [CLS]/[SEP] don't take credit.
    """
    if method not in METHODS:
        raise LabInputError(msg("msg.lab.saliency.unknown_method", method=str(method)[:40], choices=", ".join(METHODS)))
    inputs = model_inputs(model, encoding)
    input_ids = inputs.pop("input_ids")
    with torch.enable_grad():  # handlers may run under inference_mode; the gradient is the point here
        embeds = model.get_input_embeddings()(input_ids).detach()  # (1, seq, hidden)
        if method == GRADIENT_X_INPUT:
            x = embeds.clone().requires_grad_(True)
            logit = model(inputs_embeds=x, **inputs).logits[0, target]
            # autograd.grad, not backward(): the shared cached model's .grad stays untouched.
            (grad,) = torch.autograd.grad(logit, x)
            attributions = grad * x.detach()
        else:
            keep = special_mask if special_mask is not None else torch.zeros(embeds.shape[1], dtype=torch.bool)
            baseline = embeds * keep.view(1, -1, 1).to(embeds.dtype)
            steps = max(int(steps), 1)
            alphas = (torch.arange(steps, dtype=embeds.dtype) + 0.5) / steps  # midpoint Riemann sum
            total = torch.zeros_like(embeds)
            for chunk in alphas.split(8):  # (chunk,) at a time: bounded memory on long texts
                path = (baseline + chunk.view(-1, 1, 1) * (embeds - baseline)).requires_grad_(True)
                expanded = {k: v.expand(len(chunk), -1) for k, v in inputs.items()}
                logits = model(inputs_embeds=path, **expanded).logits[:, target]
                (grad,) = torch.autograd.grad(logits.sum(), path)
                total += grad.sum(0, keepdim=True)
            attributions = (embeds - baseline) * total / steps
    attributions = attributions[0].float()  # (seq, hidden)
    return attributions.sum(-1) if signed else attributions.norm(dim=-1)


def explain(
    model: PreTrainedModel,
    tokenizer,
    text: str,
    encoding: BatchEncoding,
    target: int,
    method: str = INTEGRATED_GRADIENTS,
    signed: bool = True,
    steps: int = 16,
    truncated: bool = False,
) -> Saliency:
    """Attribute logit ``target`` to the words of ``text``.

    ``encoding`` is ``tokenizer(text, return_tensors="pt", return_offsets_mapping=True)``
    from a fast tokenizer (word_ids and offsets are what tie pieces back to words).
    """
    if not encoding.encodings:
        raise LabInputError(msg("msg.lab.saliency.needs_fast_tokenizer"))
    word_ids = encoding.word_ids(0)
    special = torch.tensor([w is None for w in word_ids])
    scores = token_scores(model, encoding, target, method, signed, steps, special).tolist()
    ids = encoding["input_ids"][0].tolist()
    offsets = [tuple(o) for o in encoding["offset_mapping"][0].tolist()]
    words, tokens = align_to_words(text, tokenizer.convert_ids_to_tokens(ids), offsets, word_ids, scores, signed)
    label = model.config.id2label.get(target, str(target))
    return Saliency(text, label, method, signed, words, tokens, truncated)
