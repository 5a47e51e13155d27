"""Messages in the asker's language: the language switch's cookie first, then the browser's
Accept-Language; English for a caller that names none (API clients, logs)."""

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError


@pytest.mark.parametrize("headers, expected, error", [
    ({}, "Pick an answer first", "No lessons in"),
    ({"Accept-Language": "id-ID,id;q=0.9"}, "Pilih jawaban dulu", "Tidak ada pelajaran"),
    ({"Accept-Language": "zh-TW,zh;q=0.9"}, "請先選一個答案", "的課程"),
    ({"Accept-Language": "id-ID", "Cookie": "lab_lang=zh-TW"}, "請先選一個答案", "的課程"),  # the switch wins
    ({"Accept-Language": "fr-FR,fr;q=0.9"}, "Pick an answer first", "No lessons in"),
])
def test_a_message_is_said_in_the_askers_language(app_url, headers, expected, error):
    client = Client(app_url, verbose=False, headers=headers)
    try:
        assert expected in client.predict("en", "tokenizer", None, api_name="/check_lesson")  # a hint, in place
        with pytest.raises(AppError, match=error):  # and an error, in the same language
            client.predict("klingon", "tokenizer", None, api_name="/check_lesson")
    finally:
        client.close()


def test_results_stay_the_same_in_every_language(app_url):
    """Only the words around an answer change with the language, never the answer's data."""
    answers = []
    for language in ("en", "id", "zh-TW"):
        client = Client(app_url, verbose=False, headers={"Cookie": f"lab_lang={language}"})
        try:
            client.predict("en", "tokenizer", api_name="/lesson")  # the step's choices, for this session
            answers.append(client.predict("en", "tokenizer", 0, api_name="/check_lesson"))
        finally:
            client.close()
    assert answers[0] == answers[1] == answers[2]  # the lesson's language is the request's input
