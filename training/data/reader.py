"""What every task's reader answers, and the shapes it answers in.

A reader (``training.data.data.ClassificationReader``, ``training.data.ner_data.NerReader``,
``training.data.qa_data.QaReader``; the task registry names each) does three things:

- ``read(path)``: the upload opened (``training.data.data.open_upload``) and parsed, with the checks that
  need no choice of columns; raises ``DataError`` saying what to fix.
- ``describe(parsed, tokenizer, ...)``: the ``FileSummary`` the Fine-tune tab and the catalogue show.
- ``split(parsed, config, ...)``: the checked examples cut into train/validation/test (``Prepared``).

The tab, the CLI, the Transfer tab and the catalogue call these three, and ``Uploads`` keeps what
an inspection parsed so that training the same file reads it no second time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

from lab.i18n import Message, msg
from lab.render import md_text

PREVIEW = 10  # rows, sentences or questions in a summary's preview
# Classes shown in the data summary's chart and the result tables; with more, the rest are summed into one row
# (a 10,000-class confusion matrix is 100 million cells and never reaches the browser).
TABLE_CLASSES = 20
# Units of length as the summaries say them (the readers give them as "tokens", "words" or "pieces").
_UNITS = {"tokens": msg("msg.training.reader.unit.tokens"), "words": msg("msg.training.reader.unit.words"),
          "pieces": msg("msg.training.reader.unit.pieces")}


@dataclass
class FileSummary:
    """What the tab shows about a file before training."""

    lines: list[str]  # Markdown paragraphs, each a lab.i18n Message (the tab says them in the student's language)
    counts: pd.DataFrame  # (name, count): classes, entity types, or answer lengths
    lengths: pd.DataFrame  # (length, texts): histogram in tokens
    preview: pd.DataFrame
    suggested_max_length: int
    columns: list[str] = field(default_factory=list)  # classification only: the file's columns
    text_column: str = ""
    label_column: str = ""
    size: int = 0  # rows, sentences or questions (the task's unit)
    labels: list[str] = field(default_factory=list)  # class names or tags in id order; empty for QA


@dataclass
class Prepared:
    """A file's examples checked and split, ready for the task's loop."""

    task: str
    train: object
    val: object
    test: object | None
    items: int  # what one epoch iterates over (rows, sentences, or QA windows)
    typical_length: int  # padded batch length to expect
    text_column: str = ""  # classification: the columns it was read from
    label_column: str = ""


class Reader(Protocol):
    """One task's data: read, describe, split (see the module's docstring)."""

    def read(self, path: str | Path) -> object: ...

    def describe(self, parsed: object, tokenizer=None, text_column: str = "", label_column: str = "") -> FileSummary:
        ...

    def split(self, parsed: object, config, validation: str | Path | None = None, test: str | Path | None = None,
              text_column: str = "", label_column: str = "") -> Prepared: ...


def cut(train, validation, test, config, split: Callable) -> tuple:
    """(train, validation, test or None) from the training examples and the validation and test files'
    examples (each None when not given), as every reader splits: a validation file replaces the
    validation share (and the test share is then cut from training); a test file replaces the test share.
    ``split(examples, val_fraction, test_fraction, seed)`` is the reader's own cut."""
    if validation is not None:
        if test is None and config.test_fraction > 0:
            train, test, _ = split(train, config.test_fraction, 0.0, config.seed)
        return train, validation, test
    train, validation, split_test = split(train, config.val_fraction,
                                          0.0 if test is not None else config.test_fraction, config.seed)
    return train, validation, test if test is not None else split_test


def histogram(lengths: list[int], bins: int = 20) -> pd.DataFrame:
    """Texts per length range, ranges in numeric order, an empty range drawn as 0 (the chart keeps
    this order: its ``sort`` is the ``length`` column as it is)."""
    if not lengths:
        return pd.DataFrame({"length": [], "texts": []})
    width = max(1, (max(lengths) + bins - 1) // bins)
    counts: dict[int, int] = {}
    for n in lengths:
        counts[(n // width) * width] = counts.get((n // width) * width, 0) + 1
    starts = range(min(counts), max(counts) + 1, width)
    return pd.DataFrame({"length": [f"{k}–{k + width - 1}" if width > 1 else str(k) for k in starts],
                         "texts": [counts.get(k, 0) for k in starts]})


def top_counts(counts: dict[str, int], n: int = TABLE_CLASSES) -> pd.DataFrame:
    """The class histogram's bars: the ``n`` largest classes, the rest as one bar, whatever the file holds."""
    top = sorted(counts.items(), key=lambda item: -item[1])
    rest = top[n:]
    top = top[:n] + ([(other_classes(len(rest)), sum(c for _, c in rest))] if rest else [])
    return pd.DataFrame({"name": [name for name, _ in top], "count": [c for _, c in top]})


def other_classes(n: int) -> Message:
    return msg("msg.training.reader.other_classes", n=f"{n:,}")


def unit(name: str) -> str:
    """A length unit as the summaries say it."""
    return _UNITS.get(name, name) if not isinstance(name, Message) else name


class _Escaped(Message):
    """A Message shown as typed in Markdown: its text in any language passed through md_text (a note quotes
    the user's column names and labels)."""

    def __new__(cls, message: Message):
        self = str.__new__(cls, md_text(message))
        self.key, self.values, self.message = message.key, message.values, message
        return self

    def say(self, language: str | None) -> str:
        return md_text(self.message, language)

    def __reduce__(self):
        return _Escaped, (self.message,)


def md(value: object) -> str:
    """``value`` for a Markdown paragraph, user text escaped (lab.render.md_text); a Message stays one."""
    return _Escaped(value) if isinstance(value, Message) else md_text(value)


def notes(items: Sequence) -> list[Message]:
    """A reader's notes as summary lines."""
    return [msg("msg.training.reader.note", note=md(n)) for n in items]


def percentile_line(p: dict, length_unit: str, suggested: int) -> Message:
    return msg("msg.training.reader.percentiles", unit=unit(length_unit), median=p[50], p95=p[95],
               longest=p[100], suggested=suggested)


class Uploads:
    """What readers parsed, by (task, file, its modification time and size, reader options), so that the
    inspection's parse is what training uses: an upload is parsed once while it stays the same file.
    Bounded (the least recently used goes first); safe to share between sessions' threads."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self._parsed: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, task: str, reader, path: str | Path) -> object:
        """``reader.read(path)``, or what it returned for this very file before."""
        try:
            stat = Path(path).stat()
            key = (task, str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, repr(vars(reader)))
        except OSError:  # missing: the reader says so in the student's words
            return reader.read(path)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        parsed = reader.read(path)
        with self._lock:
            self._parsed[key] = parsed
            while len(self._parsed) > self.capacity:
                self._parsed.popitem(last=False)
        return parsed
