"""The tasks the lab fine-tunes, each described once: everything else asks this registry instead of
keeping its own dict keyed by task name (as HF ``evaluate``'s ``SUPPORTED_EVALUATOR_TASKS``).

Plain data, no torch at import: the loop's task class is named here and imported when first asked for.

A new task is: its ``TaskSpec`` below; its reader (read / describe / split, training/data/reader.py) beside
its examples type; its loop adapter and trainer in training/tasks/tasks.py; the words its spec names in
assets/i18n/{en,id,zh-TW}; its result tables, a function in training/tasks/results.py; options of its own
reader or trainer are named in its spec (and, for the CLI, a flag each); its report on the command line, a
class in training/tasks/report.py. What still differs by task in code: the hub-dataset writer
(catalog.materialize).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lab.errors import LabInputError
from lab.i18n import Message, msg


@dataclass(frozen=True)
class TaskSpec:
    """One task's facts: what it reads, how it trains, how it is judged, and the words that say it."""

    name: str  # the key the tab, the CLI (--task), the API and run records use
    title: Message  # the task's name, as the Fine-tune tab says it
    file_hint: Message  # the kinds of file it reads, as the tab says them
    reader: str  # "module:Class" of the reader (read / describe / split)
    loop_task: str  # "module:Class" of the loop's adapter (training/tasks/tasks.py)
    trainer: str  # the function in training/tasks/tasks.py that runs the loop on it
    auto_class: str  # the transformers Auto class its model loads with
    headline: str  # the validation metric the best checkpoint is chosen by, plotted and listed
    metrics: tuple[str, ...]  # the metrics a person reads first, in order
    unit: str  # what its size counts: "rows" | "sentences" | "questions" (catalog.size_choices)
    suffix: str  # the file a catalogue card is written to (catalog.materialize)
    host_suffixes: tuple[str, ...]  # files in the host's data folder (LAB_DATA_DIR) read as this task
    columns: tuple[str, str]  # a host file's (text, label) column names, before the file says better
    catalog_name: str  # message key: the task's name on a catalogue card
    names_key: str  # message key: its classes (or tags) on a catalogue card
    ui: str  # the suffix of its words in the tab's catalog: ft.task.<ui>, ft.file_hint.<ui>, ...
    tables: str = ""  # "module:function": a finished run's result as the tables the tab shows
    report: str = ""  # "module:Class": the run as the CLI reports it (training/tasks/report.py)
    # One label per text, read from a table's text and label columns: the tab offers column pickers and
    # class weights, it trains with strategy "features" too (one vector per text, a fitted head), and the
    # Transfer tab's views (probes, maps, curves) read its data and its runs.
    per_text: bool = False
    # Keyword options of its own: the reader's (NER: which CoNLL column, a token prefix) and the trainer's
    # (NER: label_all_pieces; QA: stride, max_answer_len), named as the CLI's flags and the API's parameters.
    reader_options: tuple[str, ...] = ()
    trainer_options: tuple[str, ...] = ()

    def loop_task_class(self) -> type:
        """The loop's adapter class (imports torch on first call)."""
        return _attribute(self.loop_task)

    def tables_function(self):
        """The function that turns a run's result into (scores, confusion matrix, mistakes) tables."""
        return _attribute(self.tables)

    def report_class(self) -> type:
        """The CLI's report of this task's data and finished runs (training/tasks/report.py)."""
        return _attribute(self.report)

    def reader_class(self) -> type:
        """The reader class (no torch)."""
        return _attribute(self.reader)

    def tab_key(self, kind: str) -> str:
        """The Fine-tune tab's message key of ``kind`` for this task: task, file_hint, training_data,
        metric_note or where."""
        return f"ft.{kind}.{self.ui}"


def _attribute(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec(
        name="classification", title=msg("msg.training.reader.task.classification"),
        file_hint=msg("msg.training.reader.file_hint.classification"),
        reader="training.data.data:ClassificationReader", loop_task="training.tasks.tasks:ClassificationTask",
        trainer="train_classifier", auto_class="AutoModelForSequenceClassification",
        headline="accuracy", metrics=("accuracy", "macro_f1"),
        unit="rows", suffix=".csv", host_suffixes=(".csv", ".tsv"), columns=("text", "label"),
        catalog_name="msg.training.catalog.task.classification", names_key="msg.training.catalog.classes",
        ui="classification", tables="training.tasks.results:classification_tables",
        report="training.tasks.report:ClassificationReport", per_text=True),
    TaskSpec(
        name="ner", title=msg("msg.training.reader.task.ner"), file_hint=msg("msg.training.reader.file_hint.ner"),
        reader="training.data.ner_data:NerReader", loop_task="training.tasks.tasks:TokenClassificationTask",
        trainer="train_token_classifier", auto_class="AutoModelForTokenClassification",
        headline="f1", metrics=("f1", "precision", "recall", "accuracy"),
        unit="sentences", suffix=".conll", host_suffixes=(".conll", ".iob", ".bio"), columns=("tokens", "ner_tags"),
        catalog_name="msg.training.catalog.task.ner", names_key="msg.training.catalog.tags", ui="ner",
        tables="training.tasks.results:ner_tables", report="training.tasks.report:NerReport",
        reader_options=("tag_column", "strip_prefix"),
        trainer_options=("label_all_pieces",)),
    TaskSpec(
        name="qa", title=msg("msg.training.reader.task.qa"), file_hint=msg("msg.training.reader.file_hint.qa"),
        reader="training.data.qa_data:QaReader", loop_task="training.tasks.tasks:QuestionAnsweringTask",
        trainer="train_qa", auto_class="AutoModelForQuestionAnswering",
        headline="f1", metrics=("exact_match", "f1"),
        unit="questions", suffix=".json", host_suffixes=(".json",), columns=("text", "label"),
        catalog_name="msg.training.catalog.task.qa", names_key="msg.training.catalog.classes", ui="qa",
        tables="training.tasks.results:qa_tables", report="training.tasks.report:QaReport",
        trainer_options=("stride", "max_answer_len")),
)}
NAMES: tuple[str, ...] = tuple(TASKS)


def get(task: str) -> TaskSpec:
    """The task's spec, or a ``LabInputError`` naming the tasks there are."""
    spec = TASKS.get(task)
    if spec is None:
        raise LabInputError(msg("msg.training.reader.unknown_task", task=task, tasks=", ".join(NAMES)))
    return spec


def reader(task: str, limits=None, **options):
    """A reader for ``task`` (training/data/reader.py) under the host's upload caps ``limits``
    (Settings.data_limits); ``options`` are its own (NER: tag_column, strip_prefix)."""
    return get(task).reader_class()(limits, **options)


def check_strategy(task: str, strategy: str) -> None:
    """Refuses a way of training the task has not (strategy "features" is classification's)."""
    if strategy == "features" and not get(task).per_text:
        raise LabInputError(msg("msg.training.reader.features_classification_only"))


def first_metrics(task: str, metrics: dict) -> dict:
    """The metrics a person reads first, by name, from a run's ``metrics``."""
    return {k: metrics.get(k) for k in get(task).metrics}


def for_suffix(suffix: str) -> TaskSpec | None:
    """The task a host's file with this extension holds, if any."""
    return next((spec for spec in TASKS.values() if suffix.lower() in spec.host_suffixes), None)


def headline(task: str) -> str:
    """The metric ``task`` is judged by (classification when the record predates the task key)."""
    return TASKS[task].headline
