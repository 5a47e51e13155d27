"""Classification metrics in plain numpy (no sklearn): accuracy, per-class P/R/F1, confusion.

Definitions follow scikit-learn's: a class with no predictions has precision 0, a class with no
true examples has recall 0 (instead of a division-by-zero warning), and macro averages weigh
every class in ``label_names`` equally, present in ``y_true`` or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """(num_labels, num_labels) counts; rows are true labels, columns predicted labels."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]
) -> dict:
    """Everything the results view shows, JSON-able.

    Returns ``accuracy``, ``macro_precision``, ``macro_recall``, ``macro_f1``, ``weighted_f1``,
    ``per_class`` (label -> precision, recall, f1, support, in label order), ``confusion``
    (list of lists, rows = true, columns = predicted, in the order of ``labels``), ``labels``
    and ``support`` (number of examples).
    """
    names = list(label_names)
    matrix = confusion_matrix(y_true, y_pred, len(names)).astype(np.float64)
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)  # true examples per class
    predicted = matrix.sum(axis=0)  # predictions per class
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    total = float(matrix.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_precision": float(precision.mean()) if names else 0.0,
        "macro_recall": float(recall.mean()) if names else 0.0,
        "macro_f1": float(f1.mean()) if names else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        },
        "confusion": matrix.astype(np.int64).tolist(),
        "labels": names,
        "support": int(total),
    }


def is_better(candidate: dict, best: dict | None) -> bool:
    """The checkpoint rule: higher macro F1 wins, ties go to higher accuracy."""
    if best is None:
        return True
    return (candidate["macro_f1"], candidate["accuracy"]) > (best["macro_f1"], best["accuracy"])
