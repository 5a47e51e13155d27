"""One fine-tuning workflow per task, the same shape for all three: summarize a file, prepare the
splits, train, and turn the result into tables a person reads.

The Fine-tune tab (and anything else with a task switch) calls these and never branches on
the task itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab.errors import LabInputError
from lab.i18n import Message, Safe, msg
from lab.lazy import lazy_import
from lab.options import QA_MAX_LENGTH
from lab.render import md_text
from lab.settings import DataLimits, Settings
from training import data as tdata
from training import ner_data, qa_data, transfer
from training.config import TrainConfig

# torch, accelerate, datasets: imported for the first training, not to lay out the Fine-tune tab.
estimate = lazy_import("training.estimate")
loop = lazy_import("training.loop")
models = lazy_import("training.models")
tasks = lazy_import("training.tasks")

# Names and hints as the tab shows them: lab.i18n Messages (English, said in the student's language by the tab).
TASKS = {"classification": msg("msg.training.workflows.task.classification"),
         "ner": msg("msg.training.workflows.task.ner"), "qa": msg("msg.training.workflows.task.qa")}
# The validation metric the best checkpoint is chosen by, per task (and plotted).
HEADLINE = {"classification": "accuracy", "ner": "f1", "qa": "f1"}
FILE_HINT = {
    "classification": msg("msg.training.workflows.file_hint.classification"),
    "ner": msg("msg.training.workflows.file_hint.ner"),
    "qa": msg("msg.training.workflows.file_hint.qa"),
}
# Units of length as the summaries say them (the data modules give them as "tokens", "words" or "pieces").
_UNITS = {"tokens": msg("msg.training.workflows.unit.tokens"), "words": msg("msg.training.workflows.unit.words"),
          "pieces": msg("msg.training.workflows.unit.pieces")}
_PREVIEW = 10


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


@dataclass
class Prepared:
    task: str
    train: object
    val: object
    test: object | None
    items: int  # what one epoch iterates over (rows, sentences, or QA windows)
    typical_length: int  # padded batch length to expect


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


# Classes shown in the data summary's chart and the result tables; with more, the rest are summed into one row (a 10,000-class
# confusion matrix is 100 million cells and never reaches the browser).
TABLE_CLASSES = 20


def _top_counts(counts: dict[str, int], n: int = TABLE_CLASSES) -> pd.DataFrame:
    """The class histogram's bars: the ``n`` largest classes, the rest as one bar, whatever the file holds."""
    top = sorted(counts.items(), key=lambda item: -item[1])
    rest = top[n:]
    top = top[:n] + ([(_other_classes(len(rest)), sum(c for _, c in rest))] if rest else [])
    return pd.DataFrame({"name": [name for name, _ in top], "count": [c for _, c in top]})


def _other_classes(n: int) -> Message:
    return msg("msg.training.workflows.other_classes", n=f"{n:,}")


def _unit(unit: str) -> str:
    return _UNITS.get(unit, unit) if not isinstance(unit, Message) else unit


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


def _md(value: object) -> str:
    """``value`` for a Markdown paragraph, user text escaped (lab.render.md_text); a Message stays one."""
    return _Escaped(value) if isinstance(value, Message) else md_text(value)


def _percentile_line(p: dict, unit: str, suggested: int) -> Message:
    return msg("msg.training.workflows.percentiles", unit=_unit(unit), median=p[50], p95=p[95], longest=p[100],
               suggested=suggested)


def summarize_file(task: str, path: str, text_column: str = "", label_column: str = "",
                   tokenizer=None, limits: DataLimits | None = None) -> FileSummary:
    """Read ``path`` as ``task``'s data and describe it; raises DataError for what would stop training.
    ``limits``: the host's upload caps (Settings.data_limits)."""
    if task == "classification":
        df = tdata.read_table(path, limits)
        guessed_text, guessed_label = tdata.guess_columns(df)
        text_column = text_column if text_column in df.columns else guessed_text
        label_column = label_column if label_column in df.columns else guessed_label
        s = tdata.summarize(df, text_column, label_column, tokenizer, limits)
        lines = [
            msg("msg.training.workflows.summary.classification", rows=f"{s.rows:,}", classes=len(s.class_counts),
                text_column=md_text(text_column), label_column=md_text(label_column)),
            msg("msg.training.workflows.cut_share",
                line=_percentile_line(s.percentiles(), s.length_unit, s.suggested_max_length),
                share=f"{s.truncated_share(s.suggested_max_length):.0%}"),
            msg("msg.training.workflows.label_mapping",
                mapping=Safe(", ".join(f"{md_text(name)} → {i}" for name, i in s.label_mapping.items()))),
        ]
        lines += [msg("msg.training.workflows.note", note=_md(n)) for n in s.notes]
        lines += [msg("msg.training.workflows.problem", problem=_md(n)) for n in s.problems]
        counts = _top_counts(s.class_counts)
        return FileSummary(lines, counts, histogram(s.token_lengths), s.preview, s.suggested_max_length,
                           list(s.columns), text_column, label_column)
    if task == "ner":
        ds = ner_data.load_ner(path, limits=limits)
        s = ner_data.summarize_ner(ds, tokenizer)
        lines = [
            msg("msg.training.workflows.summary.ner", sentences=f"{s['sentences']:,}", words=f"{s['tokens']:,}",
                entities=f"{sum(s['entities'].values()):,}", types=len(s["entities"]), scheme=s["scheme"]),
            _percentile_line(s["length_percentiles"], s["length_unit"], s["suggested_max_length"]),
            msg("msg.training.workflows.tags", tags=Safe(", ".join(md_text(t) for t in s["labels"]))),
        ] + [msg("msg.training.workflows.note", note=_md(n)) for n in s["notes"]]
        counts = pd.DataFrame({"name": list(s["entities"]), "count": list(s["entities"].values())})
        preview = pd.DataFrame([{"line": ds.lines[i], "words": " ".join(ds.sentences[i]),
                                 "tags": " ".join(ds.tags[i])} for i in range(min(_PREVIEW, len(ds)))])
        return FileSummary(lines, counts, histogram(s["lengths"]), preview, s["suggested_max_length"])
    if task == "qa":
        examples = qa_data.load_qa(path, limits)
        s = qa_data.summarize_qa(examples, tokenizer)
        questions = dict(questions=f"{s['questions']:,}", contexts=f"{s['contexts']:,}")
        lengths = dict(answer=qa_data._percentiles(s["answer_lengths"])[50],
                       context=qa_data._percentiles(s["context_lengths"])[50], unit=_unit(s["length_unit"]))
        lines = [
            msg("msg.training.workflows.summary.qa_articles", **questions, articles=s["articles"]) if s["articles"]
            else msg("msg.training.workflows.summary.qa", **questions),
            msg("msg.training.workflows.qa_lengths_windows", **lengths, windows=s["contexts_over_max_length"])
            if "contexts_over_max_length" in s else msg("msg.training.workflows.qa_lengths", **lengths),
        ]
        counts = histogram(s["answer_lengths"], bins=10).rename(columns={"length": "name", "texts": "count"})
        preview = pd.DataFrame([{"question": e.question, "answer": e.answers[0]["text"],
                                 "context": e.context[:200] + ("…" if len(e.context) > 200 else "")}
                                for e in examples[:_PREVIEW]])
        return FileSummary(lines, counts, histogram(s["context_lengths"]), preview, QA_MAX_LENGTH)
    raise tdata.DataError(msg("msg.training.workflows.unknown_task", task=task, tasks=", ".join(TASKS)))


def prepare(task: str, path: str, config: TrainConfig, text_column: str = "", label_column: str = "",
            validation_path: str | None = None, limits: DataLimits | None = None) -> Prepared:
    """Load, check and split the data (stratified for classification, by context for QA) under the
    host's upload caps ``limits`` (Settings.data_limits)."""
    if config.strategy == "features" and task != "classification":
        raise LabInputError(msg("msg.training.workflows.features_classification_only"))
    if task == "classification":
        train, summary = tdata.load_for_training(path, text_column or None, label_column or None, limits)
        test = None
        if validation_path:
            val, _ = tdata.load_for_training(validation_path, summary.text_column, summary.label_column, limits,
                                             label_names=train.label_names)
            if config.test_fraction > 0:
                train, test, _ = tdata.split_dataset(train, config.test_fraction, 0.0, config.seed)
        else:
            train, val, test = tdata.split_dataset(train, config.val_fraction, config.test_fraction, config.seed)
        return Prepared(task, train, val, test, len(train), summary.suggested_max_length)
    if task == "ner":
        ds = ner_data.load_ner(path, limits=limits)
        if validation_path:
            val, test = ner_data.load_ner(validation_path, limits=limits, label_names=ds.label_names), None
            train = ds
        else:
            train, val, test = ner_data.split_token_dataset(ds, config.val_fraction, config.test_fraction, config.seed)
        longest = max((len(s) for s in train.sentences), default=8)
        return Prepared(task, train, val, test, len(train), min(config.max_length, int(longest * 1.5) + 2))
    if task == "qa":
        examples = qa_data.load_qa(path, limits)
        if validation_path:
            train, val, test = examples, qa_data.load_qa(validation_path, limits), None
        else:
            train, val, test = qa_data.split_by_context(examples, config.val_fraction, config.seed,
                                                        config.test_fraction)
        # Every QA window is filled to max_length (context is long): roughly one window per question.
        return Prepared(task, train, val, test, len(train), config.max_length)
    raise tdata.DataError(msg("msg.training.workflows.unknown_task", task=task, tasks=", ".join(TASKS)))


def train(prepared: Prepared, config: TrainConfig, output_dir: Path, on_event: Callable | None = None,
          should_stop: Callable[[], bool] | None = None, settings: Settings | None = None,
          hub_online: bool | None = None, label_all_pieces: bool = False) -> loop.TrainResult:
    """Run the task's training function (all share the same accelerate loop).

    ``label_all_pieces`` (NER only): every sub-word piece learns its word's tag, instead of the
    first piece alone (the others -100).
    """
    common = dict(test=prepared.test, on_event=on_event, should_stop=should_stop, settings=settings,
                  hub_online=hub_online)
    if prepared.task == "ner":
        return tasks.train_token_classifier(config, prepared.train, prepared.val, output_dir, **common,
                                            label_all_pieces=label_all_pieces)
    if prepared.task == "classification" and config.strategy == "features":
        from training.feature_head import RunStopped, train_feature_head

        transfer.save_run_data(output_dir, prepared.train, prepared.val)
        try:
            return train_feature_head(config, prepared.train, prepared.val, output_dir, prepared.test, on_event,
                                      should_stop, settings, hub_online)
        except RunStopped:
            shutil.rmtree(output_dir, ignore_errors=True)  # a run with no model leaves nothing behind
            raise
    if prepared.task == "classification":
        # the Transfer tab shows this run on the rows it was validated on
        transfer.save_run_data(output_dir, prepared.train, prepared.val)
        return tasks.train_classifier(config, prepared.train, prepared.val, output_dir, **common)
    return tasks.train_qa(config, prepared.train, prepared.val, output_dir, **common)


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def _most_supported(matrix: list[list[int]], n: int) -> list[int]:
    """Indices of the ``n`` classes with the most validation examples (rows of the confusion matrix), in order."""
    if len(matrix) <= n:
        return list(range(len(matrix)))
    return sorted(sorted(range(len(matrix)), key=lambda i: -sum(matrix[i]))[:n])


def check_memory(data: Prepared, config: TrainConfig, settings: Settings, hub_online: bool) -> int:
    """The run's estimated peak memory (bytes, training/estimate.py), refused with the reason and what
    to change when it is over the host's budget (LAB_MAX_TRAIN_MEMORY_MB); checked before any work."""
    from transformers import AutoConfig

    source, _ = models.resolve_base_model(config, settings, hub_online)
    model_config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    classes = len(getattr(data.train, "label_names", None) or []) or 2
    trainable, _ = models.count_parameters(config, classes, settings, hub_online, task=data.task)
    # A batch is padded to its longest text, and length-grouped batches put the longest together:
    # the largest step is batch_size texts of max_length tokens.
    need = estimate.training_bytes(model_config, config.batch_size, config.max_length, trainable)
    budget = settings.max_train_memory_mb * 2**20
    if need > budget:
        raise LabInputError(msg("msg.training.workflows.too_much_memory", need=f"{need / 2**30:.1f}",
                                batch_size=config.batch_size, max_length=config.max_length,
                                budget=f"{budget / 2**30:.1f}"))
    return need


def result_tables(task: str, result: loop.TrainResult) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per class/type/article scores, confusion matrix, mistakes) of the kept checkpoint on validation."""
    report = result.val_report
    if task == "qa":
        per = pd.DataFrame([{"article": k, **_rounded(v)} for k, v in report["per_article"].items()])
        mistakes = pd.DataFrame([{k: m[k] for k in ("question", "true", "predicted", "f1", "score")}
                                 for m in result.misclassified])
        return per, pd.DataFrame(), mistakes
    per_key, labels_key = ("per_class", "labels") if task == "classification" else ("per_type", "confusion_labels")
    first = "class" if task == "classification" else "type"
    per = pd.DataFrame([{first: k, **_rounded(v)} for k, v in report[per_key].items()])
    labels, matrix = report[labels_key], report["confusion"]
    shown = _most_supported(matrix, TABLE_CLASSES)
    if len(shown) < len(labels):  # the rest of the classes summed into one row and column
        rest = [i for i in range(len(labels)) if i not in set(shown)]
        rows = [[matrix[i][j] for j in shown] + [sum(matrix[i][j] for j in rest)] for i in shown]
        rows.append([sum(matrix[i][j] for i in rest) for j in shown] + [sum(matrix[i][j] for i in rest for j in rest)])
        names = [labels[i] for i in shown] + [_other_classes(len(rest))]
        per = per[per[first].isin(names)].reset_index(drop=True)
    else:
        rows, names = matrix, labels
    confusion = pd.DataFrame(rows, columns=[f"→ {lab}" for lab in names])
    confusion.insert(0, "true \\ predicted", names)
    if task == "classification":
        mistakes = pd.DataFrame(result.misclassified)
    else:
        mistakes = pd.DataFrame([{"line": m["line"], "text": m["text"], "wrong words": m["wrong_words"],
                                  "true": " ".join(m["true"]), "predicted": " ".join(m["predicted"])}
                                 for m in result.misclassified])
    return per, confusion, mistakes


def headline(task: str, result: loop.TrainResult) -> dict:
    """The metrics a person reads first, by name."""
    best = result.best_metrics
    keys = {"classification": ("accuracy", "macro_f1"), "ner": ("f1", "precision", "recall", "accuracy"),
            "qa": ("exact_match", "f1")}[task]
    return {k: best.get(k) for k in keys}
