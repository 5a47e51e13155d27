"""NER and QA fine-tuning through /finetune (task switch), then the NER and QA tabs use the model."""

import pytest
from gradio_client import Client, handle_file

from lab.settings import ASSETS_DIR

SAMPLES = ASSETS_DIR / "samples"


@pytest.fixture
def own_client(app_url):
    client = Client(app_url, verbose=False)  # a session of its own: its models stay in it
    yield client
    client.close()


def test_ner_finetune_then_the_ner_tab_uses_it(own_client):
    final = own_client.predict(handle_file(str(SAMPLES / "ner.conll")), epochs=1, batch_size=8, max_length=32,
                               task="ner", api_name="/finetune")
    metrics, per_type, confusion = final[0], final[4], final[5]
    assert metrics["status"] == "done" and metrics["task"] == "ner"
    assert {"f1", "precision", "recall"} <= set(metrics) and 0 <= metrics["f1"] <= 1
    # the entity precision, not the number format the run used (that is number_format)
    assert isinstance(metrics["precision"], float) and metrics["number_format"] in ("fp32", "bf16")
    assert {row[0] for row in per_type["data"]} == {"PER", "ORG", "LOC", "MISC"}
    assert confusion["headers"][-1] == "→ O"  # entity-level confusion: types + O (missed/spurious)
    highlighted, *_, info, _ = own_client.predict("Angela Merkel visited Paris.", api_name="/ner")
    assert "run-1" in info


def test_qa_finetune_then_the_qa_tab_uses_it(own_client):
    final = own_client.predict(handle_file(str(SAMPLES / "qa.json")), epochs=1, batch_size=8, max_length=96,
                               task="qa", api_name="/finetune")
    metrics, per_article = final[0], final[4]
    assert metrics["status"] == "done" and {"exact_match", "f1"} <= set(metrics)
    assert per_article["headers"][0] == "article" and per_article["data"]
    context = "The lab opens at eight every morning. Students arrive with coffee."
    answer, summary, *_ = own_client.predict("When does the lab open?", context, api_name="/qa")
    assert answer == "" or answer in context
    assert "run-1" in summary


def test_inspect_ner_and_qa_files(client):
    info = client.predict(handle_file(str(SAMPLES / "ner.conll")), "", "", task="ner", api_name="/inspect_data")[0]
    assert "42 sentences" in info and "B\\-PER" in info  # tag names escaped for Markdown, shown as B-PER
    info = client.predict(handle_file(str(SAMPLES / "qa.json")), "", "", task="qa", api_name="/inspect_data")[0]
    assert "26 questions" in info
