"""A word's capital letter, for a model whose tokenizer lowercases everything.

The embedded encoder is uncased: "United Nations" and "united nations" reach it as the same
pieces, yet in news text the capital is the strongest sign of a name. A NER head trained with
``word_shape`` in its config gets that one bit back through BERT's segment embedding: every piece
of a word that starts with a capital letter has ``token_type_ids`` 1, the rest 0. A single text
never uses segment 1 otherwise, so no weight is added and the head still loads as a plain
``BertForTokenClassification``; a model without the flag is given the usual zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

CONFIG_KEY = "word_shape"
CAPITALIZED = "capitalized"


def enabled(config) -> bool:
    """Whether a model was trained with word shapes in its segment ids."""
    return getattr(config, CONFIG_KEY, None) == CAPITALIZED


def shape(word: str) -> int:
    """1 for a word that starts with a capital letter ("Paris", "EU", "McDonald"), else 0."""
    return int(word[:1].isupper())


def from_words(words: Sequence[str], word_ids: Sequence[int | None]) -> list[int]:
    """Segment ids of the pieces of ``words`` (``word_ids``: each piece's word, None for specials)."""
    shapes = [shape(w) for w in words]
    return [0 if w is None else shapes[w] for w in word_ids]


def from_text(text: str, offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]) -> list[int]:
    """Segment ids of a tokenized raw text: a piece takes the shape of the first character of its word."""
    starts: dict[int, int] = {}
    for (start, _), w in zip(offsets, word_ids):
        if w is not None:
            starts.setdefault(w, start)
    return [0 if w is None else int(text[starts[w]:starts[w] + 1].isupper()) for w in word_ids]
