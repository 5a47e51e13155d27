"""SQuAD exact match and F1, normalisation cases worked out by hand."""

from __future__ import annotations

import pytest

from training.tasks.qa_metrics import exact_match, f1, is_better, max_over_gold, normalize_answer, squad_scores


@pytest.mark.parametrize("text, normalised", [
    ("The  Eiffel-Tower!", "eiffeltower"),  # punctuation is removed, not turned into a space
    ("An apple a day", "apple day"),  # articles go
    ("  THE   Cat. ", "cat"),  # case and whitespace
    ("theory of the atom", "theory of atom"),  # only whole-word articles
    ("1,000 km", "1000 km"),
    ("", ""),
])
def test_normalize_answer(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_after_normalisation():
    assert exact_match("the cat", "Cat!") == 1.0
    assert exact_match("a cat", "cats") == 0.0


def test_f1_counts_shared_tokens():
    assert f1("the big cat", "a cat sat") == pytest.approx(0.5)  # [big, cat] vs [cat, sat]: 1 shared
    assert f1("cat cat", "cat") == pytest.approx(2 / 3)  # precision 1/2, recall 1
    assert f1("Denver Broncos", "the Denver Broncos.") == 1.0
    assert f1("dog", "cat") == 0.0
    assert f1("the", "a") == 1.0  # both normalise to nothing
    assert f1("the", "cat") == 0.0 and f1("cat", "") == 0.0


def test_best_over_gold_answers_and_mean_scores():
    assert max_over_gold(f1, "the big cat", ["dog", "a cat sat", "big cat"]) == 1.0
    assert max_over_gold(exact_match, "x", []) == 0.0
    scores = squad_scores({"q1": "Paris", "q2": "in London town"},
                          {"q1": ["paris", "Paris, France"], "q2": ["London"], "q3": ["Rome"]})
    # q1 exact; q2 F1 = 2 * 1/3 * 1 / (4/3) = 0.5; q3 has no prediction: 0
    assert scores == {"exact_match": pytest.approx(1 / 3), "f1": pytest.approx(1.5 / 3), "questions": 3}
    assert is_better({"f1": 0.6, "exact_match": 0.1}, {"f1": 0.5, "exact_match": 0.4})
    assert not is_better({"f1": 0.5, "exact_match": 0.3}, {"f1": 0.5, "exact_match": 0.4})


@pytest.mark.slow
def test_scores_equal_the_official_definition_on_real_answers():
    """EM and F1 of the shipped QA head's answers to the sample questions (each with its top 3 spans,
    so near misses and wrong spans are in), as torchmetrics' implementation of the official
    SQuAD v1.1 script computes them."""
    from torchmetrics.functional.text import squad

    from lab.loading import ModelCache
    from lab.qa import answer_question
    from lab.registry import embedded_ref
    from lab.settings import ASSETS_DIR, Settings
    from training.data.qa_data import read_squad

    loaded = ModelCache(Settings(offline=True)).get(embedded_ref("qa"))
    predictions, references = {}, {}
    for example in read_squad(ASSETS_DIR / "samples" / "qa.json"):
        result = answer_question(loaded.model, loaded.tokenizer, example.question, example.context, top_k=3)
        for rank, candidate in enumerate(result.candidates):
            qid = f"{example.id}-{rank}"
            predictions[qid] = candidate.text
            references[qid] = [a["text"] for a in example.answers]
    ours = squad_scores(predictions, references)
    official = squad([{"prediction_text": text, "id": qid} for qid, text in predictions.items()],
                     [{"answers": {"answer_start": [0] * len(golds), "text": golds}, "id": qid}
                      for qid, golds in references.items()])
    assert ours["questions"] == len(predictions) > 50
    assert 0 < ours["exact_match"] < 1 and 0 < ours["f1"] < 1  # right, wrong and partial answers alike
    assert ours["exact_match"] * 100 == pytest.approx(official["exact_match"].item(), abs=1e-4)
    assert ours["f1"] * 100 == pytest.approx(official["f1"].item(), abs=1e-4)
