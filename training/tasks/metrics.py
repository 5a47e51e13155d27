"""Classification metrics from scikit-learn: accuracy, per-class P/R/F1, confusion, as one report.

A class with no predictions has precision 0, a class with no true examples has recall 0
(``zero_division=0`` instead of a warning), and macro averages weigh every class in
``label_names`` equally, present in ``y_true`` or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """(num_labels, num_labels) counts; rows are true labels, columns predicted labels."""
    return sk_confusion_matrix(y_true, y_pred, labels=list(range(num_labels)))


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
    total = len(y_true)
    if not names or not total:
        return {"accuracy": 0.0, "macro_precision": 0.0, "macro_recall": 0.0, "macro_f1": 0.0, "weighted_f1": 0.0,
                "per_class": {name: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for name in names},
                "confusion": np.zeros((len(names), len(names)), dtype=np.int64).tolist(), "labels": names,
                "support": 0}
    labels = list(range(len(names)))
    matrix = confusion_matrix(y_true, y_pred, len(names))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                                     zero_division=0)
    return {
        "accuracy": float(np.trace(matrix) / total),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * support).sum() / total),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        },
        "confusion": matrix.astype(np.int64).tolist(),
        "labels": names,
        "support": total,
    }


def is_better(candidate: dict, best: dict | None) -> bool:
    """The checkpoint rule: higher macro F1 wins, ties go to higher accuracy."""
    if best is None:
        return True
    return (candidate["macro_f1"], candidate["accuracy"]) > (best["macro_f1"], best["accuracy"])
