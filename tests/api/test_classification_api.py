"""The public API of the Classification tab and the attention views, called as a client would.

In the test app classification is a tiny random BERT (labels negative/positive): shapes and
schema are checked, not sense. The Tokenizer's attention is the embedded MiniLM, which is real.
"""

import pytest
from gradio_client.exceptions import AppError

TEXT = "Unbelievably, I love dogs!"


def test_classify_endpoint(client):
    label, info, raw = client.predict(TEXT, api_name="/classify")
    assert label["label"] in {"negative", "positive"}
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == {"negative", "positive"} and sum(confidences.values()) == pytest.approx(1.0)
    assert "Answered by" in info and "tiny-bert-cls" in info
    assert raw["label"] == label["label"] and "saliency" not in raw  # one forward pass, no gradients


def test_explain_endpoint(client):
    label, _, _ = client.predict(TEXT, api_name="/classify")
    words, raw = client.predict(TEXT, api_name="/explain")
    assert [w["word"] for w in raw["saliency"]["words"]] == ["Unbelievably", ",", "I", "love", "dogs", "!"]
    assert raw["saliency"]["words"][0]["tokens"] == ["un", "##bel", "##ie", "##va", "##bly"]
    assert max(abs(w["weight"]) for w in raw["saliency"]["words"]) == pytest.approx(1.0)
    assert raw["saliency"]["explains"] == label["label"] == raw["label"]
    assert words.count('class="sal-word"') == 6 and "Unbelievably</span>" in words


def test_explain_method_and_magnitude(client):
    words, raw = client.predict(TEXT, "tiny-bert-cls", "gradient_x_input", False, api_name="/explain")
    assert raw["saliency"]["method"] == "gradient_x_input" and raw["saliency"]["signed"] is False
    assert all(0 <= w["weight"] <= 1 for w in raw["saliency"]["words"])
    assert "either way" in words


def test_explain_escapes_user_text(client):
    words, _ = client.predict("<img src=x onerror=alert(1)> great", api_name="/explain")
    assert "<img" not in words and "&lt;" in words


@pytest.mark.parametrize("text,message", [("   ", "empty"), ("x" * 6000, "at most")])
def test_classify_bad_input_gets_a_clear_message(client, text, message):
    with pytest.raises(AppError, match=message):
        client.predict(text, api_name="/classify")


@pytest.mark.parametrize("text,expected", [("a wonderful, moving film", "positive"),
                                           ("a dull, lifeless and boring mess", "negative")])
def test_embedded_classifier_uses_the_shipped_sentiment_head_offline(client, text, expected):
    """The project's own SST-2 head (assets/models/classification) answers offline, with real sense."""
    label, info, _ = client.predict(text, "all-MiniLM-L6-v2 (embedded)", api_name="/classify")
    assert label["label"] == expected
    assert "all-MiniLM-L6-v2 (embedded)" in info


def test_attention_of_the_tokenizer_text_uses_the_real_encoder(client):
    heatmap, info, raw = client.predict("The dog chased the ball.", "", 6, "average", api_name="/attention_tokenizer")
    assert raw["tokens"][0] == "[CLS]" and raw["tokens"][-1] == "[SEP]"
    assert raw["num_layers"] == 6 and raw["num_heads"] == 12  # all-MiniLM-L6-v2
    n = len(raw["tokens"])
    assert len(raw["weights"]) == n and all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in raw["weights"])
    assert heatmap.count("<td ") == n * n and "all-MiniLM-L6-v2" in info and "Layer 6 of 6" in info


def test_attention_of_a_pair(client):
    _, _, raw = client.predict("Paris is big.", "Where is Paris?", 1, "3", api_name="/attention_tokenizer")
    assert raw["tokens"].count("[SEP]") == 2 and raw["head"] == 3


def test_attention_of_the_classification_and_fill_mask_models(client):
    _, info, raw = client.predict(TEXT, 2, "1", "tiny-bert-cls", api_name="/attention_classification")
    assert raw["num_layers"] == 2 and raw["num_heads"] == 2 and "tiny-bert-cls" in info
    _, info, raw = client.predict("I ___ dogs.", 1, "average", api_name="/attention_fill_mask")
    assert "[MASK]" in raw["tokens"] and "tiny-bert-mlm" in info


def test_attention_layer_out_of_range_is_explained(client):
    with pytest.raises(AppError, match=r"between 1 and 2 \(got 9\)"):  # the tiny model's 2 layers
        client.predict(TEXT, 9, "average", api_name="/attention_classification")
