import pytest
import torch
from transformers import AutoModelForMaskedLM, pipeline

from lab import render
from lab.errors import LabInputError
from lab.fill_mask import fill_mask, normalize_masks
from lab.predict import MaskLogits


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_dir, bert_tokenizer):
    return AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval(), bert_tokenizer


def test_blanks_become_masks():
    assert normalize_masks("I ___ dogs and ____ cats", "[MASK]") == "I [MASK] dogs and [MASK] cats"
    assert normalize_masks("I [MASK] it, a __ b", "<mask>") == "I <mask> it, a __ b"


def test_matches_the_transformers_pipeline(tiny_mlm):
    model, tok = tiny_mlm
    result = fill_mask(model, tok, "I [MASK] dogs and cats.", top_k=5)
    reference = pipeline("fill-mask", model=model, tokenizer=tok, top_k=5)("I [MASK] dogs and cats.")
    assert [c.token_id for c in result.masks[0].candidates] == [r["token"] for r in reference]
    for c, r in zip(result.masks[0].candidates, reference):
        assert c.score == pytest.approx(r["score"], rel=1e-4)


def test_several_masks_each_ranked(tiny_mlm):
    model, tok = tiny_mlm
    result = fill_mask(model, tok, "The ___ was good but the [MASK] was slow.", top_k=3)
    assert len(result.masks) == 2 and all(len(m.candidates) == 3 for m in result.masks)
    scores = [c.score for c in result.masks[0].candidates]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    assert "[MASK]" not in result.best_fill and result.best_fill.startswith("The ")
    assert "predicted on its own" in render.fill_mask_html(result)


def test_targets_scored_with_a_note_for_split_words(tiny_mlm):
    model, tok = tiny_mlm
    result = fill_mask(model, tok, "I [MASK] dogs.", top_k=2, targets=["love", "unbelievably"])
    words = [c.word for c in result.masks[0].targets]
    assert words == ["love", "unbelievably"]
    assert any("unbelievably" in w and "first piece" in w for w in result.warnings)
    with torch.inference_mode():
        logits = model(**tok("I [MASK] dogs.", return_tensors="pt")).logits[0, 2]
    expected = logits.softmax(-1)[tok.convert_tokens_to_ids("love")].item()
    assert result.masks[0].targets[0].score == pytest.approx(expected, rel=1e-4)


def test_label_form_for_gr_label(tiny_mlm):
    model, tok = tiny_mlm
    label = fill_mask(model, tok, "I [MASK] dogs.", top_k=7).label()
    assert len(label) == 7 and all(0 <= v <= 1 for v in label.values())


@pytest.mark.parametrize("text,match", [("I love dogs.", "No mask"), ("[MASK] " * 11, "at most 10")])
def test_bad_input_is_explained(tiny_mlm, text, match):
    model, tok = tiny_mlm
    with pytest.raises(LabInputError, match=match):
        fill_mask(model, tok, text)


def test_mask_logits_equal_the_full_forward(tiny_mlm_dir, bert_tokenizer):
    """The head runs on the masks only, with the very numbers of the model's own forward."""
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    encoded = bert_tokenizer("I [MASK] dogs and [MASK].", return_tensors="pt")
    positions = (encoded["input_ids"][0] == bert_tokenizer.mask_token_id).nonzero().flatten().tolist()
    with torch.inference_mode():
        full = model(**encoded).logits[0, positions]
        assert torch.allclose(MaskLogits.for_model(model, bert_tokenizer)(encoded, positions), full, atol=1e-5)
