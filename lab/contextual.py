"""Contextual vs static vectors: one word in several sentences, layer by layer.

A static embedding (word2vec, GloVe, BERT's own input embedding table) gives "bank" one vector
whatever the sentence. BERT's layers mix in the context, so "bank" by a river and "bank" that
lends money drift apart as the layers go up. This module measures it on the real model: for each
sentence, the word's vector at every layer (the mean of its WordPiece pieces), its cosine
similarity to the single static vector (the mean of the pieces' rows of the input embedding
table), and the sentences' cosine similarities to each other at one layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab.errors import LabInputError
from lab.i18n import msg

MAX_SENTENCES = 12


@dataclass
class ContextualVectors:
    word: str
    pieces: list[str]  # the word's WordPiece pieces
    sentences: list[str]
    to_static: np.ndarray  # (sentences, layers + 1): cosine(word's vector at layer l, static vector)
    between: np.ndarray  # (sentences, sentences): cosine of the word's vectors at ``layer``
    layer: int  # 0 = the embedding layer's output, 1..N the encoder layers

    @property
    def num_layers(self) -> int:
        return self.to_static.shape[1] - 1


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def find_word(sentence: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word occurrence of ``word`` (any case), or None."""
    match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE)
    return match.span() if match else None


@torch.inference_mode()
def contextual_vectors(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, word: str,
                       sentences: list[str], layer: int | None = None) -> ContextualVectors:
    """Measure ``word`` in each of ``sentences`` (each must contain it); ``layer`` defaults to the last."""
    word = (word or "").strip()
    if not word or len(word.split()) != 1:
        raise LabInputError(msg("msg.lab.contextual.one_word"))
    sentences = [s.strip() for s in sentences if s and s.strip()]
    if len(sentences) < 2:
        raise LabInputError(msg("msg.lab.contextual.two_sentences"))
    if len(sentences) > MAX_SENTENCES:
        raise LabInputError(msg("msg.lab.contextual.too_many_sentences", max=MAX_SENTENCES, n=len(sentences)))
    spans = [find_word(s, word) for s in sentences]
    missing = [i + 1 for i, span in enumerate(spans) if span is None]
    if missing:
        raise LabInputError(msg("msg.lab.contextual.word_missing", numbers=", ".join(map(str, missing)), word=word))
    encoder = getattr(model, "base_model", model).eval()
    piece_ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if not piece_ids:
        raise LabInputError(msg("msg.lab.contextual.word_empty", word=word))
    table = encoder.get_input_embeddings().weight  # (vocab, hidden)
    static = table[piece_ids].float().mean(0)  # (hidden,)

    batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_offsets_mapping=True,
                      return_tensors="pt")
    offsets = batch.pop("offset_mapping")  # (sentences, seq, 2)
    hidden = torch.stack(encoder(**batch, output_hidden_states=True).hidden_states).float()  # (L+1, S, seq, H)
    vectors = []
    for i, (start, end) in enumerate(spans):
        # the word's pieces: tokens whose characters fall inside its span (special tokens have (0, 0))
        inside = (offsets[i, :, 0] >= start) & (offsets[i, :, 1] <= end) & (offsets[i, :, 1] > offsets[i, :, 0])
        if not inside.any():
            raise LabInputError(msg("msg.lab.contextual.word_cut", n=i + 1, word=word))
        vectors.append(hidden[:, i, inside].mean(1))  # (L+1, H)
    stacked = torch.stack(vectors, 1)  # (L+1, S, H)
    layers = stacked.shape[0] - 1
    chosen = layers if layer is None else int(layer)
    if not 0 <= chosen <= layers:
        raise LabInputError(msg("msg.lab.contextual.no_such_layer", layer=chosen, layers=layers))
    to_static = _cosine(stacked, static).T  # (S, L+1)
    at = stacked[chosen]  # (S, H)
    between = _cosine(at[:, None], at[None, :])
    return ContextualVectors(word, tokenizer.convert_ids_to_tokens(piece_ids), sentences, to_static.numpy(),
                             between.numpy(), chosen)


@dataclass
class MaskEffect:
    line: str
    pads: int  # [PAD] positions this line gets in the batch
    with_mask: float  # cosine of its [CLS] vector in the padded batch, mask on, with the line alone
    without_mask: float  # the same with the mask all ones: padding read as if it were text


@torch.inference_mode()
def mask_effect(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, lines: list[str],
                max_length: int = 64) -> list[MaskEffect]:
    """What the attention mask is for, measured: each line's [CLS] vector in a padded batch, with
    and without the mask, against the line encoded alone (no padding at all)."""
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2:
        raise LabInputError(msg("msg.lab.contextual.two_lines"))
    encoder = getattr(model, "base_model", model).eval()
    batch = tokenizer(lines, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    masked = encoder(**batch).last_hidden_state[:, 0]  # (lines, hidden)
    unmasked = encoder(**{**batch, "attention_mask": torch.ones_like(batch["attention_mask"])}).last_hidden_state[:, 0]
    rows = []
    for i, line in enumerate(lines):
        alone = encoder(**tokenizer(line, truncation=True, max_length=max_length,
                                    return_tensors="pt")).last_hidden_state[0, 0]
        rows.append(MaskEffect(line, int((batch["attention_mask"][i] == 0).sum()), float(_cosine(masked[i], alone)),
                               float(_cosine(unmasked[i], alone))))
    return rows
