"""SQuAD's exact match and F1, as its official evaluation script computes them.

Both compare a predicted answer with each gold answer after normalisation (lower-case, drop
punctuation, drop the articles a/an/the, collapse whitespace) and keep the best match over the
gold answers. Scores are fractions 0..1 here (the official script prints percentages).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """"The  Eiffel-Tower!" -> "eiffeltower" (punctuation is removed, not replaced by a space)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall between the normalised answers.

    When either side normalises to nothing (gold "the"), it is 1 if both do and 0 otherwise
    (SQuAD 2.0's rule; the v1.1 script gave 0 even when both were empty).
    """
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_gold(metric, prediction: str, golds: Sequence[str]) -> float:
    """The best score of ``prediction`` against any of the gold answers (0 when there are none)."""
    return max((metric(prediction, g) for g in golds), default=0.0)


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict:
    """Mean exact match and F1 over the questions of ``references`` (id -> gold answer texts).

    A question without a prediction scores 0. Returns ``exact_match``, ``f1`` and ``questions``.
    """
    em = [max_over_gold(exact_match, predictions.get(qid, ""), golds) for qid, golds in references.items()]
    f = [max_over_gold(f1, predictions.get(qid, ""), golds) for qid, golds in references.items()]
    n = len(references)
    return {"exact_match": sum(em) / n if n else 0.0, "f1": sum(f) / n if n else 0.0, "questions": n}


def is_better(candidate: dict, best: dict | None) -> bool:
    """The QA checkpoint rule: higher F1 wins, ties go to higher exact match."""
    if best is None:
        return True
    return (candidate["f1"], candidate["exact_match"]) > (best["f1"], best["exact_match"])
