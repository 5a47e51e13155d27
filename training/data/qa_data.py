"""Extractive-QA data: SQuAD v1.1 JSON or a CSV of (context, question, answer_text, answer_start).

Every answer is checked against its context: ``context[answer_start:answer_start + len(text)]``
must be the answer's text, or the model would learn to point at the wrong words. Bad answers
are reported all at once (how many, which ids or lines, and what the offset points at
instead, with where the text does occur). Validation splits keep every question about a
context (or an article, when the file has enough of them) on one side, so the model is never
scored on a paragraph it trained on.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab.i18n import Message, msg
from lab.options import QA_MAX_LENGTH, QA_STRIDE
from training.data import reader
from training.data.data import (
    DataError,
    DataLimits,
    and_more,
    check_shares,
    listing,
    open_upload,
    percentiles,
    read_table,
)

_MAX_SHOWN = 8
SQUAD_SHAPE = ('{"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [{"id": ..., "question": ..., '
               '"answers": [{"text": ..., "answer_start": ...}]}]}]}]}')
CSV_COLUMNS = ("context", "question", "answer_text", "answer_start")
MIN_ARTICLES_TO_SPLIT_BY = 5  # fewer articles than this: split by context (else validation is lumpy)


@dataclass
class QAExample:
    """One question about one context, with its gold answer(s) (SQuAD dev sets have several)."""

    id: str
    title: str
    context: str
    question: str
    answers: list[dict]  # [{"text": str, "answer_start": int}], each checked against the context
    line: int | None = None  # the CSV line it came from


def _shorten(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _answer_problem(context: str, text: str, start, where: Message) -> Message | None:
    """None when ``start`` points at ``text`` in ``context``, else what is wrong there."""
    if not isinstance(text, str) or not text.strip():
        return msg("msg.qa_data.answer_empty", where=where)
    if isinstance(start, bool) or not isinstance(start, int):
        return msg("msg.qa_data.start_not_int", where=where, start=repr(start))
    found = context[start:start + len(text)] if 0 <= start < len(context) else None
    if found == text:
        return None
    at = context.find(text)
    answer = repr(_shorten(text))
    elsewhere = (msg("msg.qa_data.occurs_at", answer=answer, at=at) if at >= 0 else
                 msg("msg.qa_data.not_in_context", answer=answer))
    if found is None:
        return msg("msg.qa_data.start_outside", where=where, start=start, length=len(context), elsewhere=elsewhere)
    return msg("msg.qa_data.start_mismatch", where=where, start=start, found=repr(_shorten(found)), answer=answer,
               elsewhere=elsewhere)


def _tidy(answer: dict) -> dict:
    """Leading/trailing spaces of an answer moved out of it (they would pull in a neighbouring token)."""
    text, start = answer["text"], answer["answer_start"]
    lead = len(text) - len(text.lstrip())
    return {"text": text.strip(), "answer_start": start + lead}


def _finish(examples: list[QAExample], problems: list[Message], total_answers: int, name: str,
            structure: list[Message]) -> list[QAExample]:
    if structure:
        raise DataError(msg("msg.qa_data.structure", name=name,
                            problems=listing(structure[:_MAX_SHOWN], "msg.data.list.semicolon"),
                            more=and_more(len(structure), _MAX_SHOWN)))
    if problems:
        raise DataError(msg("msg.qa_data.mismatches", name=name, count=f"{len(problems):,}",
                            total=f"{total_answers:,}",
                            problems=listing(problems[:_MAX_SHOWN], "msg.data.list.semicolon"),
                            more=and_more(len(problems), _MAX_SHOWN)))
    if not examples:
        raise DataError(msg("msg.qa_data.no_questions", name=name, shape=SQUAD_SHAPE))
    seen: dict[str, int] = {}
    for e in examples:
        seen[e.id] = seen.get(e.id, 0) + 1
    duplicated = [i for i, n in seen.items() if n > 1]
    if duplicated:
        raise DataError(msg("msg.qa_data.duplicate_ids", name=name, ids=", ".join(map(repr, duplicated[:_MAX_SHOWN]))))
    return examples


def read_squad(path: str | Path, limits: DataLimits | None = None) -> list[QAExample]:
    """The questions of a SQuAD v1.1 JSON file, each answer checked (raises ``DataError``)."""
    path = Path(path)
    limits = limits or DataLimits()
    name = path.name
    text = open_upload(path, limits)[0]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(msg("msg.qa_data.bad_json", name=name, line=exc.lineno, column=exc.colno, error=exc.msg,
                            shape=SQUAD_SHAPE)) from None
    except RecursionError:  # the parser gives up at Python's recursion limit, before any other work
        raise DataError(msg("msg.qa_data.too_deep", name=name, shape=SQUAD_SHAPE)) from None
    articles = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(articles, list):
        raise DataError(msg("msg.qa_data.no_data_list", name=name, shape=SQUAD_SHAPE))
    examples, problems, structure = [], [], []
    total_answers = 0
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            structure.append(msg("msg.qa_data.no_paragraphs", article=a))
            continue
        title = str(article.get("title") or "")
        for p, paragraph in enumerate(paragraphs):
            where = (msg("msg.qa_data.where.paragraph_titled", article=a, title=repr(title), paragraph=p) if title
                     else msg("msg.qa_data.where.paragraph", article=a, paragraph=p))
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip() or not isinstance(qas, list):
                structure.append(msg("msg.qa_data.no_context", where=where))
                continue
            for q, qa in enumerate(qas):
                if not isinstance(qa, dict):
                    structure.append(msg("msg.qa_data.not_object", where=where, number=q))
                    continue
                qid = str(qa.get("id", f"{a}-{p}-{q}"))
                question, answers = qa.get("question"), qa.get("answers")
                if not isinstance(question, str) or not question.strip():
                    structure.append(msg("msg.qa_data.no_question_text", id=repr(qid), where=where))
                    continue
                if qa.get("is_impossible") or not answers:
                    structure.append(msg("msg.qa_data.no_answer", id=repr(qid)))
                    continue
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    structure.append(msg("msg.qa_data.bad_answers", id=repr(qid)))
                    continue
                bad = False
                for x in answers:
                    total_answers += 1
                    problem = _answer_problem(context, x.get("text"), x.get("answer_start"),
                                              msg("msg.qa_data.where.question", id=repr(qid)))
                    if problem:
                        problems.append(problem)
                        bad = True
                if not bad:
                    examples.append(QAExample(qid, title, context, question.strip(), [_tidy(x) for x in answers]))
    return _finish(examples, problems, total_answers, name, structure)


def read_qa_csv(path: str | Path, limits: DataLimits | None = None) -> list[QAExample]:
    """Questions from a CSV/TSV with columns context, question, answer_text, answer_start (and
    optionally id, title); one answer per row (raises ``DataError``)."""
    df = read_table(path, limits)
    name = df.attrs["source"]
    columns = {str(c).strip().lower(): str(c) for c in df.columns}
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise DataError(msg("msg.qa_data.needs_columns", name=name, wanted=", ".join(CSV_COLUMNS),
                            missing=", ".join(missing), columns=", ".join(map(repr, df.columns))))
    lines = list(df.attrs["lines"])
    get = {c: df[columns[c]].tolist() for c in CSV_COLUMNS}
    ids = df[columns["id"]].tolist() if "id" in columns else [None] * len(df)
    titles = df[columns["title"]].tolist() if "title" in columns else [""] * len(df)
    examples, problems, structure = [], [], []
    for i, line in enumerate(lines):
        context, question = get["context"][i] or "", get["question"][i] or ""
        text, start = get["answer_text"][i] or "", (get["answer_start"][i] or "").strip()
        qid = str(ids[i]) if ids[i] else f"line-{line}"
        where = (msg("msg.qa_data.where.line_id", line=f"{line:,}", id=repr(ids[i])) if ids[i] else
                 msg("msg.data.where.line", n=f"{line:,}"))
        if not context.strip():
            structure.append(msg("msg.qa_data.empty_context", where=where))
            continue
        if not question.strip():
            structure.append(msg("msg.qa_data.empty_question", where=where))
            continue
        try:
            start_value = int(float(start)) if start and float(start).is_integer() else start
        except ValueError:
            start_value = start
        problem = _answer_problem(context, text, start_value, where)
        if problem:
            problems.append(problem)
            continue
        examples.append(QAExample(qid, str(titles[i] or ""), context, question.strip(),
                                  [_tidy({"text": text, "answer_start": start_value})], line))
    return _finish(examples, problems, len(lines), name, structure)


def load_qa(path: str | Path, limits: DataLimits | None = None) -> list[QAExample]:
    """A SQuAD JSON file (.json) or a QA CSV/TSV (anything else), checked."""
    if Path(path).suffix.lower() == ".json":
        return read_squad(path, limits)
    return read_qa_csv(path, limits)


def split_by_context(examples: Sequence[QAExample], val_fraction: float, seed: int = 42,
                     test_fraction: float = 0.0) -> tuple[list[QAExample], list[QAExample], list[QAExample] | None]:
    """(train, validation, test or None) with no context (or article) on two sides.

    Questions are grouped by article title when the file has at least 5 titled articles,
    otherwise by context; groups are shuffled (by ``seed``) and handed to validation (then test)
    while that brings each closer to its share of the questions. Each part keeps the file's order.
    """
    check_shares(val_fraction, test_fraction)
    titles = {e.title for e in examples if e.title}
    by_article = len(titles) >= MIN_ARTICLES_TO_SPLIT_BY and all(e.title for e in examples)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.title if by_article else e.context, []).append(i)
    needed = 2 + (1 if test_fraction else 0)
    if len(groups) < needed:
        values = dict(count=len(examples), groups=len(groups), needed=needed)
        if by_article:
            raise DataError(msg("msg.qa_data.too_few_articles", **values))
        raise DataError(msg("msg.qa_data.too_few_contexts", **values))
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    n = len(examples)
    parts: list[list[int]] = [[], []]  # validation, test
    targets = [max(1, math.floor(n * val_fraction + 0.5)), max(1, math.floor(n * test_fraction + 0.5)) if test_fraction else 0]
    k = 0
    for part, target in enumerate(targets):
        keep = 1 + (1 if part == 0 and test_fraction else 0)  # groups left for training (and test)
        # Add whole groups while that brings the part closer to its share (always at least one).
        while target and k < len(keys) - keep and (
                not parts[part] or abs(len(parts[part]) + len(groups[keys[k]]) - target) <= abs(len(parts[part]) - target)):
            parts[part] += groups[keys[k]]
            k += 1
    train = sorted(i for key in keys[k:] for i in groups[key])
    val, test = sorted(parts[0]), sorted(parts[1])
    pick = [examples[i] for i in train], [examples[i] for i in val], [examples[i] for i in test]
    return pick[0], pick[1], pick[2] if test_fraction else None


def summarize_qa(examples: Sequence[QAExample], tokenizer=None, max_length: int = QA_MAX_LENGTH,
                stride: int = QA_STRIDE) -> dict:
    """What the Fine-tune tab shows before training a QA model (JSON-able).

    ``questions``, ``contexts`` (distinct), ``articles`` (distinct titles), ``answers_per_question``
    (mean), ``answer_lengths`` (words of the first answer) and their percentiles, ``context_lengths``
    (per distinct context, in words, or in pieces with a tokenizer), and with a tokenizer:
    ``contexts_over_max_length`` (contexts that don't fit one window of ``max_length`` next to
    their longest question) and ``windows`` (windows the training set becomes, ``windows_per_question``).
    """
    contexts = list(dict.fromkeys(e.context for e in examples))
    answer_lengths = [len(e.answers[0]["text"].split()) for e in examples]
    summary = {
        "questions": len(examples),
        "contexts": len(contexts),
        "articles": len({e.title for e in examples if e.title}),
        "answers_per_question": sum(len(e.answers) for e in examples) / len(examples) if examples else 0.0,
        "answer_lengths": answer_lengths,
        "answer_length_percentiles": percentiles(answer_lengths),
        "length_unit": "words",
        "context_lengths": [len(c.split()) for c in contexts],
    }
    if tokenizer is not None:
        pieces = {c: len(ids) for c, ids in zip(contexts, tokenizer(contexts, add_special_tokens=False, verbose=False,
                                                                    return_attention_mask=False)["input_ids"])}
        questions = tokenizer([e.question for e in examples], add_special_tokens=False,
                              return_attention_mask=False)["input_ids"] if examples else []
        special = tokenizer.num_special_tokens_to_add(pair=True)
        longest: dict[str, int] = {}
        windows = 0
        for e, q in zip(examples, questions):
            longest[e.context] = max(longest.get(e.context, 0), len(q))
            room = max(1, max_length - len(q) - special)
            step = max(1, room - stride)
            windows += 1 + max(0, math.ceil((pieces[e.context] - room) / step))
        summary.update(
            length_unit="pieces",
            context_lengths=[pieces[c] for c in contexts],
            contexts_over_max_length=sum(pieces[c] + longest[c] + special > max_length for c in contexts),
            windows=windows,
            windows_per_question=windows / len(examples) if examples else 0.0,
        )
    summary["context_length_percentiles"] = percentiles(summary["context_lengths"])
    return summary


# --------------------------------------------------------------------------------------------
# The reader


class QaReader:
    """Extractive QA's reader (training/data/reader.py): SQuAD JSON or a CSV of contexts, questions and answers."""

    task = "qa"

    def __init__(self, limits: DataLimits | None = None):
        self.limits = limits

    def read(self, path: str | Path) -> list[QAExample]:
        """The questions, every answer checked against its context (``load_qa``)."""
        return load_qa(path, self.limits)

    def describe(self, parsed: list[QAExample], tokenizer=None, text_column: str = "",
                 label_column: str = "") -> reader.FileSummary:
        """Questions, contexts, answer and context lengths, the windows long contexts become, a preview."""
        s = summarize_qa(parsed, tokenizer)
        questions = dict(questions=f"{s['questions']:,}", contexts=f"{s['contexts']:,}")
        lengths = dict(answer=s["answer_length_percentiles"][50], context=s["context_length_percentiles"][50],
                       unit=reader.unit(s["length_unit"]))
        lines = [
            msg("msg.training.reader.summary.qa_articles", **questions, articles=s["articles"]) if s["articles"]
            else msg("msg.training.reader.summary.qa", **questions),
            msg("msg.training.reader.qa_lengths_windows", **lengths, windows=s["contexts_over_max_length"])
            if "contexts_over_max_length" in s else msg("msg.training.reader.qa_lengths", **lengths),
        ]
        counts = reader.histogram(s["answer_lengths"], bins=10).rename(columns={"length": "name", "texts": "count"})
        preview = pd.DataFrame([{"question": e.question, "answer": e.answers[0]["text"],
                                 "context": e.context[:200] + ("…" if len(e.context) > 200 else "")}
                                for e in parsed[:reader.PREVIEW]])
        return reader.FileSummary(lines, counts, reader.histogram(s["context_lengths"]), preview, QA_MAX_LENGTH,
                                  size=len(parsed))

    def split(self, parsed: list[QAExample], config, validation: str | Path | None = None,
              test: str | Path | None = None, text_column: str = "", label_column: str = "") -> reader.Prepared:
        """No context (or article) on two sides; validation and test files as they are."""
        def by_context(examples, val_fraction, test_fraction, seed):
            return split_by_context(examples, val_fraction, seed, test_fraction)

        train, val, test_ds = reader.cut(parsed, self.read(validation) if validation else None,
                                         self.read(test) if test else None, config, by_context)
        # Every QA window is filled to max_length (context is long): roughly one window per question.
        return reader.Prepared(self.task, train, val, test_ds, len(train), config.max_length)
