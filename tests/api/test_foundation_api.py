"""The public API contract of the Tokenizer and Fill-mask tabs, called as a client would."""

import pytest
from gradio_client.exceptions import AppError


def test_tokenize_endpoint(client):
    chips, source, table, summary = client.predict("Unbelievably, I love dogs!", api_name="/tokenize")
    assert "[CLS]" in chips and "##bel" in chips and "tok-continuation" in chips
    pieces = [row[1] for row in table["data"]]
    assert pieces[:3] == ["[CLS]", "un", "##bel"] and pieces[-1] == "[SEP]"
    assert "all-MiniLM-L6-v2" in summary and "tokens" in summary


def test_tokenize_pair_and_batch(client):
    _, _, table, _ = client.predict("Paris is big.", "Where is Paris?", api_name="/tokenize")
    assert [row[1] for row in table["data"]].count("[SEP]") == 2
    grid, table = client.predict("I love dogs.\nHi!", True, True, 8, api_name="/tokenize_batch")
    rows = table["data"]
    assert len(rows) == 2 and rows[1][5] == "1 1 1 1 0 0"  # "[CLS] hi ! [SEP]" padded to the longest line (6)
    assert "tok-masked" in grid


def test_compare_with_trained_wordpiece(client):
    left, right, summary = client.predict("Unbelievably, gardeners water tomatoes.", api_name="/compare_tokenizers")
    assert "WordPiece trained here" in summary and "##" in right


def test_fill_mask_endpoint(client):
    label, bars, best, info, raw = client.predict("I [MASK] dogs and cats.", 5, api_name="/fill_mask")
    assert len(label["confidences"]) == 5
    scores = [c["confidence"] for c in label["confidences"]]
    assert scores == sorted(scores, reverse=True)
    assert "[MASK]" not in best and "tiny-bert-mlm" in info
    assert raw[0]["mask"] == 1 and len(raw[0]["predictions"]) == 5


def test_fill_mask_blank_and_several_masks(client):
    _, bars, best, _, raw = client.predict("The ___ was good but the [MASK] was slow.", 3, "soup, food",
                                           api_name="/fill_mask")
    assert len(raw) == 2 and [w["word"] for w in raw[0]["your_words"]] == ["soup", "food"]
    assert "Mask 2" in bars and "predicted on its own" in bars


@pytest.mark.parametrize("text,message", [("I love dogs.", "No mask"), ("   ", "empty")])
def test_fill_mask_bad_input_gets_a_clear_message(client, text, message):
    with pytest.raises(AppError, match=message):
        client.predict(text, 5, api_name="/fill_mask")
    assert client.predict("I [MASK] it.", 2, api_name="/fill_mask")[0]  # server still serves


def test_embedded_fill_mask_uses_the_shipped_head_offline(client):
    """The project's own masked-LM head (assets/models/fill-mask) answers offline, with sense."""
    label, _, best, info, _ = client.predict("Paris is the capital of [MASK].", 5, "",
                                             "all-MiniLM-L6-v2 (embedded)", api_name="/fill_mask")
    assert "france" in [c["label"] for c in label["confidences"]]
    assert "all-MiniLM-L6-v2 (embedded)" in info and "[MASK]" not in best


def test_typed_path_is_refused(client):
    with pytest.raises(AppError, match="Local paths|not a model id|not in the list of choices"):
        client.predict("I [MASK] dogs.", 5, "", "/etc/passwd", api_name="/fill_mask")
