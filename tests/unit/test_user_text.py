"""Text a user wrote is never rendered as markup: every message quotes it (lab.i18n.quote), error
toasts quote the whole message (lab.i18n.as_html), Markdown panels escape it once (lab.render.md_text)."""

from __future__ import annotations

import re

import pytest

from lab import contextual, i18n, lessons
from lab.errors import LabInputError
from lab.render import md_text
from training.data import data as tdata

HOSTILE = "<a href=https://evil.invalid/login>log in again</a><input placeholder=password><img src=x onerror=alert(1)>"
TAG = re.compile(r"<\s*(a|input|img)\b", re.IGNORECASE)


def _keys_with_blanks() -> list[str]:
    return sorted(k for k, v in i18n.catalog("en").items() if i18n.placeholders(v))


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_message_quotes_what_it_is_given(language):
    """Whatever a message's blanks are filled with, it comes out as text in every language."""
    keys = _keys_with_blanks()
    assert len(keys) > 100
    for key in keys:
        values = {name: HOSTILE for name in i18n.placeholders(i18n.catalog("en")[key])}
        said = i18n.msg(key, **values).say(language)
        assert not TAG.search(said), (language, key, said)
        assert "&lt;a href=https://evil.invalid/login>" in said, (language, key)


def test_a_message_inside_a_message_is_quoted_once():
    inner = i18n.msg("msg.lab.contextual.word_empty", word="<b>")
    outer = i18n.text("transfer.curves.failed", "en", error=inner)
    assert "&lt;b>" in outer and "&amp;lt;" not in outer


def test_plain_and_numbers_stay_as_written():
    message = i18n.msg("msg.lab.contextual.word_cut", n=3, word="a<b & c")
    assert "a&lt;b &amp; c" in message
    assert "a<b & c" in message.plain() and "a<b & c" in i18n.plain(message, "zh-TW")


def test_toast_text_quotes_the_template_too():
    """Toasts render HTML: the template's own ``token<TAB>tag`` is shown, not taken for a tag."""
    toast = i18n.as_html(i18n.msg("msg.ner_data.no_sentences", name=HOSTILE), "id")
    assert "token&lt;TAB>tag" in toast and not TAG.search(toast)
    assert "&lt;input placeholder=password>" in toast
    assert i18n.as_html(f"plain text from code: {HOSTILE}") == "plain text from code: " + i18n.quote(HOSTILE)


def test_markdown_text_is_escaped_once_inside_a_message():
    label = md_text("*x* <img src=x>")
    line = i18n.text("msg.training.reader.tags", "en", tags=label)
    assert r"\*x\* &lt;img src=x&gt;" in line and "&amp;" not in line


def test_the_label_of_a_single_example_class_is_quoted(tmp_path):
    path = tmp_path / "one.csv"
    rows = ["text,label"] + [f"good text {i},pos" for i in range(6)] + [f"bad text {i},neg" for i in range(6)]
    path.write_text("\n".join(rows + [f'"only once",{HOSTILE}']) + "\n", encoding="utf-8")
    with pytest.raises(tdata.DataError) as caught:
        tdata.load_for_training(str(path), "text", "label")
    said = i18n.as_html(caught.value.args[0], "zh-TW")
    assert "&lt;a href=https://evil.invalid/login>log in again&lt;/a>" in said and not TAG.search(said)


def test_the_contextual_word_is_quoted():
    with pytest.raises(LabInputError) as caught:
        contextual.contextual_vectors(None, None, "<img/src=x/onerror=alert(1)>",
                                      ["the bank of the river", "the bank lends money"])
    said = i18n.say(caught.value.args[0], "id")
    assert "&lt;img/src=x/onerror=alert(1)>" in said and not TAG.search(said)


def test_the_lesson_language_is_quoted():
    with pytest.raises(LabInputError) as caught:
        lessons.steps(HOSTILE)
    said = i18n.say(caught.value.args[0], "en")
    assert "&lt;input placeholder=password>" in said and not TAG.search(said)
