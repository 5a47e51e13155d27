"""The predictors: one per (model, task), the numbers of the model's own forward, gone with their model.

Requests that share a pass are tested with every task in test_batching.py."""

import gc
import weakref

import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from lab.predict import SequenceLogits, SpanLogits, TokenLogits


def test_one_predictor_per_model_and_task_and_it_goes_with_its_model(tiny_cls_dir, bert_tokenizer):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir).eval()
    first = SequenceLogits.for_model(model, bert_tokenizer)
    assert SequenceLogits.for_model(model, bert_tokenizer) is first
    assert TokenLogits.for_model(model, bert_tokenizer) is not first
    gone = weakref.ref(model)
    del model, first
    gc.collect()
    assert gone() is None  # the predictor table does not keep an unloaded model alive


def test_predictors_give_the_models_own_logits(tiny_cls_dir, tiny_ner_dir, bert_tokenizer):
    texts = ["A short one.", "A somewhat longer sentence than the first one, with more pieces."]
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir).eval()
    tagger = AutoModelForTokenClassification.from_pretrained(tiny_ner_dir).eval()
    sequence, tokens = SequenceLogits.for_model(classifier, bert_tokenizer), TokenLogits.for_model(tagger, bert_tokenizer)
    encoded = [bert_tokenizer(t, return_tensors="pt") for t in texts]
    with torch.inference_mode():
        want = [(classifier(**e).logits[0], tagger(**e).logits[0]) for e in encoded]
        alone = [(sequence(e), tokens(e)) for e in encoded]
    for (s, k), (s1, k1), i in zip(want, alone, range(2)):
        assert torch.allclose(s, s1, atol=1e-5) and torch.allclose(k, k1, atol=1e-5)
        assert k1.shape[0] == encoded[i]["input_ids"].shape[1]  # a text's own pieces, no padding


def test_span_logits_of_windows_of_one_length(tiny_qa_dir, bert_tokenizer):
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_qa_dir).eval()
    windows = bert_tokenizer(["Where?", "Who?"], ["In Paris, she said.", "Marie, she said."], padding=True,
                             return_tensors="pt")
    windows = {k: windows[k] for k in ("input_ids", "token_type_ids")}
    with torch.inference_mode():
        out = model(**windows)
        start, end = SpanLogits.for_model(model, bert_tokenizer)(windows)
    assert torch.allclose(start, out.start_logits, atol=1e-5) and torch.allclose(end, out.end_logits, atol=1e-5)


def test_a_set_of_texts_gets_the_models_own_logits_in_its_order(tiny_cls_dir, bert_tokenizer):
    texts = ["A somewhat longer sentence than the others, with more pieces.", "Short.", "A middle one here."]
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir).eval()
    encoded = [bert_tokenizer(t, return_tensors="pt") for t in texts]
    with torch.inference_mode():
        want = [classifier(**e).logits[0] for e in encoded]
        many = SequenceLogits.for_model(classifier, bert_tokenizer).many(encoded, batch_size=2)
    assert all(torch.allclose(w, m, atol=1e-5) for w, m in zip(want, many, strict=True))


def test_every_classification_of_text_goes_through_the_predictor(tiny_cls_dir, bert_tokenizer, monkeypatch):
    from lab.classify import classify
    from training.transfer import before_after, features

    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir).eval()
    calls = []
    one, many = SequenceLogits.__call__, SequenceLogits.many
    monkeypatch.setattr(SequenceLogits, "__call__", lambda self, inputs: calls.append("one") or one(self, inputs))
    monkeypatch.setattr(SequenceLogits, "many", lambda self, inputs, batch_size=32: calls.append("many") or many(
        self, inputs, batch_size))
    text = "A film worth the ticket."
    assert before_after.probabilities(classifier, bert_tokenizer, text) == classify(
        classifier, bert_tokenizer, text, explain=False).probabilities
    assert calls == ["one", "one"]
    texts = [text, "Dull.", "Not for me, and far too long."]
    labels = features.predict_labels(classifier, bert_tokenizer, texts, batch_size=2)
    assert calls[-1] == "many"
    assert labels == [classify(classifier, bert_tokenizer, t, explain=False).predicted for t in texts]
