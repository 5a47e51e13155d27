"""The Lessons tab's endpoints: a step in a language, and the self-check's answer."""

import pytest
from gradio_client.exceptions import AppError


def test_a_step_in_each_language(client):
    titles = {}
    for language in ("en", "id", "zh-Hant"):
        # the buttons' new labels travel to the page only: the API returns step, text, answer choices, feedback
        step, body, answer, feedback = client.predict(language, "qa-spans", api_name="/lesson")
        assert step["value"] == "qa-spans" and len(step["choices"]) == 10
        assert body.startswith("## ") and len(answer["choices"]) >= 3 and feedback == ""
        titles[language] = body.splitlines()[0]
    assert len(set(titles.values())) == 3  # three languages, three titles


def test_the_self_check_explains_right_and_wrong(client):
    right = None
    for choice in range(3):
        text = client.predict("en", "tokenizer", choice, api_name="/check_lesson")
        assert text.startswith(("✅", "❌"))
        right = choice if text.startswith("✅") else right
    assert right is not None
    # "Check" before picking an answer is a hint shown in place, not an error
    assert client.predict("en", "tokenizer", None, api_name="/check_lesson") == "ℹ️ Pick an answer first: predict, then reveal."
    with pytest.raises(AppError, match="not in the list of choices"):  # an answer that isn't one is refused
        client.predict("en", "tokenizer", 99, api_name="/check_lesson")
