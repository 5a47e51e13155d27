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

from training.data import DataError, DataLimits, _decode, read_table

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


def _answer_problem(context: str, text: str, start, where: str) -> str | None:
    """None when ``start`` points at ``text`` in ``context``, else what is wrong there."""
    if not isinstance(text, str) or not text.strip():
        return f"{where}: the answer text is empty"
    if isinstance(start, bool) or not isinstance(start, int):
        return f"{where}: answer_start {start!r} is not a whole number"
    found = context[start:start + len(text)] if 0 <= start < len(context) else None
    if found == text:
        return None
    at = context.find(text)
    elsewhere = f"; {_shorten(text)!r} occurs at {at}" if at >= 0 else f"; {_shorten(text)!r} is not in the context"
    if found is None:
        return f"{where}: answer_start {start} is outside the context ({len(context)} characters){elsewhere}"
    return f"{where}: answer_start {start} points at {_shorten(found)!r}, not {_shorten(text)!r}{elsewhere}"


def _tidy(answer: dict) -> dict:
    """Leading/trailing spaces of an answer moved out of it (they would pull in a neighbouring token)."""
    text, start = answer["text"], answer["answer_start"]
    lead = len(text) - len(text.lstrip())
    return {"text": text.strip(), "answer_start": start + lead}


def _finish(examples: list[QAExample], problems: list[str], total_answers: int, name: str,
            structure: list[str]) -> list[QAExample]:
    if structure:
        more = f" and {len(structure) - _MAX_SHOWN} more" if len(structure) > _MAX_SHOWN else ""
        raise DataError(f"{name}: " + "; ".join(structure[:_MAX_SHOWN]) + more + ".")
    if problems:
        more = f" and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
        raise DataError(f"{name}: {len(problems):,} of {total_answers:,} answers don't match their context: "
                        + "; ".join(problems[:_MAX_SHOWN]) + more + ". answer_start is the character offset of "
                        "the answer in the context, counting from 0.")
    if not examples:
        raise DataError(f"{name} holds no questions. It needs {SQUAD_SHAPE}.")
    seen: dict[str, int] = {}
    for e in examples:
        seen[e.id] = seen.get(e.id, 0) + 1
    duplicated = [i for i, n in seen.items() if n > 1]
    if duplicated:
        raise DataError(f"{name}: question id(s) used more than once: {', '.join(map(repr, duplicated[:_MAX_SHOWN]))}. "
                        "Give every question its own id.")
    return examples


def read_squad(path: str | Path, limits: DataLimits | None = None) -> list[QAExample]:
    """The questions of a SQuAD v1.1 JSON file, each answer checked (raises ``DataError``)."""
    path = Path(path)
    limits = limits or DataLimits.from_env()
    name = path.name
    if not path.is_file():
        raise DataError(f"{name}: no such file. Upload the file again.")
    if path.stat().st_size > limits.max_bytes:
        raise DataError(f"{name} is {path.stat().st_size / 2**20:.1f} MB; the cap is {limits.max_bytes / 2**20:g} MB "
                        "(LAB_MAX_UPLOAD_MB). Upload fewer articles.")
    text = _decode(path.read_bytes(), name, [])[0]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                        f"A SQuAD file looks like {SQUAD_SHAPE}.") from None
    except RecursionError:  # the parser gives up at Python's recursion limit, before any other work
        raise DataError(f"{name} nests lists or objects thousands of levels deep, which no dataset does (a SQuAD "
                        f"file is 7 levels deep: {SQUAD_SHAPE}). Upload the SQuAD file itself.") from None
    articles = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(articles, list):
        raise DataError(f"{name} has no top-level \"data\" list. A SQuAD v1.1 file looks like {SQUAD_SHAPE}.")
    examples, problems, structure = [], [], []
    total_answers = 0
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            structure.append(f"article {a} has no \"paragraphs\" list")
            continue
        title = str(article.get("title") or "")
        for p, paragraph in enumerate(paragraphs):
            where = f"article {a} ({title!r}) paragraph {p}" if title else f"article {a} paragraph {p}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip() or not isinstance(qas, list):
                structure.append(f"{where} needs a non-empty \"context\" and a \"qas\" list")
                continue
            for q, qa in enumerate(qas):
                if not isinstance(qa, dict):
                    structure.append(f"{where} question {q} is not an object")
                    continue
                qid = str(qa.get("id", f"{a}-{p}-{q}"))
                question, answers = qa.get("question"), qa.get("answers")
                if not isinstance(question, str) or not question.strip():
                    structure.append(f"question {qid!r} ({where}) has no question text")
                    continue
                if qa.get("is_impossible") or not answers:
                    structure.append(f"question {qid!r} has no answer (SQuAD 2.0's unanswerable questions "
                                     "aren't supported: remove them)")
                    continue
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    structure.append(f"question {qid!r}: \"answers\" must be a list of {{\"text\", \"answer_start\"}}")
                    continue
                bad = False
                for x in answers:
                    total_answers += 1
                    problem = _answer_problem(context, x.get("text"), x.get("answer_start"), f"question {qid!r}")
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
        raise DataError(f"{name} needs the columns {', '.join(CSV_COLUMNS)}; {', '.join(missing)} missing (its columns "
                        f"are {', '.join(map(repr, df.columns))}).")
    lines = list(df.attrs["lines"])
    get = {c: df[columns[c]].tolist() for c in CSV_COLUMNS}
    ids = df[columns["id"]].tolist() if "id" in columns else [None] * len(df)
    titles = df[columns["title"]].tolist() if "title" in columns else [""] * len(df)
    examples, problems, structure = [], [], []
    for i, line in enumerate(lines):
        context, question = get["context"][i] or "", get["question"][i] or ""
        text, start = get["answer_text"][i] or "", (get["answer_start"][i] or "").strip()
        qid = str(ids[i]) if ids[i] else f"line-{line}"
        where = f"line {line:,}" + (f" (id {ids[i]!r})" if ids[i] else "")
        if not context.strip() or not question.strip():
            structure.append(f"{where}: the {'context' if not context.strip() else 'question'} is empty")
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
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(f"The validation share ({val_fraction:g}) and test share ({test_fraction:g}) must each be "
                        "between 0 and 1 and leave some data for training. Lower them.")
    titles = {e.title for e in examples if e.title}
    by_article = len(titles) >= MIN_ARTICLES_TO_SPLIT_BY and all(e.title for e in examples)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.title if by_article else e.context, []).append(i)
    needed = 2 + (1 if test_fraction else 0)
    if len(groups) < needed:
        unit = "article" if by_article else "context"
        raise DataError(f"All {len(examples)} question(s) are about {len(groups)} {unit}(s): a validation set needs "
                        f"questions about a context the model doesn't train on. Add contexts (at least {needed}) or "
                        "give a separate validation file.")
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


def _percentiles(values: Sequence[int], qs=(50, 90, 95, 99, 100)) -> dict[int, int]:
    ordered = sorted(values)
    if not ordered:
        return {q: 0 for q in qs}
    return {q: ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] for q in qs}


def summarize_qa(examples: Sequence[QAExample], tokenizer=None, max_length: int = 384, stride: int = 128) -> dict:
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
        "answer_length_percentiles": _percentiles(answer_lengths),
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
    summary["context_length_percentiles"] = _percentiles(summary["context_lengths"])
    return summary
