"""The public /ner endpoint, called as a client would (a tiny random model answers: shapes, not sense)."""

import pytest
from gradio_client.exceptions import AppError

from tests.conftest import NER_LABELS

TEXT = "Angela Merkel visited Paris."
TYPES = {"PER", "ORG", "LOC", "MISC"}


def test_ner_endpoint_parameters(client):
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/ner"]
    assert [p["parameter_name"] for p in info["parameters"]] == ["text", "aggregation", "model"]
    assert [p["parameter_default"] for p in info["parameters"][:2]] == [
        "Angela Merkel visited Paris with Emmanuel Macron.", "simple"]
    assert len(info["returns"]) == 5


def test_ner_endpoint_returns_highlighted_entities(client):
    highlighted, entities, pieces, info, raw = client.predict(TEXT, "simple", api_name="/ner")
    # The highlighted value covers the whole text, each span labelled with an entity type or None.
    assert "".join(span["token"] for span in highlighted) == TEXT
    labels = {span["class_or_confidence"] for span in highlighted} - {None}
    assert labels <= TYPES
    assert len(raw) == len(entities["data"]) == sum(span["class_or_confidence"] is not None for span in highlighted)
    for entity in raw:
        assert set(entity) == {"entity_group", "score", "word", "start", "end"}
        assert entity["entity_group"] in TYPES and 0 <= entity["score"] <= 1
    assert entities["headers"] == ["#", "text", "type", "score", "chars", "pieces"]
    assert pieces["headers"][:6] == ["#", "piece", "chars", "word", "tag", "score"]
    assert [row[1] for row in pieces["data"]] == ["angela", "mer", "##kel", "visited", "paris", "."]
    assert all(row[4] in NER_LABELS for row in pieces["data"])
    assert "Answered by" in info and "tiny-bert-ner" in info and "aggregation **simple**" in info


def test_ner_none_shows_raw_tags(client):
    highlighted, entities, pieces, info, raw = client.predict(TEXT, "none", api_name="/ner")
    labels = {span["class_or_confidence"] for span in highlighted} - {None}
    assert labels <= set(NER_LABELS[1:])
    assert all(set(e) == {"entity", "score", "word", "start", "end", "index"} for e in raw)
    tagged = [row for row in pieces["data"] if row[4] != "O"]
    assert [e["word"] for e in raw] == [row[1] for row in tagged]


@pytest.mark.parametrize("aggregation", ["first", "average", "max"])
def test_ner_word_strategies_keep_words_whole(client, aggregation):
    _, _, _, _, raw = client.predict(TEXT, aggregation, api_name="/ner")
    word_edges = {0, 6, 7, 13, 14, 21, 22, 27, 28}  # "Merkel" is one word: never cut at "mer|kel"
    assert all(e["start"] in word_edges and e["end"] in word_edges for e in raw)


@pytest.mark.parametrize("text,aggregation,message", [
    ("   ", "simple", "empty"),
    (TEXT, "sideways", "sideways"),
])
def test_ner_bad_input_gets_a_clear_message(client, text, aggregation, message):
    with pytest.raises(AppError, match=message):
        client.predict(text, aggregation, api_name="/ner")
    assert client.predict(TEXT, "simple", api_name="/ner")[4] is not None  # server still serves


def test_embedded_ner_answers_offline_with_the_shipped_head(client):
    """Picking the embedded model loads the project's WikiANN head (assets/models/ner) offline."""
    _, _, _, info, raw = client.predict("She flew to Paris.", "simple", "all-MiniLM-L6-v2 (embedded)",
                                        api_name="/ner")
    assert [(e["word"], e["entity_group"]) for e in raw] == [("paris", "LOC")]
    assert "all-MiniLM-L6-v2 (embedded)" in info and "embedded, offline" in info
