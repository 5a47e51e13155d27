"""Entity-level NER metrics in plain python/numpy (no seqeval): spans, per-type P/R/F1, confusion.

An entity counts as found only when a predicted entity has exactly the gold one's type and
boundaries (CoNLL's rule, seqeval's ``mode="strict"`` with IOB2). Entities are read from IOB2
tags: ``B-X`` starts one, following ``I-X`` continue it. An ``I-X`` that doesn't continue an
entity of type X (after ``O`` or another type: "I- without B-") is invalid IOB2; strict mode
drops it, ``mode="lenient"`` reads it as the start of an entity (conlleval's rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lab.options import split_tag

MODES = ("strict", "lenient")


def entity_spans(tags: Sequence[str], mode: str = "strict") -> list[tuple[str, int, int]]:
    """Entities of one sentence as (type, first token, last token + 1), in order.

    >>> entity_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4)]

    The stray ``I-ORG`` is dropped in strict mode; ``mode="lenient"`` adds ('ORG', 4, 5).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (got {mode!r})")
    spans: list[tuple[str, int, int]] = []
    current: list | None = None  # [type, start] of the open entity
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = split_tag(tag)
        if current is not None and (prefix != "I" or kind != current[0]):
            spans.append((current[0], current[1], i))
            current = None
        if prefix == "B" or (prefix == "I" and current is None and mode == "lenient"):
            current = [kind, i]
    return spans


def entity_types(tag_names: Sequence[str]) -> list[str]:
    """The entity types named by a tag set, sorted: ["LOC", "PER"] for O/B-PER/I-PER/B-LOC/I-LOC."""
    return sorted({split_tag(t)[1] for t in tag_names if split_tag(t)[0] in "BI"})


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.shape(num), dtype=np.float64), where=np.asarray(den) > 0)


def entity_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    types: Sequence[str] | None = None,
    mode: str = "strict",
) -> dict:
    """Precision, recall and F1 per entity type and overall (micro), token accuracy, type confusion.

    ``gold``/``pred`` are tag sequences per sentence, word by word (the same lengths). Returns
    (JSON-able):

    - ``precision``, ``recall``, ``f1``: micro averages over all entities (CoNLL's headline F1);
      ``macro_f1``: the mean of the per-type F1s.
    - ``per_type``: type -> precision, recall, f1, support (gold entities), predicted.
    - ``accuracy``: share of words whose predicted tag equals the gold tag (O included, so it is
      high even for a model that finds nothing: read F1).
    - ``confusion``: an *entity-level* matrix over ``confusion_labels`` = types + ["O"]: rows are
      gold, columns predicted. A gold entity predicted with exactly its boundaries lands in
      (its type, predicted type); one with no predicted entity of the same boundaries is in
      (type, "O") (missed); a predicted entity with no gold one of the same boundaries is in
      ("O", type) (spurious). A boundary error is one miss plus one spurious. The diagonal is
      the true positives, row sums the support and column sums the predictions of each type.
    - ``support`` (gold entities), ``predicted`` (predicted entities), ``sentences``, ``tokens``.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    sentence_spans = []
    tokens = correct = 0
    seen: set[str] = set()
    for n, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n}: {len(g)} gold tags but {len(p)} predicted")
        gs, ps = entity_spans(g, mode), entity_spans(p, mode)
        sentence_spans.append((gs, ps))
        seen.update(t for t, _, _ in gs + ps)
        tokens += len(g)
        correct += sum(a == b for a, b in zip(g, p))
    names = list(types) if types is not None else sorted(seen)
    names += sorted(seen - set(names))  # a predicted type the caller didn't list still counts
    index = {t: i for i, t in enumerate(names)}
    o = len(names)
    matrix = np.zeros((o + 1, o + 1), dtype=np.int64)
    for gs, ps in sentence_spans:
        by_bounds = {(s, e): t for t, s, e in ps}
        gold_bounds = {(s, e) for _, s, e in gs}
        for t, s, e in gs:
            predicted = by_bounds.get((s, e))
            matrix[index[t], o if predicted is None else index[predicted]] += 1
        for t, s, e in ps:
            if (s, e) not in gold_bounds:
                matrix[o, index[t]] += 1
    tp = np.diag(matrix)[:o].astype(np.float64)
    support = matrix[:o, :].sum(axis=1).astype(np.float64)
    predicted = matrix[:, :o].sum(axis=0).astype(np.float64)
    precision, recall = _safe_divide(tp, predicted), _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    p_all = float(tp.sum() / predicted.sum()) if predicted.sum() else 0.0
    r_all = float(tp.sum() / support.sum()) if support.sum() else 0.0
    return {
        "precision": p_all,
        "recall": r_all,
        "f1": 2 * p_all * r_all / (p_all + r_all) if p_all + r_all else 0.0,
        "macro_f1": float(f1.mean()) if o else 0.0,
        "accuracy": correct / tokens if tokens else 0.0,
        "per_type": {t: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                         "support": int(support[i]), "predicted": int(predicted[i])}
                     for i, t in enumerate(names)},
        "labels": names,
        "confusion": matrix.tolist(),
        "confusion_labels": names + ["O"],
        "confusion_level": "entity",
        "mode": mode,
        "support": int(support.sum()),
        "predicted": int(predicted.sum()),
        "sentences": len(gold),
        "tokens": tokens,
    }


def is_better(candidate: dict, best: dict | None) -> bool:
    """The NER checkpoint rule: higher entity F1 wins, ties go to higher token accuracy."""
    if best is None:
        return True
    return (candidate["f1"], candidate["accuracy"]) > (best["f1"], best["accuracy"])
