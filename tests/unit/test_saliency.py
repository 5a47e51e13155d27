"""Saliency: sub-word pieces aligned back to words, normalisation, the two methods, rendering.

The classifier is a tiny random BERT: tests check the arithmetic and the alignment, not sense.
"""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from lab.classify import classify
from lab.errors import LabInputError
from lab.render_classify import saliency_html
from lab.saliency import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, align_to_words, normalise, token_scores

TEXT = "Unbelievably, I love dogs!"


@pytest.fixture(scope="module")
def tiny_cls(tiny_cls_dir, bert_tokenizer):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir, attn_implementation="eager")
    return model.eval(), bert_tokenizer


def test_normalise_signed_and_magnitude():
    assert normalise([2.0, -4.0, 1.0], signed=True) == [0.5, -1.0, 0.25]
    assert normalise([2.0, -4.0, 1.0], signed=False) == [0.5, 1.0, 0.25]
    assert normalise([0.0, 0.0], signed=True) == [0.0, 0.0]  # nothing to explain stays nothing
    assert normalise([], signed=False) == []


def test_pieces_summed_into_words_on_plain_arrays():
    text = "Unbelievably good"
    tokens = ["[CLS]", "un", "##bel", "##ie", "##va", "##bly", "good", "[SEP]"]
    offsets = [(0, 0), (0, 2), (2, 5), (5, 7), (7, 9), (9, 12), (13, 17), (0, 0)]
    word_ids = [None, 0, 0, 0, 0, 0, 1, None]
    scores = [9.0, 1.0, 1.0, -0.5, 0.5, 1.0, -2.0, 9.0]  # the specials' big scores must not count
    words, pieces = align_to_words(text, tokens, offsets, word_ids, scores, signed=True)
    assert [w.word for w in words] == ["Unbelievably", "good"]
    assert words[0].tokens == ("un", "##bel", "##ie", "##va", "##bly")
    assert [w.weight for w in words] == [1.0, -2.0 / 3.0]  # sums 3 and -2, scaled by the largest
    assert [p.token for p in pieces] == tokens[1:-1] and {p.word for p in pieces} == {0, 1}
    assert pieces[-1].weight == -1.0 and max(abs(p.weight) for p in pieces) == 1.0
    magnitudes, _ = align_to_words(text, tokens, offsets, word_ids, scores, signed=False)
    assert [w.weight for w in magnitudes] == [1.0, 0.5]  # |pieces| add up: 4 and 2


def test_alignment_with_the_real_wordpiece_tokenizer(tiny_cls, bert_tokenizer):
    result = classify(*tiny_cls, TEXT, method=GRADIENT_X_INPUT)
    words = result.saliency.words
    assert [w.word for w in words] == ["Unbelievably", ",", "I", "love", "dogs", "!"]
    assert all(TEXT[w.start:w.end] == w.word for w in words)
    assert words[0].tokens == tuple(bert_tokenizer.tokenize("Unbelievably"))
    assert all(t.token not in bert_tokenizer.all_special_tokens for t in result.saliency.tokens)
    weights = [w.weight for w in words]
    assert max(abs(w) for w in weights) == pytest.approx(1.0) and all(-1 <= w <= 1 for w in weights)
    unsigned = classify(*tiny_cls, TEXT, method=GRADIENT_X_INPUT, signed=False).saliency
    assert all(0 <= w.weight <= 1 for w in unsigned.words) and max(w.weight for w in unsigned.words) == 1.0


def test_probabilities_match_a_plain_forward_pass(tiny_cls, bert_tokenizer):
    model, tok = tiny_cls
    result = classify(model, tok, TEXT)
    with torch.inference_mode():
        probs = model(**tok(TEXT, return_tensors="pt")).logits[0].softmax(-1).tolist()
    assert set(result.probabilities) == {"negative", "positive"}
    assert result.probabilities["negative"] == pytest.approx(probs[0], rel=1e-5)
    assert sum(result.label().values()) == pytest.approx(1.0)
    assert result.predicted == max(result.probabilities, key=result.probabilities.get)
    assert result.saliency.label == result.predicted and not result.truncated


def test_gradient_x_input_is_the_embedding_gradient_times_the_embedding(tiny_cls):
    model, tok = tiny_cls
    encoding = tok(TEXT, return_tensors="pt")
    scores = token_scores(model, encoding, target=1, method=GRADIENT_X_INPUT)
    assert all(p.grad is None for p in model.parameters())  # the shared model is left untouched
    embeds = model.get_input_embeddings()(encoding["input_ids"]).detach().requires_grad_(True)
    model(inputs_embeds=embeds, attention_mask=encoding["attention_mask"],
          token_type_ids=encoding["token_type_ids"]).logits[0, 1].backward()
    expected = (embeds.grad * embeds.detach())[0].sum(-1)
    assert torch.allclose(scores, expected, atol=1e-6)
    model.zero_grad(set_to_none=True)


def test_integrated_gradients_add_up_to_the_score_difference(tiny_cls):
    """Completeness: IG's attributions sum to f(input) - f(baseline), up to the Riemann error."""
    model, tok = tiny_cls
    encoding = tok(TEXT, return_tensors="pt")
    special = torch.tensor([w is None for w in encoding.word_ids(0)])
    scores = token_scores(model, encoding, target=0, method=INTEGRATED_GRADIENTS, steps=64, special_mask=special)
    assert scores[special].abs().max() == 0  # [CLS]/[SEP] are kept in the baseline: no credit
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(encoding["input_ids"])
        kw = dict(attention_mask=encoding["attention_mask"], token_type_ids=encoding["token_type_ids"])
        full = model(inputs_embeds=embeds, **kw).logits[0, 0]
        base = model(inputs_embeds=embeds * special.view(1, -1, 1), **kw).logits[0, 0]
    assert scores.sum().item() == pytest.approx((full - base).item(), abs=0.02 * abs((full - base).item()) + 1e-3)


def test_long_text_is_truncated_and_said(tiny_cls):
    text = "good " * 300  # the tiny model reads 128 tokens at most
    result = classify(*tiny_cls, text, method=GRADIENT_X_INPUT)
    assert result.truncated and result.saliency.truncated
    assert len(result.saliency.words) == 126  # 128 minus [CLS] and [SEP]
    assert "cut off" in saliency_html(result.saliency)


def test_unknown_method_is_explained(tiny_cls):
    with pytest.raises(LabInputError, match="Unknown saliency method"):
        classify(*tiny_cls, TEXT, method="shapley")


def test_render_keeps_the_text_and_escapes_it(tiny_cls):
    text = "I <b>love</b> dogs\n& cats"
    result = classify(*tiny_cls, text, method=GRADIENT_X_INPUT)
    html = saliency_html(result.saliency)
    assert "<b>" not in html and "&lt;" in html and "&gt;" in html and "&amp;" in html
    assert html.count('class="sal-word"') == len(result.saliency.words)
    assert f"pushed towards “{result.predicted}”" in html
    assert "\n" in html  # the line break between words is kept, not re-spaced
    magnitude = saliency_html(classify(*tiny_cls, text, method=GRADIENT_X_INPUT, signed=False).saliency)
    assert "either way" in magnitude and "rgba(234,88,12" not in magnitude.split("sal-legend")[0]
