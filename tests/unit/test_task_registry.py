"""The task registry: every task's facts in one place, and everything that lists tasks asks it."""

import importlib

import pytest

from lab import i18n
from lab.errors import LabInputError
from training.data import catalog
from training.tasks import registry


def test_every_task_names_what_exists():
    """Each spec's reader, loop task, trainer, model class and message keys exist."""
    import transformers

    from training.tasks import tasks

    for spec in registry.TASKS.values():
        module, name = spec.loop_task.split(":")
        assert spec.loop_task_class() is getattr(importlib.import_module(module), name)
        assert callable(getattr(tasks, spec.trainer))
        assert spec.loop_task_class().auto_class is getattr(transformers, spec.auto_class)
        for language in i18n.LANGUAGES:
            words = i18n.catalog(language)
            for kind in ("task", "file_hint", "training_data", "metric_note", "where"):
                assert spec.tab_key(kind) in words, (language, spec.tab_key(kind))
            assert spec.catalog_name in words and spec.names_key in words
        assert spec.headline in spec.metrics and callable(spec.tables_function())
        report = spec.report_class()
        assert isinstance(report.unit, str) and len(report.test_count) == 2
        assert all(callable(getattr(report, m)) for m in ("data", "details"))
        reader = registry.reader(spec.name)
        assert reader.task == spec.name and all(callable(getattr(reader, m)) for m in ("read", "describe", "split"))


def test_unknown_task_is_refused_with_the_list():
    with pytest.raises(LabInputError, match="classification, ner, qa"):
        registry.get("summarization")


def test_host_files_and_catalogue_follow_the_registry(tmp_path):
    """A host folder's files are read as the task their extension says; a card's unit is the registry's."""
    (tmp_path / "a.tsv").write_text("text\tlabel\ngood\tpos\nbad\tneg\nfine\tpos\nawful\tneg\n")
    (tmp_path / "b.iob").write_text("Ann B-PER\nruns O\n\nBob B-PER\nsleeps O\n")
    (tmp_path / "c.txt").write_text("not a dataset")
    cards = {c.name: c for c in catalog.host_cards(tmp_path)}
    assert {n: c.task for n, c in cards.items()} == {"host:a.tsv": "classification", "host:b.iob": "ner"}
    assert cards["host:b.iob"].unit == registry.TASKS["ner"].unit == "sentences"
    assert cards["host:b.iob"].text_column == "tokens"


def test_the_cli_offers_the_registry_tasks():
    from training.__main__ import build_parser

    action = next(a for a in build_parser()._actions if a.dest == "task")
    assert tuple(action.choices) == registry.NAMES


def test_a_tasks_own_options_are_its_readers_and_trainers_parameters_and_cli_flags():
    """What a spec names in reader_options / trainer_options is a parameter of its reader and trainer, and
    a flag of the CLI (which passes each by that name)."""
    import inspect

    from training.__main__ import build_parser
    from training.tasks import tasks

    flags = {a.dest for a in build_parser()._actions}
    for spec in registry.TASKS.values():
        reader_parameters = inspect.signature(spec.reader_class()).parameters
        trainer_parameters = inspect.signature(getattr(tasks, spec.trainer)).parameters
        assert all(o in reader_parameters and o in flags for o in spec.reader_options), spec.name
        assert all(o in trainer_parameters and o in flags for o in spec.trainer_options), spec.name
    assert registry.TASKS["ner"].trainer_options == ("label_all_pieces",)
    assert registry.TASKS["qa"].trainer_options == ("stride", "max_answer_len")
