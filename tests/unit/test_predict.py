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
