"""Every reader's upload opener and table parser, and text classification's reader and examples.

``open_upload`` (exists, size cap, decode) and ``read_table`` (any CSV/TSV as strings) serve the NER
and QA readers too. ``ClassificationReader`` (training/data/reader.py's read / describe / split) is what the
Fine-tune tab, the CLI, the Transfer tab and the catalogue call: ``read_table`` -> ``guess_columns``
(the user may change the choice) -> ``summarize`` (what the tab shows) -> ``build_dataset`` (pre-flight
checks; raises ``DataError``) -> ``split_dataset``. ``load_for_training`` does the lot in one call.

Every ``DataError`` says what is wrong and how to fix it, with line numbers where one applies.
Line numbers are the file's own (line 1 = the header), as an editor or a spreadsheet shows them.
"""

from __future__ import annotations

import array
import csv
import io
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab.errors import LabInputError
from lab.i18n import Message, Safe, msg
from lab.render import md_text
from lab.settings import DataLimits  # the upload caps, with the rest of the settings
from training.config import TrainConfig
from training.data import reader


class DataError(LabInputError):
    """A data file or column choice can't be used for training; the message says why and what to do.

    Its message is a ``lab.i18n.Message``: English text that the UI says in the student's language.
    ``read_table``'s notes and ``DataSummary.problems`` are Messages for the same reason.
    """


def listing(items: Sequence, key: str = "msg.data.list.comma") -> Message | str:
    """``items`` (texts or Messages) as one message joined by ``key``'s separator ("a, b, c" in
    English), so that each language joins them its own way and says each item in its own words."""
    items = list(items)
    if len(items) == 1:
        return items[0]
    return msg(key, first=items[0], rest=listing(items[1:], key))


def sentences(items: Sequence) -> Message | str:
    """Several problems said one after the other, as one message."""
    return listing(items, "msg.data.list.sentences")


def in_file(name: str, problems: Sequence) -> Message:
    """``name: problem problem ...``: what is wrong with one file, in the reader's language."""
    return msg("msg.data.in_file", name=name, problems=sentences(problems))


def and_more(total: int, shown: int) -> Message | str:
    """" and 3 more" after a list cut at ``shown`` items of ``total``, else nothing."""
    return msg("msg.data.and_more", n=total - shown) if total > shown else ""


def number_list(numbers: Sequence[int], word: str, limit: int = 8) -> Message:
    """'line 3', 'lines 3, 7 and 9' or 'lines 3, 7 and 12 more' (``word`` is "line" or "row")."""
    shown = [f"{n:,}" for n in numbers[:limit]]
    if len(numbers) > limit:
        return msg(f"msg.data.where.{word}s_more", numbers=", ".join(shown), more=f"{len(numbers) - limit:,}")
    if len(shown) == 1:
        return msg(f"msg.data.where.{word}", n=shown[0])
    return msg(f"msg.data.where.{word}s", numbers=", ".join(shown[:-1]), last=shown[-1])


# --------------------------------------------------------------------------------------------
# The examples a classification run trains on


@dataclass
class TextDataset:
    """The labelled texts a classification run trains on, after loading and checks."""

    texts: list[str]
    labels: list[int]  # indices into label_names
    label_names: list[str]  # id2label order; written into the model config
    # Row number of each example in the file it came from (1-based, header excluded), so
    # misclassified examples can be shown with their origin.
    rows: list[int] = field(default_factory=list)

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError("texts and labels differ in length")
        if not self.rows:
            self.rows = list(range(1, len(self.texts) + 1))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> TextDataset:
        return TextDataset([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                           self.label_names, [self.rows[i] for i in indices])

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.label_names, 0)
        for label in self.labels:
            counts[self.label_names[label]] += 1
        return counts


# --------------------------------------------------------------------------------------------
# Reading


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}  # each also msg.data.delimiter.<name>
_SNIFF_CHARS = 64 * 1024

# Magic numbers of files people rename to .csv by mistake: what the file is and what to do
# instead, as message keys (msg.data.magic.*, msg.data.fix.*).
_MAGIC = [
    (b"PK\x03\x04", "msg.data.magic.xlsx", "msg.data.fix.save_as_csv"),
    (b"\xd0\xcf\x11\xe0", "msg.data.magic.xls", "msg.data.fix.save_as_csv"),
    (b"%PDF", "msg.data.magic.pdf", "msg.data.fix.export_csv"),
    (b"\x1f\x8b", "msg.data.magic.gzip", "msg.data.fix.gunzip"),
    (b"PAR1", "msg.data.magic.parquet", "msg.data.fix.parquet"),
    (b"SQLite format 3", "msg.data.magic.sqlite", "msg.data.fix.export_csv"),
    (b"\x89PNG", "msg.data.magic.png", "msg.data.fix.upload_table"),
    (b"\xff\xd8\xff", "msg.data.magic.jpeg", "msg.data.fix.upload_table"),
]


def _delimiter_name(delimiter: str) -> Message:
    return msg(f"msg.data.delimiter.{DELIMITERS[delimiter]}")

# Header names people use; a first row holding one of these is a header.
TEXT_NAMES = ("text", "texts", "sentence", "sentences", "review", "reviews", "comment", "content", "body",
              "tweet", "document", "message", "utterance", "question", "title", "abstract", "headline",
              "phrase", "description", "summary", "query", "input", "post")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y", "intent", "topic",
               "emotion", "polarity", "tag", "rating", "stars", "gold_label", "output")
_OTHER_NAMES = ("id", "idx", "index", "uid", "date", "time", "author", "user", "source", "split", "language",
                "lang", "url", "score")
_KNOWN_NAMES = frozenset(TEXT_NAMES + LABEL_NAMES + _OTHER_NAMES)

_NA_STRINGS = frozenset({"nan", "NaN", "NAN", "null", "NULL", "None", "N/A", "n/a", "NA", "#N/A", "<NA>"})
_INT = re.compile(r"^[+-]?\d+(\.0*)?$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?%?$")


def read_table(path: str | Path, limits: DataLimits | None = None, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV a user uploaded into a DataFrame of strings.

    Sniffs the encoding (BOM -> UTF-8/UTF-16/UTF-32; else UTF-8, then Windows-1252, then
    latin-1, with a note), the delimiter (, ; tab |), quoting, and whether the first row is a
    header (if not, columns are named by their content or position, with a note). Files over the
    caps (``limits``, the host's upload caps the caller passes; the defaults without), binary files (an .xlsx renamed .csv, ...), empty files and header-only files are refused
    with a ``DataError``. ``nrows`` reads only the first data rows (a note says so).

    ``df.attrs`` holds ``notes`` (list[str]), ``encoding``, ``delimiter``, ``has_header``,
    ``source`` (the file name) and ``lines`` (an int array: the file line each row starts on).
    """
    limits = limits or DataLimits()
    path = Path(path)
    name = path.name
    notes: list[str] = []
    text, encoding = open_upload(path, limits, notes)
    if not text.strip():
        raise DataError(msg("msg.data.empty", name=name))

    delimiter, quoting = _sniff_dialect(text, path.suffix.lower())
    records, lines, ends = _parse(text, delimiter, quoting, name, limits, nrows, notes)
    if not records:
        raise DataError(msg("msg.data.no_rows", name=name))

    has_header = _has_header(records)
    if has_header:
        header, records, lines, ends = records[0], records[1:], lines[1:], ends[1:]
        if not records:
            raise DataError(msg("msg.data.header_only", name=name, header=", ".join(h.strip() for h in header)))
        width = len(header)
    else:
        width = Counter(len(r) for r in records[:1000]).most_common(1)[0][0]
        header = None

    for record, line, end in zip(records, lines, ends):
        # A quote that never closed: one field holds the lines (delimiters and all) that follow it.
        if len(record) != width and end > line and any(
                delimiter in rest for cell in record for rest in cell.splitlines()[1:]):
            raise DataError(msg("msg.data.unclosed_quote", name=name, line=f"{line:,}", end=f"{end:,}"))
        if len(record) > width:
            if any(cell.strip() for cell in record[width:]):
                values = dict(name=name, line=f"{line:,}", fields=len(record), width=width,
                              sep=_delimiter_name(delimiter), delimiter=repr(delimiter), raw=delimiter)
                if has_header:
                    raise DataError(msg("msg.data.too_many_fields.header", **values))
                raise DataError(msg("msg.data.too_many_fields.lines", **values))
            del record[width:]
        elif len(record) < width:
            record.extend([""] * (width - len(record)))

    if nrows is not None and len(records) > nrows:
        records, lines = records[:nrows], lines[:nrows]
        notes.append(msg("msg.data.note.first_rows", rows=f"{nrows:,}"))
    if len(records) > limits.max_rows:
        raise DataError(msg("msg.data.too_many_rows", name=name, cap=f"{limits.max_rows:,}"))

    if header is not None:
        columns = _clean_header(header, notes)
    else:
        columns = _positional_names(records, width)
        if width == 2:
            notes.append(msg("msg.data.note.named_by_content", first=repr(columns[0]), second=repr(columns[1])))
        else:
            notes.append(msg("msg.data.note.named_by_position", columns=", ".join(columns)))

    for j, column in enumerate(columns):
        for record, line in zip(records, lines):
            if len(record[j]) > limits.max_text_chars:
                hint = msg("msg.data.text_too_long.runaway") if "\n" in record[j] else ""
                raise DataError(msg("msg.data.text_too_long", name=name, line=f"{line:,}", column=repr(column),
                                    chars=f"{len(record[j]):,}", cap=f"{limits.max_text_chars:,}", hint=hint))

    df = pd.DataFrame(records, columns=columns, dtype=str)
    # An array, not a list: pandas deep-copies attrs on every operation.
    df.attrs.update(source=name, encoding=encoding, delimiter=delimiter, has_header=has_header,
                    notes=notes, lines=array.array("q", lines))
    return df


def open_upload(path: str | Path, limits: DataLimits | None = None,
                notes: list[Message] | None = None) -> tuple[str, str]:
    """An uploaded file's text and encoding, for every reader: the file exists, is under the host's
    size cap (``limits``), is not a binary file renamed, and decodes (BOM, UTF-16 without one, UTF-8,
    else Windows-1252 or latin-1, with a note appended to ``notes``). Raises ``DataError`` otherwise."""
    limits = limits or DataLimits()
    path = Path(path)
    if not path.is_file():
        raise DataError(msg("msg.data.no_such_file", name=path.name))
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DataError(msg("msg.data.too_big", name=path.name, size=f"{size / 2**20:.1f}",
                            cap=f"{limits.max_bytes / 2**20:g}"))
    return _decode(path.read_bytes(), path.name, notes if notes is not None else [])


def _decode(raw: bytes, name: str, notes: list[str]) -> tuple[str, str]:
    for magic, what, fix in _MAGIC:
        if raw.startswith(magic):
            raise DataError(msg("msg.data.not_csv", name=name, what=msg(what), fix=msg(fix)))
    boms = [(b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
            (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")]
    encoding = next((enc for bom, enc in boms if raw.startswith(bom)), None)
    if encoding is None and b"\x00" in raw[:4096]:
        # UTF-16 without a BOM: ASCII text leaves every other byte zero.
        head = raw[:4096]
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 0.4 * len(head[1::2]) and even < 0.1 * len(head[0::2]):
            encoding = "utf-16-le"
        elif even > 0.4 * len(head[0::2]) and odd < 0.1 * len(head[1::2]):
            encoding = "utf-16-be"
        if encoding:
            notes.append(msg("msg.data.note.utf16", order=encoding[-2:].upper()))
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise DataError(msg("msg.data.bad_encoding", name=name, encoding=encoding.upper(),
                                byte=f"{e.start:,}")) from None
    else:
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            try:
                text, encoding = raw.decode("cp1252"), "cp1252"
                label = msg("msg.data.encoding.cp1252")
            except UnicodeDecodeError:
                text, encoding = raw.decode("latin-1"), "latin-1"
                label = msg("msg.data.encoding.latin1")
            notes.append(msg("msg.data.note.not_utf8", line=f"{line:,}", encoding=label))
    sample = text[:_SNIFF_CHARS]
    control = sum(1 for ch in sample if ch < " " and ch not in "\t\n\r")
    if "\x00" in sample or control > 0.01 * len(sample):
        raise DataError(msg("msg.data.binary", name=name))
    return text, encoding


def _sniff_dialect(text: str, suffix: str) -> tuple[str, int]:
    """The delimiter and quoting that split the first lines into the same number (>= 2) of fields most often.

    Quoting is tried both ways: a stray double quote at the start of a text (common in plain TSVs,
    GLUE's among them) would otherwise swallow the lines after it.
    """
    sample = text[:_SNIFF_CHARS]
    truncated = len(text) > len(sample)
    best, best_key = (",", csv.QUOTE_MINIMAL), None
    for order, delimiter in enumerate(DELIMITERS):
        for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_NONE):
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quoting=quoting) if r]
            if truncated and len(rows) > 1:
                rows = rows[:-1]  # the sample may cut the last record short
            rows = rows[:1000]
            if not rows:
                continue
            width, count = Counter(len(r) for r in rows).most_common(1)[0]
            if width < 2:
                continue
            hinted = (delimiter == "\t") == (suffix in (".tsv", ".tab"))
            # Most consistent first; then the file's extension, the usual delimiters, more records
            # (a swallowing quote makes fewer), and real quoting over none.
            key = (round(count / len(rows), 2), hinted, -order, len(rows), quoting == csv.QUOTE_MINIMAL)
            if best_key is None or key > best_key:
                best, best_key = (delimiter, quoting), key
    return best


def _parse(text: str, delimiter: str, quoting: int, name: str, limits: DataLimits, nrows: int | None,
           notes: list[str]) -> tuple[list[list[str]], list[int], list[int]]:
    """Records and the lines each starts and ends on; fully empty records are dropped (with a note)."""
    if csv.field_size_limit() <= limits.max_text_chars:  # so our own cap, with its message, applies first
        csv.field_size_limit(limits.max_text_chars + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    records, lines, ends, dropped = [], [], [], []
    # header + cap + 1 rows are enough to tell a file over the cap.
    stop = (limits.max_rows if nrows is None else min(nrows, limits.max_rows)) + 2
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record:
                continue
            if not any(cell.strip() for cell in record):
                dropped.append(start)
                continue
            records.append(record)
            lines.append(start)
            ends.append(reader.line_num)
            if len(records) >= stop:
                break
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise DataError(msg("msg.data.field_too_large", name=name, line=f"{line:,}",
                                cap=f"{limits.max_text_chars:,}")) from None
        raise DataError(msg("msg.data.unreadable", name=name, line=f"{reader.line_num:,}",
                            sep=_delimiter_name(delimiter), error=str(e))) from None
    if dropped:
        shown = ", ".join(map(str, dropped[:5])) + (" ..." if len(dropped) > 5 else "")
        notes.append(msg("msg.data.note.empty_rows", count=len(dropped), lines=shown))
    return records, lines, ends


def _is_number(value: str) -> bool:
    return bool(_NUMBER.match(value.strip()))


def _normal_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _known_name(cell: str) -> bool:
    name = _normal_name(cell)
    if name in _KNOWN_NAMES or name.rstrip("0123456789_") in _KNOWN_NAMES:
        return True
    # review_text, label_id, sentiment_label: identifier-like names (no spaces) with a known part.
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", cell.strip())) and any(
        part in _KNOWN_NAMES for part in name.split("_"))


def _has_header(records: list[list[str]]) -> bool:
    """Whether the first record is a header: a vote over its cells against the rows under it."""
    first, rest = records[0], records[1:501]
    cells = [c.strip() for c in first]
    for j, cell in enumerate(cells):
        # A known name is a header unless the same value recurs below it (a label called "question").
        if cell and _known_name(cell) and all(j >= len(r) or r[j].strip() != cell for r in rest):
            return True
    if not rest:  # one line only: a header if it reads like names
        return all(c and not _is_number(c) and len(c) <= 40 for c in cells)
    score = 0.0
    for j, head in enumerate(cells):
        column = [r[j].strip() for r in rest if j < len(r) and r[j].strip()]
        if not head or not column:
            continue
        numeric = sum(map(_is_number, column)) / len(column)
        if _is_number(head):
            score -= 2  # headers are names, rarely numbers
        elif numeric >= 0.9:
            score += 2  # a word on top of a column of numbers
        elif len(set(column)) <= max(2, len(column) // 2):  # categories
            score += -2 if head in set(column) else 1
        else:  # free text
            mean = sum(map(len, column)) / len(column)
            if mean >= 15 and len(head) < 0.3 * mean:
                score += 1
            elif len(head) >= 0.5 * mean:
                score -= 1
    return score > 0


def _clean_header(header: list[str], notes: list[str]) -> list[str]:
    columns: list[str] = []
    for j, raw in enumerate(header, 1):
        name = raw.strip().lstrip("\ufeff").strip() or f"column_{j}"
        if name in columns:
            k = 2
            while f"{name}_{k}" in columns or f"{name}_{k}" in header:
                k += 1
            notes.append(msg("msg.data.note.duplicate_column", name=repr(name), number=j, renamed=f"{name}_{k}"))
            name = f"{name}_{k}"
        columns.append(name)
    return columns


def _positional_names(records: list[list[str]], width: int) -> list[str]:
    names = [f"column_{j}" for j in range(1, width + 1)]
    if width != 2:
        return names
    sample = pd.DataFrame([r[:2] for r in records[:2000]], columns=names, dtype=str)
    text_column, _ = guess_columns(sample)
    return ["text", "label"] if text_column == "column_1" else ["label", "text"]


# --------------------------------------------------------------------------------------------
# Columns and checks


def _missing(value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return True
    text = str(value).strip()
    return not text or text in _NA_STRINGS


def _cells(df: pd.DataFrame, column: str) -> list[str | None]:
    return [None if _missing(v) else str(v).strip() for v in df[column].tolist()]


def guess_columns(df: pd.DataFrame) -> tuple[str, str]:
    """(text_column, label_column): the label is a column named like one (label, class, sentiment,
    ...), else the one with the fewest distinct values per row; the text is the column with the
    longest average string (numbers don't count as text when another column has words)."""
    columns = [str(c) for c in df.columns]
    if len(columns) < 2:
        if columns:
            raise DataError(msg("msg.data.one_column_named", column=repr(columns[0])))
        raise DataError(msg("msg.data.one_column"))
    stats = {}
    for column in columns:
        values = [v for v in _cells(df, column) if v is not None]
        stats[column] = {
            "mean_len": sum(map(len, values)) / len(values) if values else 0.0,
            "numeric": bool(values) and sum(map(_is_number, values)) / len(values) >= 0.9,
            "distinct": len(set(values)),
            "filled": len(values),
        }

    def longest(candidates: list[str]) -> str:
        wordy = [c for c in candidates if not stats[c]["numeric"]] or candidates
        return max(wordy, key=lambda c: stats[c]["mean_len"])

    named = _label_by_name(columns)
    if named is not None:
        return longest([c for c in columns if c != named]), named
    text_column = longest(columns)
    others = [c for c in columns if c != text_column]

    def ratio(c: str) -> float:
        s = stats[c]
        return s["distinct"] / s["filled"] if s["filled"] else math.inf

    labelish = [c for c in others if stats[c]["distinct"] >= 2]
    return text_column, (min(labelish, key=ratio) if labelish else others[0])


def _label_by_name(columns: list[str]) -> str | None:
    by_name = {_normal_name(c): c for c in columns}
    for preferred in LABEL_NAMES:
        if preferred in by_name:
            return by_name[preferred]
    return next((c for c in columns if any(part in LABEL_NAMES for part in _normal_name(c).split("_"))), None)


def _check_columns(df: pd.DataFrame, text_column: str, label_column: str) -> None:
    available = ", ".join(repr(str(c)) for c in df.columns)
    if text_column not in df.columns:
        raise DataError(msg("msg.data.no_text_column", column=repr(text_column), available=available))
    if label_column not in df.columns:
        raise DataError(msg("msg.data.no_label_column", column=repr(label_column), available=available))
    if text_column == label_column:
        raise DataError(msg("msg.data.same_columns", column=repr(text_column)))


def _where(df: pd.DataFrame, positions: Sequence[int], limit: int = 8) -> Message:
    """'lines 3, 7 and 9' (the file's lines, when known) or 'rows 2, 6 and 8' (header excluded)."""
    lines = df.attrs.get("lines")
    if lines is not None and len(lines) == len(df) and df.index.equals(pd.RangeIndex(len(df))):
        return number_list([lines[p] for p in positions], "line", limit)
    rows = _row_numbers(df)
    return number_list([rows[p] for p in positions], "row", limit)


def _label_order(labels: Sequence[str]) -> list[str]:
    """Sorted integers when every label is an integer (0, 1, 2, ... 10), else sorted strings."""
    distinct = set(labels)
    if distinct and all(_INT.match(v) for v in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def _normalise_labels(labels: list[str | None], reference: Sequence[str] | None = None) -> list[str | None]:
    """'1', '1.0' and '+1' are one label when the labels (and the reference names, if any) are integers."""
    present = [v for v in labels if v is not None]
    if not present or not all(_INT.match(v) for v in present):
        return labels
    if reference is not None and not all(_INT.match(str(v)) for v in reference):
        return labels
    return [None if v is None else str(int(float(v))) for v in labels]


def _problems(df: pd.DataFrame, text_column: str, label_column: str, texts: list[str | None],
              labels: list[str | None], training: bool, limits: DataLimits) -> list[Message]:
    """What stops training on these columns, one message per problem (the same text build_dataset raises)."""
    problems = []
    column, label_column = repr(text_column), repr(label_column)
    empty_text = [i for i, t in enumerate(texts) if t is None]
    if empty_text:
        problems.append(msg("msg.data.empty_texts", count=f"{len(empty_text):,}", column=column,
                            where=_where(df, empty_text)))
    empty_label = [i for i, v in enumerate(labels) if v is None]
    if empty_label:
        problems.append(msg("msg.data.empty_labels", count=f"{len(empty_label):,}", column=label_column,
                            where=_where(df, empty_label)))
    long = sorted({v for v in labels if v is not None and len(v) > limits.max_label_chars})
    if long:
        problems.append(msg("msg.data.long_labels", count=f"{len(long):,}", column=label_column,
                            cap=limits.max_label_chars, example=repr(long[0][:40])))
    if not training:
        return problems
    counts = Counter(v for v in labels if v is not None)
    filled = sum(counts.values())
    if len(counts) == 1:
        (only, n), = counts.items()
        problems.append(msg("msg.data.single_class", column=label_column, label=repr(only), rows=f"{n:,}"))
    elif len(counts) > 50 and len(counts) > 0.5 * filled:
        problems.append(msg("msg.data.free_text_labels", column=label_column, count=f"{len(counts):,}",
                            rows=f"{filled:,}"))
    elif len(counts) > limits.max_classes:
        problems.append(msg("msg.data.too_many_classes", column=label_column, count=f"{len(counts):,}",
                            cap=f"{limits.max_classes:,}"))
    else:
        rare = sorted((name for name, n in counts.items() if n < 2), key=str)
        if rare:
            listed = listing([msg("msg.data.item_at", item=repr(name), where=_where(df, [labels.index(name)]))
                              for name in rare[:8]])
            problems.append(msg("msg.data.rare_classes", count=len(rare), classes=listed, more=and_more(len(rare), 8)))
    return problems


def build_dataset(df: pd.DataFrame, text_column: str, label_column: str,
                  label_names: list[str] | None = None, limits: DataLimits | None = None) -> TextDataset:
    """The checked dataset: raises ``DataError`` listing every problem (empty texts or labels, one
    class, classes with one example, labels unknown to ``label_names``).

    Label ids follow sorted integers when every label is an integer, else sorted strings. Pass the
    training set's ``label_names`` when building a validation set, so both share one mapping.
    """
    _check_columns(df, text_column, label_column)
    texts = _cells(df, text_column)
    labels = _normalise_labels(_cells(df, label_column), label_names)
    problems = _problems(df, text_column, label_column, texts, labels, training=label_names is None,
                         limits=limits or DataLimits())
    if label_names is not None:
        names = [str(n) for n in label_names]
        known = set(names)
        unknown: dict[str, list[int]] = {}
        for i, v in enumerate(labels):
            if v is not None and v not in known:
                unknown.setdefault(v, []).append(i)
        if unknown:
            lower = {n.lower(): n for n in names}
            parts = []
            for v, positions in list(unknown.items())[:8]:
                where = _where(df, positions, limit=3)
                if v.lower() in lower:  # the same label but for its case
                    parts.append(msg("msg.data.unknown_label_at", label=repr(v), where=where,
                                     similar=repr(lower[v.lower()])))
                else:
                    parts.append(msg("msg.data.item_at", item=repr(v), where=where))
            problems.append(msg("msg.data.unknown_labels", column=repr(label_column), labels=listing(parts),
                                more=and_more(len(unknown), 8), names=", ".join(map(repr, names))))
    if problems:
        source = df.attrs.get("source")
        raise DataError(in_file(source, problems) if source else sentences(problems))
    if label_names is None:
        names = _label_order([v for v in labels if v is not None])
    index = {n: i for i, n in enumerate(names)}
    return TextDataset(texts=list(texts), labels=[index[v] for v in labels], label_names=list(names),
                       rows=_row_numbers(df))


def _row_numbers(df: pd.DataFrame) -> list[int]:
    """1-based data-row numbers (header excluded), from the index when it is read_table's."""
    index = df.index
    if pd.api.types.is_integer_dtype(index.dtype) and (len(index) == 0 or index.min() >= 0):
        return [int(i) + 1 for i in index]
    return list(range(1, len(df) + 1))


def check_shares(val_fraction: float, test_fraction: float) -> None:
    """Every reader's split: validation a share in (0, 1), test in [0, 1), both less than the whole."""
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(msg("msg.data.bad_shares", val=f"{val_fraction:g}", test=f"{test_fraction:g}"))


def split_dataset(ds: TextDataset, val_fraction: float, test_fraction: float = 0.0,
                  seed: int = 42) -> tuple[TextDataset, TextDataset, TextDataset | None]:
    """Stratified (train, validation, test or None) split, the same for the same seed.

    Each class is shuffled and cut by the fractions, rounded; a class with >= 2 examples always
    has one in train and one in validation, and with >= 3 one in test when a test set is asked for.
    Each part keeps the file's order (the training loop shuffles).
    """
    check_shares(val_fraction, test_fraction)
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(ds.labels):
        by_class.setdefault(label, []).append(i)
    train, val, test = [], [], []
    for label in sorted(by_class):
        members = by_class[label][:]
        rng.shuffle(members)
        n = len(members)
        n_val, n_test = round(n * val_fraction), round(n * test_fraction) if test_fraction else 0
        if n >= 2:
            n_val = max(n_val, 1)
        if test_fraction and n >= 3:
            n_test = max(n_test, 1)
        while n_val + n_test > n - 1 and n_test > 0:  # keep one for training
            n_test -= 1
        n_val = min(n_val, n - 1)
        val += members[:n_val]
        test += members[n_val:n_val + n_test]
        train += members[n_val + n_test:]
    if not val:
        raise DataError(msg("msg.data.too_few_examples", count=len(ds)))
    return (ds.subset(sorted(train)), ds.subset(sorted(val)),
            ds.subset(sorted(test)) if test_fraction else None)


# --------------------------------------------------------------------------------------------
# Summary


@dataclass
class DataSummary:
    """What the Fine-tune tab shows about a file before training."""

    rows: int
    columns: list[str]
    text_column: str
    label_column: str
    class_counts: dict[str, int]  # in label-id order
    label_mapping: dict[str, int]  # label2id, as written into the model config
    token_lengths: list[int]  # per text (or per sampled text, see notes), [CLS]/[SEP] included
    suggested_max_length: int  # 95th percentile, rounded up to a multiple of 8, at most 512
    preview: pd.DataFrame  # the first rows, long cells shortened
    notes: list[Message] = field(default_factory=list)  # how the file was read; nothing here stops training
    problems: list[Message] = field(default_factory=list)  # what build_dataset would refuse, for showing early
    length_unit: str = "tokens"  # "tokens", or "words" when no tokenizer was given

    def percentiles(self, qs: Sequence[int] = (50, 90, 95, 99, 100)) -> dict[int, int]:
        return percentiles(self.token_lengths, qs)

    def truncated_share(self, max_length: int) -> float:
        """Share of texts longer than ``max_length`` (they would be cut)."""
        if not self.token_lengths:
            return 0.0
        return sum(n > max_length for n in self.token_lengths) / len(self.token_lengths)


_MAX_LENGTH_CAP = 512
_LENGTH_SAMPLE = 10_000  # plenty for a 95th percentile, and fast enough on a laptop
_PREVIEW_ROWS = 10
_PREVIEW_CHARS = 300


def _percentile(ordered: list[int], q: float) -> int:
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def percentiles(values: Sequence[int], qs: Sequence[int] = (50, 90, 95, 99, 100)) -> dict[int, int]:
    """The nearest-rank percentiles ``qs`` of ``values`` (0 each when there are none), for every reader."""
    ordered = sorted(values)
    return {q: _percentile(ordered, q) for q in qs}


def suggest_max_length(lengths: Sequence[int]) -> int:
    """The 95th percentile rounded up to a multiple of 8 (tensor cores like it), between 8 and 512."""
    if not lengths:
        return TrainConfig.__dataclass_fields__["max_length"].default
    p95 = _percentile(sorted(lengths), 95)
    return min(_MAX_LENGTH_CAP, max(8, math.ceil(p95 / 8) * 8))


def text_lengths(texts: list[str], tokenizer=None,
                 notes: list[Message] | None = None) -> tuple[list[int], int, str]:
    """(lengths, suggested max_length, unit) of ``texts``: in the tokenizer's tokens (with [CLS]/[SEP]),
    on a random sample of 10,000 for bigger files; without a tokenizer in words, the suggestion at
    ~1.3 tokens per word. What the sampling and the unit mean is appended to ``notes``."""
    notes = notes if notes is not None else []
    if len(texts) > _LENGTH_SAMPLE:
        texts = random.Random(0).sample(texts, _LENGTH_SAMPLE)
        notes.append(msg("msg.data.note.length_sample", count=f"{_LENGTH_SAMPLE:,}"))
    if tokenizer is not None:
        encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False,
                            return_attention_mask=False, return_token_type_ids=False) if texts else {"input_ids": []}
        lengths = [len(ids) for ids in encoded["input_ids"]]
        return lengths, suggest_max_length(lengths), "tokens"
    lengths = [len(t.split()) for t in texts]
    notes.append(msg("msg.data.note.lengths_in_words"))
    return lengths, suggest_max_length([math.ceil(n * 1.3) + 2 for n in lengths]), "words"


def summarize(df: pd.DataFrame, text_column: str, label_column: str, tokenizer=None,
              limits: DataLimits | None = None) -> DataSummary:
    """Row count, class histogram, label mapping, text lengths and a preview, for the chosen columns.

    Lengths are in the tokenizer's tokens (with [CLS]/[SEP]) when one is given, on a random sample
    of 10,000 texts for bigger files; without one they are word counts and the suggestion uses
    ~1.3 tokens per word. Problems that would stop training are listed in ``problems``, not raised.
    """
    _check_columns(df, text_column, label_column)
    notes = list(df.attrs.get("notes", []))
    texts = _cells(df, text_column)
    labels = _normalise_labels(_cells(df, label_column))
    problems = _problems(df, text_column, label_column, texts, labels, training=True, limits=limits or DataLimits())
    names = _label_order([v for v in labels if v is not None])
    counts = Counter(v for v in labels if v is not None)

    lengths, suggested, unit = text_lengths([t for t in texts if t is not None], tokenizer, notes)

    preview = df.head(_PREVIEW_ROWS).copy()
    for column in preview.columns:
        preview[column] = [v if not isinstance(v, str) or len(v) <= _PREVIEW_CHARS else v[:_PREVIEW_CHARS] + "…"
                           for v in preview[column].tolist()]
    return DataSummary(
        rows=len(df), columns=[str(c) for c in df.columns], text_column=text_column, label_column=label_column,
        class_counts={n: counts[n] for n in names}, label_mapping={n: i for i, n in enumerate(names)},
        token_lengths=lengths, suggested_max_length=suggested, preview=preview, notes=notes,
        problems=problems, length_unit=unit,
    )


def choose_columns(df: pd.DataFrame, text_column: str | None, label_column: str | None) -> tuple[str, str]:
    """The (text, label) columns to train on: those given, the guessed ones for those not given."""
    if text_column is None or label_column is None:
        guessed_text, guessed_label = guess_columns(df)
        if text_column is None:
            text_column = guessed_text if guessed_text != label_column else guessed_label
        if label_column is None:
            label_column = guessed_label if guessed_label != text_column else guessed_text
    return text_column, label_column


def load_for_training(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                      limits: DataLimits | None = None, *, label_names: list[str] | None = None,
                      tokenizer=None) -> tuple[TextDataset, DataSummary]:
    """Read a file, guess the columns not given, check it and summarise it, in one call.

    With ``label_names`` (the training set's) it loads a validation file under that mapping.
    Raises ``DataError`` for anything that would stop training.
    """
    df = read_table(path, limits)
    if label_column is None and label_names is not None:
        # A validation file: its label column is the one whose values are the training labels.
        known = set(map(str, label_names))
        label_column = next((str(c) for c in df.columns if str(c) != text_column and set(
            v for v in _normalise_labels(_cells(df, c), label_names) if v is not None) <= known), None)
    text_column, label_column = choose_columns(df, text_column, label_column)
    ds = build_dataset(df, text_column, label_column, label_names, limits)
    summary = summarize(df, text_column, label_column, tokenizer, limits)
    if label_names is not None:  # a validation file: its mapping is the training one
        summary.label_mapping = ds.label2id
        summary.class_counts = ds.class_counts()
        summary.problems = []
    return ds, summary


# --------------------------------------------------------------------------------------------
# The reader


class ClassificationReader:
    """Text classification's reader (training/data/reader.py): a CSV/TSV of texts and labels."""

    task = "classification"

    def __init__(self, limits: DataLimits | None = None):
        self.limits = limits

    def read(self, path: str | Path) -> pd.DataFrame:
        """The file as a table of strings (``read_table``'s checks); columns are chosen later."""
        return read_table(path, self.limits)

    def describe(self, parsed: pd.DataFrame, tokenizer=None, text_column: str = "",
                 label_column: str = "") -> reader.FileSummary:
        """Rows, classes, lengths and a preview for the chosen columns (guessed when not the file's),
        with what would stop training listed, not raised."""
        guessed_text, guessed_label = guess_columns(parsed)
        text_column = text_column if text_column in parsed.columns else guessed_text
        label_column = label_column if label_column in parsed.columns else guessed_label
        s = summarize(parsed, text_column, label_column, tokenizer, self.limits)
        lines = [
            msg("msg.training.reader.summary.classification", rows=f"{s.rows:,}", classes=len(s.class_counts),
                text_column=md_text(text_column), label_column=md_text(label_column)),
            msg("msg.training.reader.cut_share",
                line=reader.percentile_line(s.percentiles(), s.length_unit, s.suggested_max_length),
                share=f"{s.truncated_share(s.suggested_max_length):.0%}"),
            msg("msg.training.reader.label_mapping",
                mapping=Safe(", ".join(f"{md_text(name)} → {i}" for name, i in s.label_mapping.items()))),
        ]
        lines += reader.notes(s.notes)
        lines += [msg("msg.training.reader.problem", problem=reader.md(n)) for n in s.problems]
        return reader.FileSummary(lines, reader.top_counts(s.class_counts), reader.histogram(s.token_lengths),
                                  s.preview, s.suggested_max_length, list(s.columns), text_column, label_column,
                                  size=s.rows, labels=list(s.label_mapping))

    def split(self, parsed: pd.DataFrame, config: TrainConfig, validation: str | Path | None = None,
              test: str | Path | None = None, text_column: str = "", label_column: str = "") -> reader.Prepared:
        """The checked dataset (``build_dataset``; raises ``DataError``), split stratified by class;
        validation and test files are read under the training file's columns and labels."""
        text_column, label_column = choose_columns(parsed, text_column or None, label_column or None)
        train = build_dataset(parsed, text_column, label_column, None, self.limits)

        def other(path):
            return None if not path else build_dataset(self.read(path), text_column, label_column,
                                                       train.label_names, self.limits)

        typical = text_lengths(train.texts)[1]
        train, val, test_ds = reader.cut(train, other(validation), other(test), config, split_dataset)
        return reader.Prepared(self.task, train, val, test_ds, len(train), typical, text_column, label_column)
