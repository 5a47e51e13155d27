"""Token-classification (NER) data: CoNLL files and token/tag CSVs, checked, summarised, split.

Formats:

- CoNLL: one token per line, its tag in a later column (tab- or space-separated; the last
  column unless ``tag_column`` says otherwise, so CoNLL-2003's four columns work), a blank line
  between sentences, ``-DOCSTART-`` lines ignored.
- CSV/TSV: a ``tokens`` column and a ``tags`` column (``ner_tags``/``labels`` also accepted),
  each a space-separated list of the same length.

Tags must be IOB2 (``O``, ``B-TYPE``, ``I-TYPE``). IOB1 (an entity may start with ``I-``) and
BIOES/BILOU (``S-``/``E-``/``L-``/``U-``) are converted to IOB2 with a note; anything else is
refused. Every ``DataError`` names the file's line numbers (line 1 = the first line).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab.i18n import Message, Safe, msg
from lab.render import md_text
from training.data import reader
from training.data.data import (
    DataError,
    DataLimits,
    and_more,
    check_shares,
    in_file,
    listing,
    number_list,
    open_upload,
    percentiles,
    read_table,
)

# WikiANN writes every token as "en:word": a language prefix, not part of the word.
_LANG_PREFIX = re.compile(r"^([a-z]{2,3}):.")
_TAG = re.compile(r"^(O|[BIESLU]-\S+)$")
_MAX_SHOWN = 8
TOKEN_COLUMNS = ("tokens", "words", "token")
TAG_COLUMNS = ("tags", "ner_tags", "labels", "tag", "ner")


@dataclass
class TokenDataset:
    """Sentences with one IOB2 tag per token, after loading and checks."""

    sentences: list[list[str]]
    tags: list[list[str]]
    label_names: list[str]  # id2label order: O first, then B-/I- by type; written into the model config
    # The file line each sentence starts on (CoNLL) or its CSV line, for error and mistake reports.
    lines: list[int] = field(default_factory=list)
    scheme: str = "IOB2"  # the scheme the file used (it is IOB2 after loading)
    notes: list[Message] = field(default_factory=list)  # how the file was read (lab.i18n Messages)
    source: str = ""

    def __post_init__(self):
        if len(self.sentences) != len(self.tags):
            raise ValueError("sentences and tags differ in length")
        if not self.lines:
            self.lines = list(range(1, len(self.sentences) + 1))

    def __len__(self) -> int:
        return len(self.sentences)

    def subset(self, indices: Sequence[int]) -> TokenDataset:
        return TokenDataset([self.sentences[i] for i in indices], [self.tags[i] for i in indices],
                            self.label_names, [self.lines[i] for i in indices], self.scheme, list(self.notes),
                            self.source)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def entity_types(self) -> list[str]:
        return sorted({t[2:] for t in self.label_names if t != "O"})


def tag_order(tags: set[str] | Sequence[str]) -> list[str]:
    """O first, then B-/I- pairs by entity type (both of each pair, so any tag can be predicted)."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in "BI"]


# --------------------------------------------------------------------------------------------
# Schemes


def _where(lines: Sequence[int], limit: int = _MAX_SHOWN) -> Message:
    return number_list(lines, "line", limit)


def detect_scheme(tags: Sequence[Sequence[str]]) -> str:
    """"IOB2", "IOB1" (some entity starts with I-) or "BIOES" (S-/E- or L-/U- tags present).

    Assumes every tag already matches O or X-TYPE with X in B, I, E, S, L, U.
    """
    flat = {t for sentence in tags for t in sentence}
    if any(t[0] in "ESLU" for t in flat if t != "O"):
        return "BIOES"
    for sentence in tags:
        previous = "O"
        for t in sentence:
            if t.startswith("I-") and previous[2:] != t[2:]:
                return "IOB1"
            previous = t
    return "IOB2"


def to_iob2(tags: Sequence[str]) -> list[str]:
    """One sentence's IOB1 or BIOES/BILOU tags as IOB2 (IOB2 stays as it is).

    An entity begins at S-/U-/B-, or at an I-/E-/L- that doesn't continue an entity of its type.
    """
    out, previous = [], "O"
    for t in tags:
        if t == "O":
            out.append("O")
        else:
            prefix, kind = t[0], t[2:]
            continues = previous != "O" and previous[2:] == kind and previous[0] in "BI" and prefix in "IEL"
            out.append(("I-" if continues else "B-") + kind)
        # E-/L-/S-/U- close their entity: the next tag can't continue it.
        previous = "O" if t == "O" or t[0] in "ESLU" else t
    return out


def _check_tags(tags: list[list[str]], tag_lines: list[list[int]], name: str) -> None:
    bad: dict[str, list[int]] = {}
    for sentence, lines in zip(tags, tag_lines):
        for t, line in zip(sentence, lines):
            if not _TAG.match(t):
                bad.setdefault(t, []).append(line)
    if bad:
        parts = [msg("msg.data.item_at", item=repr(t), where=_where(lines, 3))
                 for t, lines in list(bad.items())[:_MAX_SHOWN]]
        hints = []
        if any(re.match(r"^[bies]-", t) for t in bad):
            hints.append(msg("msg.ner_data.hint.upper"))
        if any(re.match(r"^[BIESLU]_", t) for t in bad):
            hints.append(msg("msg.ner_data.hint.hyphen"))
        if all(re.match(r"^[A-Za-z]+$", t) for t in bad):
            hints.append(msg("msg.ner_data.hint.io"))
        hint = msg("msg.ner_data.hint", hints=listing(hints, "msg.data.list.semicolon")) if hints else ""
        raise DataError(msg("msg.ner_data.unknown_tags", name=name, tags=listing(parts),
                            more=and_more(len(bad), _MAX_SHOWN), hint=hint))


def _finish(sentences, tags, lines, tag_lines, name, notes, label_names=None) -> TokenDataset:
    """Scheme check and conversion, label set (or a check against the training one), the dataset."""
    if not sentences:
        raise DataError(msg("msg.ner_data.no_sentences", name=name))
    _check_tags(tags, tag_lines, name)
    scheme = detect_scheme(tags)
    if scheme != "IOB2":
        converted = [to_iob2(t) for t in tags]
        changed = sum(a != b for a, b in zip(converted, tags))
        what = msg("msg.ner_data.scheme.iob1") if scheme == "IOB1" else msg("msg.ner_data.scheme.bioes")
        notes.append(msg("msg.ner_data.note.converted", what=what, count=f"{changed:,}"))
        tags = converted
    present = {t for sentence in tags for t in sentence}
    if label_names is None:
        label_names = tag_order(present)
        if len(label_names) < 3:
            raise DataError(msg("msg.ner_data.all_o", name=name))
    else:
        unknown: dict[str, list[int]] = {}
        for sentence, sentence_lines in zip(tags, tag_lines):
            for t, line in zip(sentence, sentence_lines):
                if t not in label_names:
                    unknown.setdefault(t, []).append(line)
        if unknown:
            parts = listing([msg("msg.data.item_at", item=repr(t), where=_where(ls, 3))
                             for t, ls in list(unknown.items())[:_MAX_SHOWN]])
            raise DataError(msg("msg.ner_data.unknown_training_tags", name=name, tags=parts,
                                names=", ".join(label_names)))
        label_names = list(label_names)
    return TokenDataset(sentences, tags, label_names, lines, scheme, notes, name)


# --------------------------------------------------------------------------------------------
# Reading


def _prefix_to_strip(tokens: list[str], strip_prefix: str | None) -> str:
    if strip_prefix is not None:
        return strip_prefix
    prefixes = {m.group(1) if (m := _LANG_PREFIX.match(t)) else None for t in tokens}
    return f"{prefixes.pop()}:" if len(prefixes) == 1 and None not in prefixes else ""


def read_conll(path: str | Path, tag_column: int = -1, strip_prefix: str | None = None,
               limits: DataLimits | None = None, *, label_names: Sequence[str] | None = None) -> TokenDataset:
    """Read a CoNLL-style file into a checked ``TokenDataset`` (raises ``DataError``).

    ``tag_column`` picks the tag among the columns (0 is the token; -1, the default, the last).
    ``strip_prefix`` is removed from the start of every token; None detects a language prefix
    that every token carries (WikiANN's "en:") and strips it with a note; "" strips nothing.
    ``label_names``: the training set's, when reading a validation or test file.
    """
    path = Path(path)
    limits = limits or DataLimits()
    notes: list[str] = []
    text = open_upload(path, limits, notes)[0]
    if tag_column == 0:
        raise DataError(msg("msg.ner_data.tag_column_zero"))
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[int] = []
    tag_lines: list[list[int]] = []
    tokens, sentence_tags, numbers = [], [], []
    no_tag, no_token = [], []

    def close():
        if tokens:
            sentences.append(tokens[:])
            tags.append(sentence_tags[:])
            lines.append(numbers[0])
            tag_lines.append(numbers[:])
        tokens.clear(), sentence_tags.clear(), numbers.clear()

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            close()
            continue
        stripped = line.rstrip()  # a leading tab is an empty token, not nothing
        parts = [p.strip() for p in stripped.split("\t")] if "\t" in stripped else stripped.split()
        if parts[0].startswith("-DOCSTART-"):
            close()
            continue
        if len(parts) < 2 or len(parts) <= tag_column or len(parts) < -tag_column + 1 or not parts[tag_column]:
            no_tag.append(number)
            continue
        if not parts[0]:
            no_token.append(number)
            continue
        tokens.append(parts[0])
        sentence_tags.append(parts[tag_column])
        numbers.append(number)
    close()
    problems = []
    if no_tag:
        wanted = msg("msg.ner_data.a_tag") if tag_column == -1 else msg("msg.ner_data.a_tag_in_column",
                                                                            column=tag_column)
        problems.append(msg("msg.ner_data.no_tag", count=f"{len(no_tag):,}", wanted=wanted, where=_where(no_tag)))
    if no_token:
        problems.append(msg("msg.ner_data.no_token", count=f"{len(no_token):,}", where=_where(no_token)))
    if problems:
        raise DataError(in_file(path.name, problems))
    if len(sentences) > limits.max_rows:
        raise DataError(msg("msg.ner_data.too_many_sentences", name=path.name, cap=f"{limits.max_rows:,}"))
    prefix = _prefix_to_strip([t for s in sentences for t in s], strip_prefix)
    if prefix:
        sentences = [[t[len(prefix):] if t.startswith(prefix) else t for t in s] for s in sentences]
        if strip_prefix is None:
            notes.append(msg("msg.ner_data.note.prefix", prefix=repr(prefix)))
    return _finish(sentences, tags, lines, tag_lines, path.name, notes, label_names)


def read_token_csv(path: str | Path, limits: DataLimits | None = None, *,
                   label_names: Sequence[str] | None = None, strip_prefix: str | None = "") -> TokenDataset:
    """Read a CSV/TSV with a ``tokens`` and a ``tags`` column of space-separated lists (raises ``DataError``)."""
    df = read_table(path, limits)
    name = df.attrs["source"]
    columns = {str(c).strip().lower(): str(c) for c in df.columns}
    token_col = next((columns[c] for c in TOKEN_COLUMNS if c in columns), None)
    tag_col = next((columns[c] for c in TAG_COLUMNS if c in columns), None)
    if token_col is None or tag_col is None:
        raise DataError(msg("msg.ner_data.needs_columns", name=name, columns=", ".join(map(repr, df.columns))))
    file_lines = list(df.attrs["lines"])
    sentences, tags, lines, tag_lines = [], [], [], []
    empty, mismatch = [], []
    for line, tok_cell, tag_cell in zip(file_lines, df[token_col].tolist(), df[tag_col].tolist()):
        toks = (tok_cell or "").split()
        tg = (tag_cell or "").split()
        if not toks:
            empty.append(line)
        elif len(toks) != len(tg):
            mismatch.append(msg("msg.ner_data.count_mismatch_at", line=f"{line:,}", tokens=len(toks), tags=len(tg)))
        else:
            sentences.append(toks)
            tags.append(tg)
            lines.append(line)
            tag_lines.append([line] * len(tg))
    problems = []
    if empty:
        problems.append(msg("msg.ner_data.empty_sentences", count=f"{len(empty):,}", where=_where(empty)))
    if mismatch:
        problems.append(msg("msg.ner_data.count_mismatch", count=f"{len(mismatch):,}",
                            rows=listing(mismatch[:_MAX_SHOWN], "msg.data.list.semicolon"),
                            more=and_more(len(mismatch), _MAX_SHOWN)))
    if problems:
        raise DataError(in_file(name, problems))
    notes = list(df.attrs.get("notes", []))
    prefix = _prefix_to_strip([t for s in sentences for t in s], strip_prefix)
    if prefix:
        sentences = [[t[len(prefix):] if t.startswith(prefix) else t for t in s] for s in sentences]
    return _finish(sentences, tags, lines, tag_lines, name, notes, label_names)


def load_ner(path: str | Path, tag_column: int = -1, strip_prefix: str | None = None,
             limits: DataLimits | None = None, *, label_names: Sequence[str] | None = None) -> TokenDataset:
    """A CoNLL file or a token/tag CSV (by extension: .csv/.tsv are tables, anything else CoNLL)."""
    if Path(path).suffix.lower() in (".csv", ".tsv"):
        return read_token_csv(path, limits, label_names=label_names, strip_prefix=strip_prefix)
    return read_conll(path, tag_column, strip_prefix, limits, label_names=label_names)


# --------------------------------------------------------------------------------------------
# Split and summary


def split_token_dataset(ds: TokenDataset, val_fraction: float, test_fraction: float = 0.0,
                        seed: int = 42) -> tuple[TokenDataset, TokenDataset, TokenDataset | None]:
    """Random (train, validation, test or None) split of the sentences, the same for the same seed.

    Each part keeps the file's order. At least one sentence goes to validation (and to test
    when asked for) and at least one stays for training.
    """
    check_shares(val_fraction, test_fraction)
    n = len(ds)
    need = 2 + (1 if test_fraction else 0)
    if n < need:
        raise DataError(msg("msg.ner_data.too_few_sentences", count=n))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(n * val_fraction))
    n_test = max(1, round(n * test_fraction)) if test_fraction else 0
    while n_val + n_test > n - 1:
        if n_test > 1:
            n_test -= 1
        else:
            n_val -= 1
    val, test, train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    return ds.subset(sorted(train)), ds.subset(sorted(val)), ds.subset(sorted(test)) if test_fraction else None


def summarize_ner(ds: TokenDataset, tokenizer=None) -> dict:
    """What the Fine-tune tab shows before training an NER model (JSON-able).

    ``sentences``, ``tokens``, ``entities`` (type -> count, from the IOB2 spans), ``tag_counts``,
    ``scheme`` (what the file used; training uses IOB2), ``labels``, ``length_unit`` ("tokens"
    = words of the file, or "pieces" with a tokenizer: WordPiece pieces plus [CLS]/[SEP]),
    ``lengths`` (per sentence), ``length_percentiles`` (50/90/95/99/100), ``suggested_max_length``
    (95th percentile of the pieces, or words x 1.5 + 2, rounded up to 8) and ``notes``.
    """
    from training.data.data import suggest_max_length
    from training.tasks.ner_metrics import entity_spans

    entities = Counter(kind for tags in ds.tags for kind, _, _ in entity_spans(tags))
    tag_counts = Counter(t for tags in ds.tags for t in tags)
    if tokenizer is not None:
        encoded = tokenizer(ds.sentences, is_split_into_words=True, truncation=False, verbose=False,
                            return_attention_mask=False, return_token_type_ids=False) if len(ds) else {"input_ids": []}
        lengths, unit = [len(ids) for ids in encoded["input_ids"]], "pieces"
        suggested = suggest_max_length(lengths)
    else:
        lengths, unit = [len(s) for s in ds.sentences], "tokens"
        suggested = suggest_max_length([math.ceil(n * 1.5) + 2 for n in lengths])
    return {
        "sentences": len(ds),
        "tokens": sum(len(s) for s in ds.sentences),
        "entities": {t: entities.get(t, 0) for t in ds.entity_types},
        "tag_counts": {t: tag_counts.get(t, 0) for t in ds.label_names},
        "scheme": ds.scheme,
        "labels": list(ds.label_names),
        "length_unit": unit,
        "lengths": lengths,
        "length_percentiles": percentiles(lengths),
        "suggested_max_length": suggested,
        "notes": list(ds.notes),
    }


# --------------------------------------------------------------------------------------------
# The reader


class NerReader:
    """Token classification's reader (training/data/reader.py): a CoNLL file or a token/tag CSV."""

    task = "ner"

    def __init__(self, limits: DataLimits | None = None, tag_column: int = -1, strip_prefix: str | None = None):
        self.limits, self.tag_column, self.strip_prefix = limits, tag_column, strip_prefix

    def read(self, path: str | Path, label_names: Sequence[str] | None = None) -> TokenDataset:
        """The checked sentences (``load_ner``); ``label_names``: the training file's, for another file."""
        return load_ner(path, self.tag_column, self.strip_prefix, self.limits, label_names=label_names)

    def describe(self, parsed: TokenDataset, tokenizer=None, text_column: str = "",
                 label_column: str = "") -> reader.FileSummary:
        """Sentences, entities by type, tags, lengths and a preview (the columns are the file's own)."""
        s = summarize_ner(parsed, tokenizer)
        lines = [
            msg("msg.training.reader.summary.ner", sentences=f"{s['sentences']:,}", words=f"{s['tokens']:,}",
                entities=f"{sum(s['entities'].values()):,}", types=len(s["entities"]), scheme=s["scheme"]),
            reader.percentile_line(s["length_percentiles"], s["length_unit"], s["suggested_max_length"]),
            msg("msg.training.reader.tags", tags=Safe(", ".join(md_text(t) for t in s["labels"]))),
        ] + reader.notes(s["notes"])
        counts = pd.DataFrame({"name": list(s["entities"]), "count": list(s["entities"].values())})
        preview = pd.DataFrame([{"line": parsed.lines[i], "words": " ".join(parsed.sentences[i]),
                                 "tags": " ".join(parsed.tags[i])} for i in range(min(reader.PREVIEW, len(parsed)))])
        return reader.FileSummary(lines, counts, reader.histogram(s["lengths"]), preview, s["suggested_max_length"],
                                  size=len(parsed), labels=list(parsed.label_names))

    def split(self, parsed: TokenDataset, config, validation: str | Path | None = None,
              test: str | Path | None = None, text_column: str = "", label_column: str = "") -> reader.Prepared:
        """A random split of the sentences; validation and test files are read under the training tags."""
        def other(path):
            return self.read(path, parsed.label_names) if path else None

        train, val, test_ds = reader.cut(parsed, other(validation), other(test), config, split_token_dataset)
        longest = max((len(s) for s in train.sentences), default=8)
        return reader.Prepared(self.task, train, val, test_ds, len(train),
                               min(config.max_length, int(longest * 1.5) + 2))
