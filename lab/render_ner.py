"""The NER result in the shapes the UI shows: highlighted-text value, colours, table rows.

Pure functions of a ``NerResult`` (no gradio here). gr.HighlightedText escapes what it shows,
and the tables are rendered as text, so no HTML is built from user text in this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.options import NER_IGNORE as IGNORE
from lab.options import entity_type

if TYPE_CHECKING:
    from lab.ner import NerResult

# The CoNLL-2003 tag set most NER models use (dslim/bert-base-NER among them); the legend
# starts with it before a model has answered.
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# CoNLL-2003's four types get fixed colours; any other type takes the next of PALETTE.
TYPE_COLOURS = {"PER": "#f28b82", "ORG": "#8ab4f8", "LOC": "#81c995", "MISC": "#fdd663"}
PALETTE = ["#c58af9", "#78d9ec", "#fcad70", "#ff8bcb", "#a8dab5", "#d7aefb", "#e6c9a8", "#aecbfa"]
# Under "none" the raw tags are shown: I- in a lighter shade of its type's colour than B-.
LIGHTER = {"PER": "#fad2cf", "ORG": "#d2e3fc", "LOC": "#ceead6", "MISC": "#feefc3"}


def _lighten(hex_colour: str, amount: float = 0.55) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    r, g, b = (round(c + (255 - c) * amount) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def type_colours(types: list[str]) -> dict[str, str]:
    """One colour per entity type, stable for the four CoNLL types."""
    colours, spare = {}, iter(PALETTE * (1 + len(types) // len(PALETTE)))
    for kind in types:
        colours[kind] = TYPE_COLOURS.get(kind) or next(spare)
    return colours


def color_map(labels: list[str], aggregation: str) -> dict[str, str]:
    """The highlighted text's colour per label, which is also its legend.

    ``labels`` are the model's labels by id. Grouped results are labelled by type (PER,
    LOC...); under ``none`` by the raw tags (B-PER, I-PER...), so the legend then lists the
    model's whole tag set, each I- a lighter shade of its B-.
    """
    types = list(dict.fromkeys(entity_type(label) for label in labels if label not in IGNORE))
    colours = type_colours(types)
    if aggregation != "none":
        return colours
    out = {}
    for label in labels:
        if label in IGNORE:
            continue
        kind = entity_type(label)
        out[label] = (LIGHTER.get(kind) or _lighten(colours[kind])) if label.startswith("I-") else colours[kind]
    return out


def highlighted(result: NerResult) -> dict:
    """gr.HighlightedText's dict form: the text and each entity's span, labelled by its type
    (or raw tag under ``none``). Scores are in the tables beside it."""
    return {
        "text": result.text,
        "entities": [{"entity": e.label, "start": e.start, "end": e.end} for e in result.entities],
    }


def entity_rows(result: NerResult) -> list[dict]:
    """One row per entity: what was typed, its type, confidence and where it sits."""
    return [
        {"#": n + 1, "text": result.text[e.start:e.end], "type": e.label, "score": round(e.score, 4),
         "chars": f"{e.start}–{e.end}", "pieces": len(e.pieces)}
        for n, e in enumerate(result.entities)
    ]


def piece_rows(result: NerResult) -> list[dict]:
    """One row per sub-word piece: its own B-/I- tag and score, its word's tag under the
    chosen aggregation, and the entity it ended up in (by the entity's number)."""
    rows = []
    for p in result.pieces:
        entity = "" if p.entity is None else f"{p.entity + 1} {result.entities[p.entity].label}"
        rows.append({
            "#": p.index, "piece": p.token, "chars": f"{p.start}–{p.end}",
            "word": None if p.word is None else p.word + 1,
            "tag": p.tag, "score": round(p.score, 4),
            "word's tag": f"{p.word_tag} {p.word_score:.2f}", "entity": entity,
        })
    return rows
