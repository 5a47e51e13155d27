"""Masked-LM fill-in (the cloze task BERT was pre-trained on), as plain data.

Written directly on the model rather than through the pipeline so that several masks,
scoring the user's own words (``targets``) and the per-mask ranking come from one forward
pass, and the result is a dataclass the UI and the API both read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab.errors import LabInputError
from lab.i18n import msg
from lab.predict import MaskLogits
from lab.tokenization import max_input_length

# A blank typed as three or more underscores ("I ___ dogs") means a mask too.
BLANK = re.compile(r"_{3,}")
MAX_MASKS = 10


@dataclass(frozen=True)
class Candidate:
    token: str  # as the vocabulary has it, e.g. "##ing"
    word: str  # as it reads in text, e.g. "ing"
    token_id: int
    score: float


@dataclass(frozen=True)
class MaskPrediction:
    position: int  # token index of the mask in the model's input
    candidates: list[Candidate]
    targets: list[Candidate] = field(default_factory=list)  # the user's own words, scored


@dataclass(frozen=True)
class FillMaskResult:
    text: str  # the input with every blank written as the model's mask token
    masks: list[MaskPrediction]
    best_fill: str  # the text with every mask replaced by its top candidate
    warnings: list[str] = field(default_factory=list)

    def label(self, index: int = 0) -> dict[str, float]:
        """One mask's ranking in gr.Label form: {word: probability}."""
        label: dict[str, float] = {}
        for c in self.masks[index].candidates:
            # Two ids can read alike ("s" and "##s"); the vocabulary form keeps both visible.
            label[c.token if c.word in label or not c.word else c.word] = c.score
        return label


def normalize_masks(text: str, mask_token: str) -> str:
    """Write "___" blanks and a typed "[MASK]" as the model's own mask token (e.g. <mask>)."""
    text = BLANK.sub(mask_token, text)
    if mask_token != "[MASK]":
        text = text.replace("[MASK]", mask_token)
    return text


def _word(tokenizer: PreTrainedTokenizerBase, token_id: int) -> str:
    # decode() keeps a lone "##ing" as is; as a fill it reads "ing".
    return tokenizer.decode([token_id]).strip().removeprefix("##")


def check_targets(targets: str | None, max_targets: int, max_chars: int) -> list[str]:
    """The comma-separated words to score, refused when there are more than ``max_targets`` or one
    is longer than ``max_chars`` (each is tokenized and looked up: a cap keeps an answer quick)."""
    words = [t.strip() for t in (targets or "").split(",") if t.strip()]
    if len(words) > max_targets:
        raise LabInputError(msg("msg.lab.fill_mask.too_many_targets", n=f"{len(words):,}", max=max_targets))
    long = next((w for w in words if len(w) > max_chars), None)
    if long is not None:
        raise LabInputError(msg("msg.lab.fill_mask.target_too_long", word=long[:20], chars=f"{len(long):,}",
                                max=max_chars))
    return words


def _target_ids(tokenizer, targets: list[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """Each target word's vocabulary id; words the vocabulary splits are scored by their first piece."""
    ids, warnings = [], []
    for word in targets:
        pieces = tokenizer.tokenize(word) if not word.startswith("##") else [word]
        if not pieces:
            continue
        if len(pieces) > 1:
            warnings.append(msg("msg.lab.fill_mask.target_split", word=word, pieces=" ".join(pieces),
                                first=pieces[0]))
        ids.append((word, tokenizer.convert_tokens_to_ids(pieces[0])))
    return ids, warnings


@torch.inference_mode()
def fill_mask(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    top_k: int = 5,
    targets: list[str] | None = None,
    max_masks: int = MAX_MASKS,
) -> FillMaskResult:
    """Rank the vocabulary at every mask of ``text``.

    Masks are predicted independently: each sees the other masks as [MASK], not as the
    words chosen for them, which is exactly how BERT was trained.
    """
    if tokenizer.mask_token is None:
        raise LabInputError(msg("msg.lab.fill_mask.no_mask_token"))
    text = normalize_masks(text, tokenizer.mask_token)
    n_masks = text.count(tokenizer.mask_token)
    if n_masks == 0:
        raise LabInputError(msg("msg.lab.fill_mask.no_mask"))
    if n_masks > max_masks:
        raise LabInputError(msg("msg.lab.fill_mask.too_many_masks", n=n_masks, max=max_masks))
    top_k = int(min(max(top_k, 1), 50))
    encoded = tokenizer(text, return_tensors="pt", truncation=True,
                        max_length=max_input_length(tokenizer, model.config))
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if not positions:
        raise LabInputError(msg("msg.lab.fill_mask.masks_beyond_length"))
    logits = MaskLogits.for_model(model, tokenizer)(encoded, positions)  # (n_masks, vocab)
    probs = logits.float().softmax(-1)
    target_ids, warnings = _target_ids(tokenizer, [t.strip() for t in targets or [] if t.strip()])
    if len(positions) < n_masks:
        warnings.append(msg("msg.lab.fill_mask.some_masks_beyond", n=n_masks - len(positions)))
    masks = []
    for row, position in zip(probs, positions):
        scores, ids = row.topk(top_k)
        candidates = [
            Candidate(tokenizer.convert_ids_to_tokens(i), _word(tokenizer, i), i, s)
            for s, i in zip(scores.tolist(), ids.tolist())
        ]
        scored = [Candidate(tokenizer.convert_ids_to_tokens(i), w, i, row[i].item()) for w, i in target_ids]
        masks.append(MaskPrediction(position, candidates, scored))
    best = text
    for prediction in masks:
        best = best.replace(tokenizer.mask_token, prediction.candidates[0].word, 1)
    return FillMaskResult(text, masks, best, warnings)
