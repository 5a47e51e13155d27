"""training.tasks.metrics against values worked out by hand."""

import json

import pytest

from training.tasks.metrics import classification_report, confusion_matrix, is_better


def test_confusion_rows_are_true_labels_columns_predictions():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_report_matches_hand_computed_values():
    # true:  a a a b b c ; pred: a a b b c c
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    # a: tp 2, predicted 2, support 3 -> P 1, R 2/3, F1 0.8
    # b: tp 1, predicted 2, support 2 -> P 1/2, R 1/2, F1 1/2
    # c: tp 1, predicted 2, support 1 -> P 1/2, R 1, F1 2/3
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert report["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["macro_precision"] == pytest.approx(2 / 3)
    assert report["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert report["weighted_f1"] == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)
    assert report["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["labels"] == ["a", "b", "c"]
    assert report["support"] == 6
    json.dumps(report)  # plain Python types only


def test_classes_never_predicted_or_absent_score_zero_without_nan():
    # "c" never occurs nor is predicted; "b" occurs but is never predicted.
    report = classification_report([0, 1, 0], [0, 0, 0], ["a", "b", "c"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # a: P 2/3, R 1, F1 0.8; the macro average counts all three classes
    assert report["macro_f1"] == pytest.approx(0.8 / 3)
    assert report["accuracy"] == pytest.approx(2 / 3)


def test_perfect_and_empty():
    assert classification_report([1, 0], [1, 0], ["x", "y"])["macro_f1"] == 1.0
    empty = classification_report([], [], ["x", "y"])
    assert empty["accuracy"] == 0.0 and empty["confusion"] == [[0, 0], [0, 0]]


def test_best_checkpoint_rule_macro_f1_then_accuracy():
    assert is_better({"macro_f1": 0.5, "accuracy": 0.5}, None)
    assert is_better({"macro_f1": 0.6, "accuracy": 0.1}, {"macro_f1": 0.5, "accuracy": 0.9})
    assert is_better({"macro_f1": 0.5, "accuracy": 0.7}, {"macro_f1": 0.5, "accuracy": 0.6})
    assert not is_better({"macro_f1": 0.5, "accuracy": 0.6}, {"macro_f1": 0.5, "accuracy": 0.6})
