"""The lab's words in English, Bahasa Indonesia and Traditional Chinese.

One catalog per language under ``assets/i18n/<language>/``: JSON files of ``key -> text`` merged
into one table (a file per area, so a tab's words are found next to each other). The same keys
serve two readers:

- the page's labels, explainers and buttons, which Gradio translates in the browser
  (``tabs/i18n.py`` hands these tables to ``gr.I18n``);
- messages made on the server (errors, "Answered by ..."), rendered here with ``text()`` in the
  language of the request that asked.

Messages keep their English text as the ``str`` the code and the API see (``msg()`` returns a
``Message``, a ``str`` that remembers its key and values), so a log line or an API client without a
language gets English, and the UI can render the same message in the student's language.

A value a message quotes (a label, a cell, a file's name, a typed word, a dropdown's value) is
text a user wrote, and messages are shown as HTML (Gradio's error toasts) or Markdown: ``text()``
passes every value through ``quote()``, so a label ``<a href=...>`` is shown as typed and is no
link. Text already escaped for a Markdown page (``Safe``, lab.render.md_text) is left as it is;
``plain()`` fills a message in unescaped, for outputs that are no markup (the command line).
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

from lab.settings import ASSETS_DIR

CATALOG_DIR = ASSETS_DIR / "i18n"
# Gradio's own locale codes, so its browser-side choice and ours agree.
LANGUAGES = {"en": "English", "id": "Bahasa Indonesia", "zh-TW": "繁體中文"}
DEFAULT = "en"
# Other names a browser or an API caller may use for the same languages.
ALIASES = {"zh-hant": "zh-TW", "zh-tw": "zh-TW", "zh-hk": "zh-TW", "zh-mo": "zh-TW", "zh": "zh-TW",
           "in": "id", "id-id": "id"}


def normalize(code: str | None) -> str | None:
    """``code`` as one of LANGUAGES, or None when the lab does not speak it."""
    if not code:
        return None
    code = code.strip()
    if code in LANGUAGES:
        return code
    lowered = code.lower().replace("_", "-")
    if lowered in ALIASES:
        return ALIASES[lowered]
    base = lowered.split("-")[0]
    if base in LANGUAGES:
        return base
    # Traditional script wins for Chinese: the lab has no Simplified Chinese words.
    return ALIASES.get(base)


def negotiate(accept_language: str | None) -> str:
    """The first language of an Accept-Language header that the lab speaks, else English."""
    parts = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 0.0
        parts.append((-weight, n, tag))
    for _, _, tag in sorted(parts):
        found = normalize(tag)
        if found:
            return found
    return DEFAULT


@cache
def catalog(language: str, directory: Path = CATALOG_DIR) -> dict[str, str]:
    """Every key of ``language``, merged from its files; a key defined twice is an error."""
    merged: dict[str, str] = {}
    for path in sorted((Path(directory) / language).glob("*.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"{path}: key {key!r} is defined twice in {language}")
            merged[key] = value
    return merged


def catalogs(directory: Path = CATALOG_DIR) -> dict[str, dict[str, str]]:
    return {language: catalog(language, directory) for language in LANGUAGES}


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Safe(str):
    """Text already escaped for the page it goes to (lab.render.md_text's output): quoted as it is."""


def quote(value: object) -> str:
    """A value as a message quotes it: ``&`` and ``<`` as entities, so HTML or Markdown shows it as
    typed (``<input>`` is no password box in a toast); numbers and ``Safe`` text stay as they are.
    A lone ``>`` opens nothing and stays, so "File > Save As" reads the same to an API caller."""
    if isinstance(value, Safe | int | float):
        return value
    return str(value).replace("&", "&amp;").replace("<", "&lt;")


def text(key: str, language: str | None = None, /, **values) -> str:
    """The text of ``key`` in ``language`` (English where that language lacks it), filled in with
    ``values`` quoted (``quote``)."""
    return _fill(key, language, values, markup=True)


def plain_text(key: str, language: str | None = None, /, **values) -> str:
    """The text of ``key`` filled in with ``values`` as they are, for a caller that escapes the whole
    (an HTML attribute, an SVG title): quoting the values first would show ``&amp;lt;`` for a ``<``."""
    return _fill(key, language, values, markup=False)


def _fill(key: str, language: str | None, values: dict, markup: bool) -> str:
    language = normalize(language) or DEFAULT
    template = catalog(language).get(key)
    if template is None:
        template = catalog(DEFAULT)[key]  # a missing English key is a bug: KeyError says which
    if not values:
        return template
    # A value that is itself a message (a task's name, a reason) is said in the same language.
    if markup:
        filled = {name: value.say(language) if isinstance(value, Message) else quote(value)
                  for name, value in values.items()}
    else:
        filled = {name: plain(value, language) for name, value in values.items()}
    return template.format(**filled)


class Message(str):
    """A user-facing message: its English text, plus the key and values to say it in another language."""

    key: str
    values: dict

    def __new__(cls, key: str, /, **values):
        self = super().__new__(cls, text(key, DEFAULT, **values))
        self.key, self.values = key, values
        return self

    def say(self, language: str | None) -> str:
        return text(self.key, language, **self.values)

    def plain(self, language: str | None = None) -> str:
        return _fill(self.key, language, self.values, markup=False)

    def __reduce__(self):  # to a training worker's process and back, key and values intact
        return _message, (self.key, self.values)


def _message(key: str, values: dict) -> Message:
    return Message(key, **values)


def msg(key: str, /, **values) -> Message:
    """A message by key, English by default; ``say(language)`` for the student's language."""
    return Message(key, **values)


def say(message: object, language: str | None) -> str:
    """Any message in ``language``: a Message is translated, any other text stays as it is."""
    return message.say(language) if isinstance(message, Message) else str(message)


def plain(message: object, language: str | None = None) -> str:
    """Any message in ``language`` with the values it quotes unescaped: for outputs that are no
    markup (the command line, a log, Markdown escaped as a whole by lab.render.md_text)."""
    return message.plain(language) if isinstance(message, Message) else str(message)


def as_html(message: object, language: str | None = None) -> str:
    """A message for a page that renders HTML (Gradio's error toasts): the whole text quoted, so
    neither a value it quotes nor a template's ``token<TAB>tag`` is taken for a tag."""
    return quote(plain(message, language))
