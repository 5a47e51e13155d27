"""Entity-level NER metrics from seqeval: spans, per-type P/R/F1, and an entity confusion matrix.

An entity counts as found only when a predicted entity has exactly the gold one's type and
boundaries (CoNLL's rule): seqeval's ``mode="strict"`` with the IOB2 scheme, where an ``I-X``
that doesn't continue an entity of type X ("I- without B-") is no entity. ``mode="lenient"`` is
seqeval's default (conlleval's rule), which reads such an ``I-X`` as the start of one. seqeval
has no confusion matrix; the one here pairs its entities by boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as conlleval_prfs
from seqeval.metrics.v1 import precision_recall_fscore_support as strict_prfs
from seqeval.scheme import IOB2, Entities

from lab.options import split_tag

MODES = ("strict", "lenient")


def _iob2(tags: Sequence[str]) -> list[str]:
    """Tags as seqeval reads them: a bare "PER" (a model's own label set) as "I-PER"."""
    return [tag if prefix == "O" else f"{prefix}-{kind}" for tag, (prefix, kind) in zip(tags, map(split_tag, tags))]


def entity_spans(tags: Sequence[str], mode: str = "strict") -> list[tuple[str, int, int]]:
    """Entities of one sentence as (type, first token, last token + 1), in order.

    >>> entity_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4)]

    The stray ``I-ORG`` is dropped in strict mode; ``mode="lenient"`` adds ('ORG', 4, 5).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (got {mode!r})")
    if mode == "strict":
        return [(e.tag, e.start, e.end) for e in Entities([_iob2(tags)], IOB2).entities[0]]
    return [(kind, start, end + 1) for kind, start, end in get_entities(_iob2(tags))]


def entity_types(tag_names: Sequence[str]) -> list[str]:
    """The entity types named by a tag set, sorted: ["LOC", "PER"] for O/B-PER/I-PER/B-LOC/I-LOC."""
    return sorted({split_tag(t)[1] for t in tag_names if split_tag(t)[0] in "BI"})


def _scores(gold: list[list[str]], pred: list[list[str]], mode: str, average: str | None):
    """seqeval's precision, recall, F1 and support, per type (sorted) or micro-averaged."""
    if mode == "strict":
        return strict_prfs(gold, pred, average=average, zero_division=0, mode="strict", scheme=IOB2)
    return conlleval_prfs(gold, pred, average=average, zero_division=0)


def entity_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    types: Sequence[str] | None = None,
    mode: str = "strict",
) -> dict:
    """Precision, recall and F1 per entity type and overall (micro), token accuracy, type confusion.

    ``gold``/``pred`` are tag sequences per sentence, word by word (the same lengths). Returns
    (JSON-able):

    - ``precision``, ``recall``, ``f1``: seqeval's micro averages over all entities (CoNLL's
      headline F1); ``macro_f1``: the mean of the per-type F1s.
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
    support = matrix[:o, :].sum(axis=1)
    predicted = matrix[:, :o].sum(axis=0)
    per_type = {t: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": int(support[i]),
                    "predicted": int(predicted[i])} for i, t in enumerate(names)}
    g_iob2, p_iob2 = [_iob2(g) for g in gold], [_iob2(p) for p in pred]
    if seen:
        for t, *values in zip(sorted(seen), *_scores(g_iob2, p_iob2, mode, None)):
            per_type[t].update(precision=float(values[0]), recall=float(values[1]), f1=float(values[2]))
        p_all, r_all, f_all, _ = (float(x) for x in _scores(g_iob2, p_iob2, mode, "micro"))
    else:
        p_all = r_all = f_all = 0.0
    return {
        "precision": p_all,
        "recall": r_all,
        "f1": f_all,
        "macro_f1": float(np.mean([v["f1"] for v in per_type.values()])) if o else 0.0,
        "accuracy": correct / tokens if tokens else 0.0,
        "per_type": per_type,
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
