"""A finished run's validation report as the tables a person reads: scores per class (entity type or
article), the confusion matrix with at most ``TABLE_CLASSES`` classes, and the mistakes."""

from __future__ import annotations

import pandas as pd

from training.data.reader import TABLE_CLASSES, other_classes
from training.tasks import registry


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def _most_supported(matrix: list[list[int]], n: int) -> list[int]:
    """Indices of the ``n`` classes with the most validation examples (rows of the confusion matrix), in order."""
    if len(matrix) <= n:
        return list(range(len(matrix)))
    return sorted(sorted(range(len(matrix)), key=lambda i: -sum(matrix[i]))[:n])


def result_tables(task: str, result) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per class/type/article scores, confusion matrix, mistakes) of the kept checkpoint on validation,
    by the task's own tables (its ``tables`` in the task registry)."""
    return registry.get(task).tables_function()(result)


def classification_tables(result) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    per, confusion = _confusion(result.val_report, "per_class", "labels", "class")
    return per, confusion, pd.DataFrame(result.misclassified)


def ner_tables(result) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    per, confusion = _confusion(result.val_report, "per_type", "confusion_labels", "type")
    mistakes = pd.DataFrame([{"line": m["line"], "text": m["text"], "wrong words": m["wrong_words"],
                              "true": " ".join(m["true"]), "predicted": " ".join(m["predicted"])}
                             for m in result.misclassified])
    return per, confusion, mistakes


def qa_tables(result) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    per = pd.DataFrame([{"article": k, **_rounded(v)} for k, v in result.val_report["per_article"].items()])
    mistakes = pd.DataFrame([{k: m[k] for k in ("question", "true", "predicted", "f1", "score")}
                             for m in result.misclassified])
    return per, pd.DataFrame(), mistakes


def _confusion(report: dict, per_key: str, labels_key: str, first: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores per class and the confusion matrix, both cut to the ``TABLE_CLASSES`` most supported."""
    per = pd.DataFrame([{first: k, **_rounded(v)} for k, v in report[per_key].items()])
    labels, matrix = report[labels_key], report["confusion"]
    shown = _most_supported(matrix, TABLE_CLASSES)
    if len(shown) < len(labels):  # the rest of the classes summed into one row and column
        rest = [i for i in range(len(labels)) if i not in set(shown)]
        rows = [[matrix[i][j] for j in shown] + [sum(matrix[i][j] for j in rest)] for i in shown]
        rows.append([sum(matrix[i][j] for i in rest) for j in shown] + [sum(matrix[i][j] for i in rest for j in rest)])
        names = [labels[i] for i in shown] + [other_classes(len(rest))]
        per = per[per[first].isin(names)].reset_index(drop=True)
    else:
        rows, names = matrix, labels
    confusion = pd.DataFrame(rows, columns=[f"→ {lab}" for lab in names])
    confusion.insert(0, "true \\ predicted", names)
    return per, confusion
