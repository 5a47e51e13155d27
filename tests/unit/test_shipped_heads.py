"""The heads the project ships under assets/models/: present, small, loading offline, sensible.

These load the real embedded encoder plus the shipped delta (no network, no training) and check
the kind of answer on obvious cases. A missing head fails here: the offline app depends on them.
"""

import pytest
import torch
from safetensors import safe_open

from lab.classify import classify
from lab.fill_mask import fill_mask
from lab.loading import ModelCache
from lab.ner import tag_entities
from lab.qa import answer_question
from lab.registry import embedded_ref
from lab.settings import ASSETS_DIR, Settings
from training.recipes.export import low_rank_factors

HEADS = ("classification", "fill-mask", "ner", "qa")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def cache():
    return ModelCache(Settings(offline=True))


@pytest.mark.parametrize("task", HEADS)
def test_head_is_shipped_small_with_its_model_card(task):
    head = ASSETS_DIR / "models" / task
    assert {"config.json", "delta.safetensors", "README.md"} <= {p.name for p in head.iterdir()}
    # at most six encoder blocks as int8 differences (1.8 MB each) and a head; all heads: the test below
    assert (head / "delta.safetensors").stat().st_size <= 12 * MB
    with safe_open(head / "delta.safetensors", "pt") as f:
        keys = list(f.keys())
    # the 11.7M word embeddings come from the wheel, never from assets/
    assert keys and not any("word_embeddings" in k or "decoder.weight" in k for k in keys)
    card = (head / "README.md").read_text()
    assert "## Scores" in card and "## Data and attribution" in card and "python -m training.recipes" in card


def test_everything_under_assets_stays_small():
    def size(folder):
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    models = size(ASSETS_DIR / "models")
    assert models <= 40 * MB  # the budget of the shipped heads
    assert size(ASSETS_DIR) - models <= 5 * MB  # tokenizers, catalogs, lessons, samples, css


@pytest.mark.slow  # serves the real shipped heads: seconds
@pytest.mark.parametrize(("text", "label"), [
    ("a wonderful, moving film", "positive"),
    ("one of the best movies of the year, funny and warm", "positive"),
    ("a dull, lifeless and boring movie", "negative"),
    ("the worst film i have seen in years", "negative"),
])
def test_sentiment_head_gets_obvious_cases_right(cache, text, label):
    loaded = cache.get(embedded_ref("classification"))
    assert loaded.notice is None and loaded.model.config.id2label == {0: "negative", 1: "positive"}
    with torch.inference_mode():
        logits = loaded.model(**loaded.tokenizer(text, return_tensors="pt")).logits[0]  # (2,)
    assert loaded.model.config.id2label[int(logits.argmax())] == label


# Cases this small head gets right, the README's two examples first (its model card lists the
# ones it misses, such as "The sun rises in the [MASK]."): an accepted answer must be among its
# top 5 and the top is not noise.
@pytest.mark.slow  # serves the real shipped heads: seconds
@pytest.mark.parametrize(("text", "accepted"), [
    ("I [MASK] dogs and cats.", {"love", "like", "have", "hate", "own", "prefer", "keep", "feed"}),
    ("The capital of France is [MASK].", {"paris"}),
    ("Paris is the capital of [MASK].", {"france"}),
    ("Fish live in the [MASK].", {"sea", "ocean", "water", "river", "lake"}),
    ("The church was built in the 12th [MASK].", {"century"}),
    ("The book was [MASK] by a famous author.", {"written", "published", "edited", "translated"}),
])
def test_fill_mask_head_gives_sensible_words(cache, text, accepted):
    loaded = cache.get(embedded_ref("fill-mask"))
    result = fill_mask(loaded.model, loaded.tokenizer, text, top_k=5)
    words = [c.word for c in result.masks[0].candidates]
    assert accepted & set(words), f"{text}: {words}"
    # a head that learned only word frequencies answers "the", ",", "." everywhere
    assert not {"the", ",", "."} >= set(words[:3])


@pytest.mark.slow  # serves the real shipped heads: seconds
@pytest.mark.parametrize(("text", "expected"), [
    ("She flew to Paris.", {("Paris", "LOC")}),
    ("Angela Merkel grew up in Hamburg.", {("Angela Merkel", "PER"), ("Hamburg", "LOC")}),
    ("The United Nations is based in New York.", {("United Nations", "ORG"), ("New York", "LOC")}),
    ("He works for Microsoft in Seattle.", {("Microsoft", "ORG"), ("Seattle", "LOC")}),
])
def test_ner_head_finds_obvious_entities(cache, text, expected):
    loaded = cache.get(embedded_ref("ner"))
    assert loaded.notice is None
    assert {"B-PER", "B-ORG", "B-LOC"} <= set(loaded.model.config.id2label.values())
    result = tag_entities(loaded.model, loaded.tokenizer, text, aggregation="simple")
    found = {(text[e.start:e.end], e.label) for e in result.entities}
    assert expected <= found, found
    # and nothing else is called an entity in these plain sentences
    assert not {w for w, _ in found} - {w for w, _ in expected}, found


@pytest.mark.slow  # serves the real shipped heads: seconds
@pytest.mark.parametrize(("question", "context", "answer"), [
    ("Where did she fly?", "She flew to Paris last summer to visit her aunt.", "Paris"),
    ("When was the bridge opened?", "The old stone bridge over the river was opened in 1887 by the mayor.", "1887"),
    ("Who wrote the letter?", "The letter was written by Thomas Hardy, who lived in Dorset.", "Thomas Hardy"),
])
def test_qa_head_answers_obvious_questions(cache, question, context, answer):
    loaded = cache.get(embedded_ref("qa"))
    assert loaded.notice is None
    result = answer_question(loaded.model, loaded.tokenizer, question, context)
    assert answer in result.answer and len(result.answer) <= len(answer) + 12, result.answer


def _answers(cache: ModelCache) -> dict:
    """Each shipped head's answer to one input, as the tabs compute it."""
    out = {}
    loaded = cache.get(embedded_ref("classification"))
    out["classification"] = classify(loaded.model, loaded.tokenizer, "a wonderful, moving film", explain=False)
    loaded = cache.get(embedded_ref("fill-mask"))
    result = fill_mask(loaded.model, loaded.tokenizer, "The capital of France is [MASK].", top_k=5)
    out["fill-mask"] = {c.word: c.score for c in result.masks[0].candidates}
    loaded = cache.get(embedded_ref("ner"))
    result = tag_entities(loaded.model, loaded.tokenizer, "Angela Merkel grew up in Hamburg.", aggregation="simple")
    out["ner"] = {(e.start, e.end, e.label): e.score for e in result.entities}
    loaded = cache.get(embedded_ref("qa"))
    out["qa"] = answer_question(loaded.model, loaded.tokenizer, "When was the bridge opened?",
                                "The old stone bridge over the river was opened in 1887 by the mayor.")
    return out


@pytest.mark.slow  # serves the real shipped heads: seconds
def test_every_head_served_in_bf16_answers_as_in_fp32(cache):
    """LAB_INFERENCE_PRECISION=bf16 (or auto on a CPU with native bf16): the same answers as the
    default fp32, scores moved by bf16's rounding only."""
    bf16_cache = ModelCache(Settings(offline=True, inference_precision="bf16"))
    fp32, bf16 = _answers(cache), _answers(bf16_cache)
    assert all(next(m.model.parameters()).dtype == torch.bfloat16 for m in bf16_cache.loaded())
    assert bf16["classification"].predicted == fp32["classification"].predicted
    for label, p in fp32["classification"].probabilities.items():
        assert abs(bf16["classification"].probabilities[label] - p) < 0.02
    # the top words keep their order; two close ones further down may swap (why fp32 is the default)
    assert list(bf16["fill-mask"])[:3] == list(fp32["fill-mask"])[:3] and "paris" in fp32["fill-mask"]
    assert all(abs(bf16["fill-mask"][w] - p) < 0.01 for w, p in fp32["fill-mask"].items() if w in bf16["fill-mask"])
    assert set(bf16["ner"]) == set(fp32["ner"]) and len(fp32["ner"]) == 2
    assert all(abs(bf16["ner"][k] - v) < 0.03 for k, v in fp32["ner"].items())
    assert bf16["qa"].answer == fp32["qa"].answer and "1887" in fp32["qa"].answer
    assert abs(bf16["qa"].score - fp32["qa"].score) < 0.05


def test_low_rank_factors_are_exact_for_low_rank_changes():
    """export.py ships a LoRA update W - W_base as two thin factors, a full-rank change in full."""
    torch.manual_seed(0)
    change = torch.randn(48, 3) @ torch.randn(3, 32) * 1e-3  # rank 3, LoRA-sized
    a, b = low_rank_factors(change, max_rank=8)
    assert a.shape == (3, 32) and b.shape == (48, 3)
    assert torch.allclose(b @ a, change, atol=1e-9)
    assert low_rank_factors(torch.randn(48, 32), max_rank=8) is None
