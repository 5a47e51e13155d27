"""Attention extraction on tiny random BERTs (shapes, rows as distributions) and the heatmap."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from lab.attention import MAX_TOKENS, extract_attention, heatmap_html, parse_head
from lab.errors import LabInputError


@pytest.fixture(scope="module")
def tiny_cls(tiny_cls_dir, bert_tokenizer):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir, attn_implementation="eager")
    return model.eval(), bert_tokenizer


def test_every_layer_and_head_with_tokens(tiny_cls):
    attention = extract_attention(*tiny_cls, "I love dogs.")
    assert attention.tokens == ["[CLS]", "i", "love", "dogs", ".", "[SEP]"]
    assert attention.weights.shape == (2, 2, 6, 6)  # (layers, heads, seq, seq)
    assert attention.num_layers == 2 and attention.num_heads == 2
    # softmax over the keys: every row is a distribution
    assert np.allclose(attention.weights.sum(-1), 1.0, atol=1e-5) and (attention.weights >= 0).all()
    assert not attention.truncated


def test_matches_the_models_own_attentions(tiny_cls, bert_tokenizer):
    model, tok = tiny_cls
    attention = extract_attention(model, tok, "The cat sat.")
    with torch.inference_mode():
        reference = model(**tok("The cat sat.", return_tensors="pt"), output_attentions=True).attentions
    assert np.allclose(attention.select(2, 1), reference[1][0, 0].numpy(), atol=1e-6)


def test_select_a_head_or_the_average(tiny_cls):
    attention = extract_attention(*tiny_cls, "I love dogs.")
    assert np.allclose(attention.select(1), attention.weights[0].mean(0))
    assert np.array_equal(attention.select(2, 2), attention.weights[1, 1])
    with pytest.raises(LabInputError, match="2 layers"):
        attention.select(3)
    with pytest.raises(LabInputError, match="2 heads"):
        attention.select(1, 5)


def test_pair_and_truncation(tiny_mlm_dir, bert_tokenizer):
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir, attn_implementation="eager").eval()
    pair = extract_attention(model, bert_tokenizer, "Paris is big.", "Where is Paris?")
    assert pair.tokens.count("[SEP]") == 2
    long = extract_attention(model, bert_tokenizer, "word " * 200)
    assert long.truncated and len(long.tokens) == MAX_TOKENS and long.weights.shape[-1] == MAX_TOKENS


def test_parse_head():
    assert parse_head("average") is None and parse_head("") is None and parse_head(None) is None
    assert parse_head("3") == 3 and parse_head(2) == 2
    with pytest.raises(LabInputError, match="not a head"):
        parse_head("first")


def test_heatmap_table_escapes_and_shades_by_row():
    tokens = ["[CLS]", "<script>", "dogs"]
    matrix = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]])
    html = heatmap_html(tokens, matrix, caption="Layer 1 & head 2")
    assert "<script>" not in html and "&lt;script&gt;" in html and "Layer 1 &amp; head 2" in html
    assert html.count("<td ") == 9 and html.count('class="attn-query"') == 3
    assert 'data-w="0.8000"' in html
    assert "rgba(74,127,212,1.00)" in html and "rgba(74,127,212,0.12)" in html  # 0.1 / row max 0.8
    with pytest.raises(ValueError, match="does not fit"):
        heatmap_html(tokens, np.ones((2, 2)))


# ---- lab_sdpa: SDPA for every request, eager attention only inside attention_weights()

@pytest.fixture(scope="module")
def sdpa_and_eager(tiny_cls_dir):
    from lab import attn_impl

    fast = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir, attn_implementation=attn_impl.register())
    eager = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir, attn_implementation="eager")
    return fast.eval(), eager.eval()


def test_lab_sdpa_gives_eager_answers_and_weights_only_when_asked(sdpa_and_eager, bert_tokenizer):
    fast, eager = sdpa_and_eager
    # a padded batch: the mask must be right on both paths
    enc = bert_tokenizer(["I love dogs.", "the cat sat on the mat all day long"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        reference = eager(**enc, output_attentions=True)
        plain = fast(**enc)
        with_weights = extract_attention(fast, bert_tokenizer, "the cat sat on the mat all day long")
    assert torch.allclose(plain.logits, reference.logits, atol=1e-5)
    assert np.allclose(with_weights.weights[:, :, :, :], torch.stack([a[1] for a in reference.attentions]).numpy(),
                       atol=1e-5)
    with torch.inference_mode():  # outside the block no weights are materialised (the SDPA path ran)
        assert not fast(**enc, output_attentions=True).attentions


def test_attention_weights_is_per_thread(sdpa_and_eager, bert_tokenizer):
    """A request on another thread keeps the fast path while this one reads weights."""
    import threading

    from lab.attn_impl import attention_weights, wants_weights

    seen = {}
    with attention_weights():
        worker = threading.Thread(target=lambda: seen.setdefault("other", wants_weights()))
        worker.start()
        worker.join()
        seen["this"] = wants_weights()
    assert seen == {"this": True, "other": False} and not wants_weights()
