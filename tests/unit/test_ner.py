"""NER grouping on hand-made arrays (exact entities for every strategy), and against transformers' pipeline.

The hand-made input is "Angela Merkel visited Paris" as bert-base-uncased splits it:
[CLS] angela mer ##kel visited paris [SEP], so "Merkel" is one word of two pieces.
"""

import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from lab import render_ner
from lab.errors import LabInputError
from lab.ner import (
    STRATEGIES,
    NerResult,
    aggregate,
    piece_tags,
    softmax,
    split_tag,
    tag_entities,
    word_units,
    wordpiece_join,
)
from tests.conftest import NER_LABELS

TEXT = "Angela Merkel visited Paris"
TOKENS = ["[CLS]", "angela", "mer", "##kel", "visited", "paris", "[SEP]"]
OFFSETS = [(0, 0), (0, 6), (7, 10), (10, 13), (14, 21), (22, 27), (0, 0)]
WORD_IDS = [None, 0, 1, 1, 2, 3, None]
SPECIAL = [1, 0, 0, 0, 0, 0, 1]


def row(label: str, p: float, labels=NER_LABELS) -> list[float]:
    """A piece's probabilities: ``p`` on ``label``, the rest shared evenly by the other labels."""
    rest = (1 - p) / (len(labels) - 1)
    return [p if name == label else rest for name in labels]


def probs(angela, mer, kel, visited, paris, labels=NER_LABELS) -> np.ndarray:
    # [CLS] and [SEP] are confidently "B-PER" here: they must still never become entities.
    special = row("B-PER", 0.99, labels) if "B-PER" in labels else row(labels[1], 0.99, labels)
    pieces = [row(*piece, labels=labels) for piece in (angela, mer, kel, visited, paris)]
    return np.array([special, *pieces, special], dtype=np.float32)


def run(p: np.ndarray, strategy: str, labels=NER_LABELS):
    return aggregate(p, labels, TOKENS, OFFSETS, SPECIAL, WORD_IDS, strategy)


def summary(entities) -> list[tuple]:
    return [(e.label, e.word, e.start, e.end, e.pieces) for e in entities]


def scores(entities) -> list[float]:
    return [e.score for e in entities]


# Every piece agrees: Angela B-PER, Mer I-PER, ##kel I-PER, visited O, Paris B-LOC.
AGREE = probs(("B-PER", 0.9), ("I-PER", 0.8), ("I-PER", 0.7), ("O", 0.99), ("B-LOC", 0.95))
MERKEL = ("PER", "angela merkel", 0, 13, (1, 2, 3))
PARIS = ("LOC", "paris", 22, 27, (5,))


@pytest.mark.parametrize("strategy,expected,expected_scores", [
    ("none", [("B-PER", "angela", 0, 6, (1,)), ("I-PER", "mer", 7, 10, (2,)),
              ("I-PER", "##kel", 10, 13, (3,)), ("B-LOC", "paris", 22, 27, (5,))], [0.9, 0.8, 0.7, 0.95]),
    ("simple", [MERKEL, PARIS], [(0.9 + 0.8 + 0.7) / 3, 0.95]),
    ("first", [MERKEL, PARIS], [(0.9 + 0.8) / 2, 0.95]),  # Merkel takes "mer"'s I-PER 0.8
    ("average", [MERKEL, PARIS], [(0.9 + 0.75) / 2, 0.95]),  # Merkel: mean of I-PER 0.8 and 0.7
    ("max", [MERKEL, PARIS], [(0.9 + 0.8) / 2, 0.95]),  # Merkel: "mer" is the more confident piece
])
def test_agreeing_pieces_under_every_strategy(strategy, expected, expected_scores):
    entities = run(AGREE, strategy)
    assert summary(entities) == expected
    assert scores(entities) == pytest.approx(expected_scores, abs=1e-6)


# The pieces of "Merkel" disagree: "mer" says I-PER 0.6, "##kel" says B-LOC 0.9.
DISAGREE = probs(("B-PER", 0.9), ("I-PER", 0.6), ("B-LOC", 0.9), ("O", 0.99), ("B-LOC", 0.95))


@pytest.mark.parametrize("strategy,expected,expected_scores", [
    ("none", [("B-PER", "angela", 0, 6, (1,)), ("I-PER", "mer", 7, 10, (2,)),
              ("B-LOC", "##kel", 10, 13, (3,)), ("B-LOC", "paris", 22, 27, (5,))], [0.9, 0.6, 0.9, 0.95]),
    # Pieces decide alone: the word is torn in two, "##kel" becomes a place of its own.
    ("simple", [("PER", "angela mer", 0, 10, (1, 2)), ("LOC", "##kel", 10, 13, (3,)), PARIS],
     [0.75, 0.9, 0.95]),
    # The first piece decides for the word: Merkel is I-PER, so it joins Angela.
    ("first", [MERKEL, PARIS], [0.75, 0.95]),
    # Average of the two rows: B-LOC (0.05 + 0.9) / 2 = 0.475 beats I-PER (0.6 + 0.0125) / 2.
    ("average", [("PER", "angela", 0, 6, (1,)), ("LOC", "merkel", 7, 13, (2, 3)), PARIS], [0.9, 0.475, 0.95]),
    # The most confident piece decides: "##kel" at 0.9, so Merkel is B-LOC 0.9.
    ("max", [("PER", "angela", 0, 6, (1,)), ("LOC", "merkel", 7, 13, (2, 3)), PARIS], [0.9, 0.9, 0.95]),
])
def test_disagreeing_pieces_under_every_strategy(strategy, expected, expected_scores):
    entities = run(DISAGREE, strategy)
    assert summary(entities) == expected
    assert scores(entities) == pytest.approx(expected_scores, abs=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_i_without_b_still_starts_an_entity(strategy):
    p = probs(("I-PER", 0.7), ("I-PER", 0.8), ("I-PER", 0.9), ("O", 0.99), ("I-LOC", 0.6))
    entities = run(p, strategy)
    assert summary(entities) == [MERKEL, PARIS]
    merkel = {"simple": 0.8, "first": 0.75, "average": (0.7 + 0.85) / 2, "max": (0.7 + 0.9) / 2}[strategy]
    assert scores(entities) == pytest.approx([merkel, 0.6], abs=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_adjacent_entities_of_one_type_stay_apart_at_a_b_tag(strategy):
    # "Angela" B-PER then "Merkel" B-PER: two people, because a B- always starts anew.
    p = probs(("B-PER", 0.9), ("B-PER", 0.8), ("I-PER", 0.7), ("O", 0.99), ("B-LOC", 0.95))
    entities = run(p, strategy)
    assert summary(entities) == [("PER", "angela", 0, 6, (1,)), ("PER", "merkel", 7, 13, (2, 3)), PARIS]
    # Average: B-PER (0.8 + 0.0375) / 2 still beats I-PER (0.025 + 0.7) / 2.
    merkel = {"simple": 0.75, "first": 0.8, "average": 0.41875, "max": 0.8}[strategy]
    assert scores(entities) == pytest.approx([0.9, merkel, 0.95], abs=1e-6)


def test_an_i_tag_of_another_type_splits():
    p = probs(("B-PER", 0.9), ("I-LOC", 0.8), ("I-LOC", 0.7), ("O", 0.99), ("O", 0.95))
    assert summary(run(p, "simple")) == [("PER", "angela", 0, 6, (1,)), ("LOC", "merkel", 7, 13, (2, 3))]


def test_word_whose_first_piece_is_o_is_dropped_by_first_but_kept_by_max():
    p = probs(("O", 0.9), ("O", 0.5), ("B-PER", 0.95), ("O", 0.99), ("O", 0.99))
    assert run(p, "first") == []
    assert summary(run(p, "max")) == [("PER", "merkel", 7, 13, (2, 3))]
    assert summary(run(p, "simple")) == [("PER", "##kel", 10, 13, (3,))]


def test_labels_without_prefix_continue_like_i():
    labels = ["O", "PER", "LOC"]
    p = probs(("PER", 0.9), ("PER", 0.8), ("PER", 0.7), ("O", 0.99), ("LOC", 0.95), labels=labels)
    assert summary(run(p, "simple", labels)) == [MERKEL, PARIS]
    assert split_tag("PER") == ("I", "PER") and split_tag("B-ORG") == ("B", "ORG")


def test_word_units_and_join():
    assert word_units(SPECIAL, WORD_IDS) == [[1], [2, 3], [4], [5]]
    assert word_units(SPECIAL) == [[1], [2], [3], [4], [5]]
    assert wordpiece_join(["angela", "mer", "##kel"]) == "angela merkel"
    assert wordpiece_join(["##kel"]) == "##kel"


def test_join_matches_the_real_tokenizer(bert_tokenizer):
    for tokens in (["angela", "mer", "##kel"], ["##kel"], ["un", "##bel", "##ie", "##va", "##bly", "dogs"]):
        assert wordpiece_join(tokens) == bert_tokenizer.convert_tokens_to_string(tokens)


def test_softmax_matches_torch():
    logits = np.array([[1.0, 2.0, -3.0], [100.0, 100.0, 0.0]], dtype=np.float32)
    expected = torch.tensor(logits).softmax(-1).numpy()
    assert softmax(logits) == pytest.approx(expected, abs=1e-7)
    assert softmax(logits).sum(-1) == pytest.approx([1.0, 1.0])


def test_bad_strategy_and_missing_word_ids_are_explained():
    with pytest.raises(LabInputError, match="Unknown aggregation 'sideways'"):
        run(AGREE, "sideways")
    with pytest.raises(LabInputError, match="needs word ids"):
        aggregate(AGREE, NER_LABELS, TOKENS, OFFSETS, SPECIAL, None, "first")


def hand_result(p: np.ndarray, strategy: str) -> NerResult:
    entities = run(p, strategy)
    pieces = piece_tags(p, NER_LABELS, TOKENS, OFFSETS, SPECIAL, WORD_IDS, strategy, entities)
    return NerResult(TEXT, strategy, NER_LABELS, pieces, entities, len(TEXT))


def test_piece_table_shows_how_pieces_became_entities():
    result = hand_result(DISAGREE, "first")
    kel = result.pieces[2]
    assert (kel.index, kel.token, kel.start, kel.end, kel.word) == (3, "##kel", 10, 13, 1)
    assert (kel.tag, kel.word_tag, kel.entity) == ("B-LOC", "I-PER", 0)  # its own tag lost to "mer"'s
    assert kel.score == pytest.approx(0.9) and kel.word_score == pytest.approx(0.6)
    assert [p.token for p in result.pieces] == TOKENS[1:-1]  # no [CLS]/[SEP]
    assert result.pieces[3].entity is None  # "visited"
    rows = render_ner.piece_rows(result)
    assert rows[2]["entity"] == "1 PER" and rows[2]["word's tag"] == "I-PER 0.60" and rows[3]["entity"] == ""
    simple = hand_result(DISAGREE, "simple")
    assert (simple.pieces[2].word_tag, simple.pieces[2].entity) == ("B-LOC", 1)


def test_render_values_for_highlighted_text():
    result = hand_result(AGREE, "simple")
    assert render_ner.highlighted(result) == {"text": TEXT, "entities": [
        {"entity": "PER", "start": 0, "end": 13}, {"entity": "LOC", "start": 22, "end": 27}]}
    assert list(render_ner.color_map(NER_LABELS, "simple")) == ["PER", "ORG", "LOC", "MISC"]
    rows = render_ner.entity_rows(result)
    assert [(r["text"], r["type"], r["score"]) for r in rows] == [("Angela Merkel", "PER", 0.8), ("Paris", "LOC", 0.95)]
    raw = hand_result(AGREE, "none")
    colours = render_ner.color_map(NER_LABELS, "none")
    assert list(colours) == NER_LABELS[1:] and colours["B-PER"] != colours["I-PER"]
    assert [e["entity"] for e in render_ner.highlighted(raw)["entities"]] == ["B-PER", "I-PER", "I-PER", "B-LOC"]
    assert raw.as_pipeline()[1] == {"entity": "I-PER", "score": pytest.approx(0.8), "word": "mer",
                                    "start": 7, "end": 10, "index": 2}


def test_unknown_types_get_distinct_colours():
    colours = render_ner.type_colours(["PER", "DRUG", "GENE"])
    assert colours["PER"] == render_ner.TYPE_COLOURS["PER"] and len(set(colours.values())) == 3


# --- Against transformers' pipeline on a tiny random model ------------------------------------

PIPELINE_TEXTS = [
    TEXT,
    "Unbelievably, Jürgen's dogs met Thermodynamics-Corp in São Paulo 🤔 yesterday.",
    "word " * 200,  # longer than the tiny model's 128 pieces: both truncate
]


@pytest.fixture(scope="module")
def tiny_ner(tiny_ner_dir):
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_ner_dir)  # model_max_length 128, like the model
    return model, tokenizer


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("text", PIPELINE_TEXTS, ids=["merkel", "mixed", "long"])
def test_matches_the_transformers_pipeline(tiny_ner, strategy, text):
    model, tokenizer = tiny_ner
    ner = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy=strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ner(text)
    mine = tag_entities(model, tokenizer, text, strategy).as_pipeline()
    assert reference, "the random model should tag something for the comparison to mean anything"
    assert [{k: v for k, v in e.items() if k != "score"} for e in mine] == \
           [{k: v for k, v in e.items() if k != "score"} for e in reference]
    assert [e["score"] for e in mine] == pytest.approx([float(e["score"]) for e in reference], abs=1e-4)


def test_one_pass_gives_pieces_and_entities(tiny_ner):
    model, tokenizer = tiny_ner
    result = tag_entities(model, tokenizer, TEXT, "average")
    assert [p.token for p in result.pieces] == TOKENS[1:-1]
    assert result.labels == NER_LABELS and result.tagged_chars == len(TEXT) and not result.warnings
    for n, entity in enumerate(result.entities):
        assert all(result.pieces[i - 1].entity == n for i in entity.pieces)


def test_long_text_is_truncated_with_a_notice(tiny_ner):
    model, tokenizer = tiny_ner
    text = "word " * 200
    result = tag_entities(model, tokenizer, text, "simple")
    assert len(result.pieces) == 126  # 128 minus [CLS] and [SEP]
    assert result.tagged_chars == 126 * 5 - 1 < len(text)
    assert "only the first 629 of 1,000 characters" in result.warnings[0]
    assert all(e.end <= result.tagged_chars for e in result.entities)


def test_unknown_aggregation_from_the_ui_is_explained(tiny_ner):
    with pytest.raises(LabInputError, match="use one of none, simple, first, average, max"):
        tag_entities(*tiny_ner, TEXT, "median")
