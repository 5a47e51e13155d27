"""Entity-level NER metrics against values worked out by hand."""

from __future__ import annotations

import pytest

from training.tasks.ner_metrics import entity_report, entity_spans, entity_types, is_better

# Sentence 1: a person found only in part, a location predicted as an organisation.
# Sentence 2: an organisation predicted with I- but no B- (invalid IOB2), a person found exactly.
GOLD = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "O", "B-PER"]]
PRED = [["B-PER", "O", "O", "B-ORG", "O"], ["I-ORG", "I-ORG", "O", "B-PER"]]


def test_spans_follow_strict_iob2():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert entity_spans(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]  # two people
    assert entity_spans(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 1)]  # I- of another type: dropped
    assert entity_spans(["O", "I-ORG", "I-ORG"]) == []  # I- without B-: no entity in strict mode
    assert entity_spans(["O", "I-ORG", "I-ORG"], mode="lenient") == [("ORG", 1, 3)]
    assert entity_spans(["B-PER", "I-LOC"], mode="lenient") == [("PER", 0, 1), ("LOC", 1, 2)]
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []
    assert entity_spans(["B-MISC"]) == [("MISC", 0, 1)]  # an entity at the very end is closed
    with pytest.raises(ValueError):
        entity_spans(["O"], mode="loose")


def test_report_partial_match_wrong_type_and_i_without_b():
    r = entity_report(GOLD, PRED)
    # gold: PER(0,2) LOC(3,4) | ORG(0,2) PER(3,4) = 4; predicted: PER(0,1) ORG(3,4) | PER(3,4) = 3; 1 exact
    assert (r["support"], r["predicted"]) == (4, 3)
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(1 / 4)
    assert r["f1"] == pytest.approx(2 / 7)
    assert r["per_type"]["PER"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2}
    assert r["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert r["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 1}
    assert r["macro_f1"] == pytest.approx(0.5 / 3)
    assert r["accuracy"] == pytest.approx(6 / 9)  # words with the right tag, O included
    assert r["labels"] == ["LOC", "ORG", "PER"] and r["confusion_labels"] == ["LOC", "ORG", "PER", "O"]
    # rows gold, columns predicted; entity level: same boundaries pair up, else missed (->O) / spurious (O->)
    assert r["confusion"] == [
        [0, 1, 0, 0],  # LOC(3,4) predicted as ORG with the same boundaries
        [0, 0, 0, 1],  # ORG(0,2) missed: the I-ORG I-ORG prediction is no entity
        [0, 0, 1, 1],  # PER(3,4) found; PER(0,2) missed (only PER(0,1) predicted)
        [0, 0, 1, 0],  # PER(0,1) spurious
    ]
    assert (r["sentences"], r["tokens"], r["confusion_level"], r["mode"]) == (2, 9, "entity", "strict")


def test_lenient_mode_reads_i_without_b_as_an_entity():
    r = entity_report(GOLD, PRED, mode="lenient")
    assert (r["support"], r["predicted"]) == (4, 4)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5) and r["f1"] == pytest.approx(0.5)
    assert r["per_type"]["ORG"]["f1"] == pytest.approx(2 / 3)  # ORG(0,2) found; ORG(3,4) spurious


def test_perfect_and_empty_predictions_and_listed_types():
    perfect = entity_report(GOLD, GOLD)
    assert perfect["f1"] == perfect["precision"] == perfect["recall"] == perfect["accuracy"] == 1.0
    nothing = entity_report(GOLD, [["O"] * 5, ["O"] * 4])
    assert nothing["f1"] == 0.0 and nothing["precision"] == 0.0 and nothing["predicted"] == 0
    assert nothing["accuracy"] == pytest.approx(3 / 9)  # the three gold O words
    # a type listed but absent everywhere still gets a row (all zeros), in the given order
    listed = entity_report(GOLD, GOLD, types=["PER", "ORG", "LOC", "MISC"])
    assert listed["labels"] == ["PER", "ORG", "LOC", "MISC"]
    assert listed["per_type"]["MISC"]["support"] == 0 and listed["f1"] == 1.0
    with pytest.raises(ValueError, match="sentence 0"):
        entity_report([["O", "O"]], [["O"]])


def test_entity_types_and_best_rule():
    assert entity_types(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) == ["LOC", "PER"]
    assert is_better({"f1": 0.5, "accuracy": 0.8}, None)
    assert is_better({"f1": 0.5, "accuracy": 0.9}, {"f1": 0.5, "accuracy": 0.8})
    assert not is_better({"f1": 0.4, "accuracy": 0.99}, {"f1": 0.5, "accuracy": 0.8})


def test_tags_without_a_prefix_read_as_inside_tags():
    # a model's own label set may name a type bare ("PER"): it continues a neighbour, as I- does
    assert entity_spans(["B-PER", "PER", "O"]) == [("PER", 0, 2)]
    assert entity_spans(["O", "PER", "PER"], mode="lenient") == [("PER", 1, 3)]
    r = entity_report([["B-PER", "I-PER", "O"]], [["B-PER", "PER", "O"]])
    assert r["f1"] == 1.0 and r["per_type"]["PER"]["support"] == 1
