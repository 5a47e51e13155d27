"""The lab's words in three languages: every key in every language, the same blanks to fill, every
key the code names defined, messages that say themselves in the asker's language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lab import i18n
from lab.errors import LabInputError

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *[p for folder in ("lab", "tabs", "training") for p in sorted((ROOT / folder).rglob("*.py"))]]


def test_every_key_exists_in_every_language_with_the_same_blanks():
    english = i18n.catalog("en")
    assert len(english) > 50
    for language in i18n.LANGUAGES:
        table = i18n.catalog(language)
        assert set(table) == set(english), (language, sorted(set(table) ^ set(english))[:10])
        for key, text in table.items():
            assert text.strip(), (language, key)
            assert i18n.placeholders(text) == i18n.placeholders(english[key]), (language, key)


def test_translations_are_not_english_copies():
    """A few equal texts are right (names, "NER", "Fine-tune"); most must be translated."""
    english = i18n.catalog("en")
    for language in ("id", "zh-TW"):
        same = [k for k, v in i18n.catalog(language).items() if v == english[k] and len(v) > 20]
        assert len(same) <= len(english) // 20, (language, same[:10])
    chinese = i18n.catalog("zh-TW")
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", v)) for v in chinese.values()) > 0.8 * len(chinese)


def _keys_named_in_code() -> set[str]:
    """Literal keys passed to t(), msg(), text() and Message() anywhere in the app's code."""
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in {"t", "msg", "text", "Message"} and isinstance(node.args[0].value, str) \
                        and re.fullmatch(r"[a-z_-]+(\.[\w-]+)+", node.args[0].value):
                    found.add(node.args[0].value)
    return found


def test_every_key_the_code_names_is_defined():
    named = _keys_named_in_code()
    assert len(named) > 30
    missing = sorted(named - set(i18n.catalog("en")))
    assert not missing, missing


@pytest.mark.parametrize("header, language", [
    ("id-ID,id;q=0.9,en;q=0.8", "id"), ("zh-TW,zh;q=0.9", "zh-TW"), ("zh-HK", "zh-TW"), ("zh-Hant", "zh-TW"),
    ("en-US,en", "en"), ("fr-FR,fr", "en"), ("fr;q=0.9,id;q=0.8", "id"), ("en;q=0.5,zh-TW;q=0.9", "zh-TW"),
    (None, "en"), ("", "en"), ("garbage;q=x", "en")])
def test_the_browsers_language_is_negotiated(header, language):
    assert i18n.negotiate(header) == language


def test_a_message_is_english_text_that_says_itself_in_other_languages():
    message = i18n.msg("lessons.no_step", step="'x'")
    assert message == "No step 'x': pick one from the list." and isinstance(message, str)
    assert message.say("id").startswith("Tidak ada langkah 'x'")
    assert message.say("zh-Hant").startswith("沒有步驟 'x'")
    assert i18n.say("plain text", "id") == "plain text"
    error = LabInputError(message)
    assert str(error) == message and i18n.say(error.args[0], "zh-TW").startswith("沒有步驟")
    nested = i18n.msg("shared.no_head.task", task=i18n.msg("task.qa"))
    assert "question answering" in nested and "tanya-jawab" in nested.say("id") and "問答" in nested.say("zh-TW")


def test_a_message_crosses_to_a_worker_process_and_back():
    import pickle

    error = pickle.loads(pickle.dumps(LabInputError(i18n.msg("lessons.no_step", step="'x'"))))
    assert str(error) == "No step 'x': pick one from the list."
    assert i18n.say(error.args[0], "id").startswith("Tidak ada langkah")


def test_a_key_defined_twice_is_refused(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "a.json").write_text('{"x.y": "1"}', encoding="utf-8")
    (tmp_path / "en" / "b.json").write_text('{"x.y": "2"}', encoding="utf-8")
    with pytest.raises(ValueError, match="defined twice"):
        i18n.catalog("en", tmp_path)


def test_the_language_chosen_last_is_shown_whichever_render_ends_last():
    """The page's opening re-render (English) may start or end after a switch to Indonesian clicked
    meanwhile, and two switches may end in either order: the examples stay in the language chosen last."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    import gradio as gr

    from tabs.i18n import _Latest, refresh_with

    def is_skip(answer) -> bool:
        return all(isinstance(a, type(gr.skip())) for a in answer)

    def run(coroutine):  # on a loop of its own: playwright's sync API may hold this thread's loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    async def renders(first: str, second: str, slow: str, opening_first: bool):
        """``first`` asked before ``second`` (the opening render first or not); ``slow``'s refresh ends last."""
        other_done = threading.Event()

        def refresh(language):
            if language == slow:
                other_done.wait(10)
            else:
                other_done.set()
            return [f"examples in {language}", f"title in {language}"]

        latest, student = _Latest(), SimpleNamespace(session_hash="student")
        one = asyncio.ensure_future(refresh_with(refresh, latest, opening=opening_first)(first, student))
        two = asyncio.ensure_future(refresh_with(refresh, latest)(second, student))
        return await one, await two

    for slow in ("en", "id"):
        opening, switch = run(renders("en", "id", slow, opening_first=True))
        assert is_skip(opening) and switch == ("examples in id", "title in id"), slow
        older, newer = run(renders("zh-TW", "id", "id" if slow == "en" else "zh-TW", opening_first=False))
        assert is_skip(older) and newer == ("examples in id", "title in id"), slow
    # an opening render that starts only after the switch gives way to it too
    latest, student = _Latest(), SimpleNamespace(session_hash="student")
    plain = lambda language: [language]  # noqa: E731
    assert run(refresh_with(plain, latest)("id", student)) == ("id",)
    assert is_skip(run(refresh_with(plain, latest, opening=True)("en", student)))
    rerender = refresh_with(lambda language: [f"examples in {language}", f"title in {language}"])
    assert run(rerender("zh-TW", SimpleNamespace(session_hash="other"))) == ("examples in zh-TW",
                                                                                 "title in zh-TW")
