"""Named-entity recognition: per-piece B-/I- tags and the entities grouped from them.

The model tags every WordPiece piece ("angela", "mer", "##kel") with a label such as B-PER
(begins a person) or I-PER (inside one). Turning those tags into entities ("Angela Merkel",
PER) is post-processing, and that is what a student should see, so it is written here as
framework-light functions over plain arrays (probabilities per piece, offsets, word ids, a
special-token mask), in the style of transformers' ``utils_qa.py``, and tested on hand-made
arrays. The rules are those of transformers' token-classification pipeline, whose
``aggregation_strategy`` names we keep:

- ``none``: every piece with its own best tag, nothing grouped.
- ``simple``: every piece with its own best tag, then adjacent pieces of the same type are
  grouped (a B- tag always starts a new entity). Pieces of one word may end up apart.
- ``first`` / ``average`` / ``max``: first decide one tag per *word*, from its first piece, the
  average of its pieces' probabilities, or its most confident piece; then group words as above.

One difference on purpose: which pieces form a word comes from the fast tokenizer's
``word_ids`` instead of the pipeline's length heuristic. For WordPiece the two agree except
on text whose normalisation changes its length (combining accents), where ``word_ids`` is right.

``tag_entities`` runs the model once and returns both the raw per-piece tags and the grouped
entities from that same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab import word_shape
from lab.errors import LabInputError
from lab.i18n import msg
from lab.options import NER_IGNORE as IGNORE
from lab.options import NER_STRATEGIES as STRATEGIES
from lab.options import entity_type, split_tag
from lab.predict import TokenLogits
from lab.tokenization import max_input_length

WORD_STRATEGIES = ("first", "average", "max")


@dataclass(frozen=True)
class Entity:
    """One entity (or, under ``none``, one tagged piece).

    ``label`` is the entity type ("PER") once grouped, or the raw tag ("B-PER") under ``none``.
    ``word`` is the text as the tokenizer decodes its pieces (lower-cased by an uncased
    model); ``start``/``end`` index the original text, so ``text[start:end]`` is what was typed.
    """

    label: str
    score: float
    word: str
    start: int
    end: int
    pieces: tuple[int, ...]  # positions in the model's input (so [CLS] is 0)


@dataclass(frozen=True)
class PieceTag:
    """One piece of the input as the model tagged it, and what the aggregation made of it."""

    index: int  # position in the model's input
    token: str  # as the vocabulary has it, e.g. "##kel"
    start: int
    end: int
    word: int | None  # which word of the text the piece belongs to
    tag: str  # the piece's own best label, e.g. "I-PER"
    score: float  # its probability
    word_tag: str  # the label its word got under the aggregation (its own tag under none/simple)
    word_score: float
    entity: int | None  # index into NerResult.entities, None when the piece is in no entity


@dataclass(frozen=True)
class NerResult:
    text: str
    aggregation: str
    labels: list[str]  # the model's labels, by id
    pieces: list[PieceTag]  # every real piece (no [CLS]/[SEP]), in order
    entities: list[Entity]
    tagged_chars: int  # how much of the text the model read; < len(text) when truncated
    warnings: list[str] = field(default_factory=list)

    def as_pipeline(self) -> list[dict]:
        """The entities as transformers' token-classification pipeline returns them."""
        key = "entity" if self.aggregation == "none" else "entity_group"
        out = []
        for e in self.entities:
            item = {key: e.label, "score": e.score, "word": e.word, "start": e.start, "end": e.end}
            if self.aggregation == "none":
                item["index"] = e.pieces[0]
            out.append(item)
        return out


# --- Post-processing on plain arrays --------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over labels per piece: (seq, labels) logits -> (seq, labels), rows sum to 1."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def wordpiece_join(tokens: Sequence[str]) -> str:
    """Pieces back to text the way BERT's WordPiece decoder does: "##" glues, others get a space.

    The first piece keeps a leading "##" (a lone "##kel" reads "##kel"), as in the decoder.
    """
    out = []
    for i, token in enumerate(tokens):
        if i == 0:
            out.append(token)
        elif token.startswith("##"):
            out.append(token[2:])
        else:
            out.append(" " + token)
    return "".join(out)


def word_units(special_mask: Sequence[int], word_ids: Sequence[int | None] | None = None) -> list[list[int]]:
    """Positions of the real pieces, grouped into words: [[1], [2, 3], [4], [5]] for
    "[CLS] angela mer ##kel visited paris [SEP]".

    Special tokens are left out. Without ``word_ids`` every piece is its own word.
    """
    units: list[list[int]] = []
    previous = None
    for position, special in enumerate(special_mask):
        if special:
            previous = None
            continue
        word = None if word_ids is None else word_ids[position]
        if units and word is not None and word == previous:
            units[-1].append(position)
        else:
            units.append([position])
        previous = word
    return units


def decide(probs: np.ndarray, unit: Sequence[int], strategy: str) -> tuple[int, float]:
    """The label id and score of one unit (a piece, or a word's pieces) under ``strategy``.

    - ``none``/``simple``/``first``: the best label of the unit's first piece.
    - ``average``: the best label of the pieces' mean probabilities (NaN-safe).
    - ``max``: the best label of the single most confident piece (the first one on a tie).
    """
    if strategy == "average":
        mean = np.nanmean(probs[list(unit)], axis=0)
        best = int(mean.argmax())
        return best, float(mean[best])
    if strategy == "max":
        row = probs[max(unit, key=lambda position: probs[position].max())]
    else:
        row = probs[unit[0]]
    best = int(row.argmax())
    return best, float(row[best])


@dataclass(frozen=True)
class _Tagged:
    """A unit (piece or word) with its decided label, before grouping."""

    label: str
    score: float
    word: str
    start: int
    end: int
    pieces: tuple[int, ...]


def group_entities(tagged: Sequence[_Tagged], join: Callable[[Sequence[str]], str]) -> list[Entity]:
    """Merge adjacent units into entities.

    A unit joins the entity before it when its type equals the type of the unit just before it
    and its tag is not B- (a B- always starts a new entity, so "B-PER B-PER" is two people).
    An I- after something of another type (or after O) starts a new entity too: the model
    forgot the B-, the entity is kept. The entity takes the first unit's type, the mean of
    the units' scores, and spans from the first unit's start to the last unit's end.
    """
    groups: list[list[_Tagged]] = []
    for unit in tagged:
        if groups:
            bi, kind = split_tag(unit.label)
            _, last_kind = split_tag(groups[-1][-1].label)
            if kind == last_kind and bi != "B":
                groups[-1].append(unit)
                continue
        groups.append([unit])
    return [
        Entity(
            label=entity_type(group[0].label),
            score=float(np.nanmean([u.score for u in group])),
            word=join([u.word for u in group]),
            start=group[0].start,
            end=group[-1].end,
            pieces=tuple(p for u in group for p in u.pieces),
        )
        for group in groups
    ]


def aggregate(
    probs: np.ndarray,
    labels: Sequence[str],
    tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    special_mask: Sequence[int],
    word_ids: Sequence[int | None] | None = None,
    strategy: str = "simple",
    join: Callable[[Sequence[str]], str] = wordpiece_join,
    ignore: Sequence[str] = IGNORE,
) -> list[Entity]:
    """Entities from per-piece label probabilities, as the token-classification pipeline groups them.

    Args:
        probs: (seq, labels) probabilities, one row per piece of the model's input.
        labels: label names by id, e.g. ["O", "B-PER", "I-PER", ...].
        tokens: the pieces as text (an [UNK] piece is best given as the characters it covers).
        offsets: (start, end) character span of each piece in the original text.
        special_mask: 1 for [CLS]/[SEP]/[PAD], which are never tagged.
        word_ids: which word each piece belongs to (``None`` for specials); needed by the
            word strategies, ignored by none/simple.
        strategy: one of ``STRATEGIES``.
        join: turns pieces back into text (``tokenizer.convert_tokens_to_string`` for a real
            tokenizer); the default is BERT's WordPiece rule.
        ignore: labels dropped from the result ("O" by default).

    Returns:
        Entities in text order. Under ``none`` each one is a single piece labelled with its
        raw tag ("B-PER"); otherwise its label is the type ("PER").
    """
    if strategy not in STRATEGIES:
        raise LabInputError(msg("msg.lab.ner.unknown_aggregation", strategy=strategy, choices=", ".join(STRATEGIES)))
    if strategy in WORD_STRATEGIES:
        if word_ids is None:
            raise LabInputError(msg("msg.lab.ner.needs_word_ids", strategy=strategy))
        units = word_units(special_mask, word_ids)
    else:
        units = word_units(special_mask)
    tagged = []
    for unit in units:
        best, score = decide(probs, unit, strategy)
        pieces = [tokens[p] for p in unit]
        # A word's text is its pieces joined; under none/simple a unit is one piece, kept as is.
        word = join(pieces) if strategy in WORD_STRATEGIES else pieces[0]
        tagged.append(_Tagged(labels[best], score, word,
                              int(offsets[unit[0]][0]), int(offsets[unit[-1]][1]), tuple(unit)))
    if strategy == "none":
        entities = [Entity(t.label, t.score, t.word, t.start, t.end, t.pieces) for t in tagged]
    else:
        entities = group_entities(tagged, join)
    return [e for e in entities if e.label not in ignore]


def piece_tags(
    probs: np.ndarray,
    labels: Sequence[str],
    tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    special_mask: Sequence[int],
    word_ids: Sequence[int | None] | None,
    strategy: str,
    entities: Sequence[Entity],
) -> list[PieceTag]:
    """Every real piece with its own best tag, its word's tag under ``strategy`` and its entity.

    This is the table that shows how pieces become entities: "##kel" may be B-LOC on its own
    and still end up in a PER entity because its word took the tag of "mer".
    """
    word_level = strategy in WORD_STRATEGIES and word_ids is not None
    units = word_units(special_mask, word_ids if word_level else None)
    in_entity = {p: n for n, e in enumerate(entities) for p in e.pieces}
    rows = []
    for unit in units:
        word_best, word_score = decide(probs, unit, strategy if word_level else "first")
        for position in unit:
            best = int(probs[position].argmax())
            rows.append(PieceTag(
                index=position, token=tokens[position],
                start=int(offsets[position][0]), end=int(offsets[position][1]),
                word=None if word_ids is None else word_ids[position],
                tag=labels[best], score=float(probs[position][best]),
                word_tag=labels[word_best], word_score=word_score,
                entity=in_entity.get(position),
            ))
    return rows


# --- Running the model -----------------------------------------------------------------------


@torch.inference_mode()
def tag_entities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    aggregation: str = "simple",
) -> NerResult:
    """Tag ``text`` with one forward pass: the raw per-piece tags and the grouped entities.

    A text longer than the model's window is truncated (the result says how far it read)
    rather than split into overlapping windows: one pass keeps the piece table and the
    entities exactly in step, which is the point of this tab.
    """
    aggregation = (aggregation or "simple").strip().lower()
    if aggregation not in STRATEGIES:
        raise LabInputError(msg("msg.lab.ner.unknown_aggregation", strategy=aggregation, choices=", ".join(STRATEGIES)))
    if not tokenizer.is_fast:
        raise LabInputError(msg("msg.lab.ner.no_fast_tokenizer"))
    limit = max_input_length(tokenizer, model.config)
    encoding = tokenizer(text, truncation=True, max_length=limit, return_overflowing_tokens=True,
                         return_offsets_mapping=True, return_special_tokens_mask=True)
    truncated = len(encoding["input_ids"]) > 1  # more than one window: the rest was cut
    ids = encoding["input_ids"][0]
    offsets = encoding["offset_mapping"][0]
    special = encoding["special_tokens_mask"][0]
    word_ids = encoding.word_ids(0)
    device = next(model.parameters()).device
    inputs = {"input_ids": torch.tensor([ids], device=device),
              "attention_mask": torch.tensor([encoding["attention_mask"][0]], device=device)}
    if word_shape.enabled(model.config):  # the head reads capitals from the segment ids
        inputs["token_type_ids"] = torch.tensor([word_shape.from_text(text, offsets, word_ids)], device=device)
    elif "token_type_ids" in encoding:
        inputs["token_type_ids"] = torch.tensor([encoding["token_type_ids"][0]], device=device)
    logits = TokenLogits.for_model(model, tokenizer)(inputs).float().cpu().numpy()  # (seq, labels)
    probs = softmax(logits)
    labels = [model.config.id2label[i] for i in range(probs.shape[-1])]
    # An [UNK] piece reads as the characters it stands for, as the pipeline shows it.
    tokens = [text[s:e] if i == tokenizer.unk_token_id else t
              for t, i, (s, e) in zip(tokenizer.convert_ids_to_tokens(ids), ids, offsets)]
    entities = aggregate(probs, labels, tokens, offsets, special, word_ids, aggregation,
                         join=tokenizer.convert_tokens_to_string)
    pieces = piece_tags(probs, labels, tokens, offsets, special, word_ids, aggregation, entities)
    tagged_chars = max((p.end for p in pieces), default=0) if truncated else len(text)
    warnings = []
    if truncated:
        warnings.append(msg("msg.lab.ner.truncated", limit=limit, tagged=f"{tagged_chars:,}", total=f"{len(text):,}"))
    return NerResult(text, aggregation, labels, pieces, entities, tagged_chars, warnings)
