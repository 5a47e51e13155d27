"""The public API contract of the Question answering tab, called as a client would."""

import pytest
from gradio_client.exceptions import AppError

CONTEXT = (
    "The lighthouse on Carrow Point was built in 1871 from granite cut on the island itself. "
    "The last keeper, Mira Olsen, left in 1989, when the light was made automatic."
)
LONG = " ".join(f"Station {i} on the northern line opened in {1900 + i}." for i in range(60))


def test_qa_schema_keeps_its_name_and_order(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/qa"]
    names = [p["parameter_name"] for p in api["parameters"]]
    assert names == ["question", "context", "top_k", "max_length", "stride", "max_answer_len",
                     "no_answer_threshold", "model"]
    defaults = {p["parameter_name"]: p.get("parameter_default") for p in api["parameters"]}
    assert (defaults["top_k"], defaults["max_length"], defaults["stride"]) == (5, 384, 128)
    assert api["returns"][0]["label"] == "Answer"


def test_qa_answers_with_a_span_of_the_context(client):
    answer, info, highlight, chart, table, raw = client.predict(
        "Who was the last keeper?", CONTEXT, 5, 384, 128, 30, 10.0, api_name="/qa")
    assert answer and answer in CONTEXT
    assert raw["answer"] == answer and CONTEXT[raw["start"]:raw["end"]] == answer and not raw["no_answer"]
    assert len(raw["candidates"]) == 5 and raw["candidates"][0]["answer"] == answer
    assert [row[1] for row in table["data"]][0] == answer and len(table["data"]) == 5
    assert 'class="qa-mark"' in highlight and "Answered by **tiny-bert-qa**" in info
    assert chart.startswith('<div class="qa-chart-scroll"') and chart.count("<svg") == 1
    assert chart.count('class="qa-bar-start"') == chart.count('class="qa-bar-end"') == len(raw["tokens"])
    # This tiny model reads 128 tokens; the default 384 is lowered and the answer says so.
    assert raw["max_length"] == 128 and "at most 128 tokens" in info


def test_qa_defaults_need_only_question_and_context(client):
    answer, *_, raw = client.predict("When was it built?", CONTEXT, api_name="/qa")
    assert answer in CONTEXT and (answer == "") == raw["no_answer"]


def test_qa_long_context_uses_several_windows(client):
    *_, raw = client.predict("When did station 41 open?", LONG, 3, 64, 16, 10, 10.0, api_name="/qa")
    assert len(raw["windows"]) > 5 and (raw["max_length"], raw["stride"]) == (64, 16)
    assert 1 <= raw["window"] <= len(raw["windows"]) and raw["answer"] in LONG
    w = raw["windows"][raw["window"] - 1]
    assert w["start"] <= raw["start"] < raw["end"] <= w["end"]


@pytest.mark.parametrize("args,message", [
    (("", CONTEXT), "question is empty"),
    (("Who?", "  "), "context is empty"),
    (("Who? " * 40, CONTEXT, 5, 64, 16), "Shorten the question"),
    (("Who was it?", CONTEXT, 5, 64, 60), "must be smaller"),
])
def test_qa_bad_input_gets_a_clear_message(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/qa")


def test_embedded_qa_answers_offline_with_the_shipped_head(client):
    """Picking the embedded model loads the project's SQuAD head (assets/models/qa) offline."""
    answer, info, *_, raw = client.predict("Who was the last keeper?", CONTEXT, 5, 384, 128, 30, 0.0,
                                           "all-MiniLM-L6-v2 (embedded)", api_name="/qa")
    assert "Mira Olsen" in answer and CONTEXT[raw["start"]:raw["end"]] == answer
    assert "all-MiniLM-L6-v2 (embedded)" in info and "embedded, offline" in info
