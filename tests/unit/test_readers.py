"""One reader per task behind read / describe / split, and one parse of an upload per session."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from lab.settings import ASSETS_DIR, Settings
from training.config import TrainConfig
from training.data import data as tdata
from training.data import ner_data, qa_data
from training.data.reader import Uploads
from training.runs.classroom import ClassBoard
from training.runs.session_runs import FinetuneRequest, FinetuneRuns
from training.tasks import registry

SENTIMENT = ASSETS_DIR / "samples" / "sentiment.csv"


def _conll(path):
    path.write_text("".join(f"{name} B-PER\nlives O\nin O\n{city} B-LOC\n\n"
                            for name, city in [("Ann", "Oslo"), ("Bob", "Rome"), ("Cy", "Lima"), ("Di", "Kyiv")] * 5))
    return path


def _squad(path):
    contexts = [f"Town {i} lies by river {i}." for i in range(12)]
    paragraphs = [{"context": c, "qas": [{"id": f"q{i}", "question": f"What is by town {i}?", "answers": [
        {"text": f"river {i}", "answer_start": c.index("river")}]}]} for i, c in enumerate(contexts)]
    path.write_text(json.dumps({"data": [{"title": "Towns", "paragraphs": paragraphs}]}))
    return path


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    return calls


def _runs() -> FinetuneRuns:
    return FinetuneRuns(SimpleNamespace(settings=Settings()), ClassBoard(""))


@pytest.mark.parametrize("task, parser, make", [
    ("classification", (tdata, "read_table"), lambda tmp: SENTIMENT),
    ("ner", (ner_data, "read_conll"), lambda tmp: _conll(tmp / "people.conll")),
    ("qa", (qa_data, "read_squad"), lambda tmp: _squad(tmp / "towns.json")),
])
def test_what_the_inspection_parsed_is_what_training_splits(task, parser, make, tmp_path, monkeypatch):
    path = str(make(tmp_path))
    calls = _counting(monkeypatch, *parser)
    runs = _runs()
    summary = runs.inspect(task, path)
    data = runs.prepare(FinetuneRequest(task, path, TrainConfig()))
    assert len(calls) == 1
    assert len(data.train) + len(data.val) + len(data.test or []) == summary.size
    # the same answer as a reader that reads afresh
    reader = registry.reader(task)
    fresh = reader.split(reader.read(path), TrainConfig())
    assert len(fresh.train) == len(data.train) and fresh.typical_length == data.typical_length


def test_a_changed_file_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "people.conll"
    _conll(path)
    calls = _counting(monkeypatch, ner_data, "read_conll")
    uploads, reader = Uploads(), registry.reader("ner")
    first = uploads.read("ner", reader, path)
    assert uploads.read("ner", reader, path) is first and len(calls) == 1
    path.write_text(path.read_text() + "Eve B-PER\nsleeps O\n")
    assert len(uploads.read("ner", reader, path)) == len(first) + 1 and len(calls) == 2


def test_every_reader_splits_a_validation_file_the_same_way(tmp_path):
    """A validation file replaces the validation share; the test share is then cut from training (the
    CLI's and the tab's rule, for every task)."""
    train, val = _conll(tmp_path / "train.conll"), _conll(tmp_path / "val.conll")
    reader = registry.reader("ner")
    data = reader.split(reader.read(train), TrainConfig(test_fraction=0.2), validation=val)
    assert len(data.val) == 20 and len(data.test) == 4 and len(data.train) == 16


def test_the_features_way_is_refused_for_a_task_without_it():
    runs = _runs()
    request = FinetuneRequest("qa", "unused.json", TrainConfig(strategy="features"))
    with pytest.raises(Exception, match="for classification"):
        runs.prepare(request)


def test_the_catalogue_describes_a_host_file_with_the_reader(tmp_path):
    from training.data import catalog

    _squad(tmp_path / "towns.json")
    (card,) = catalog.host_cards(tmp_path)
    assert card.task == "qa" and card.size == 12 and card.unit == "questions"


@pytest.mark.slow
def test_inspecting_then_training_in_the_tab_parses_the_upload_once(settings, monkeypatch):
    """Through the Fine-tune tab's handlers: Inspect, then Train (up to the run's start)."""
    from lab.context import Lab
    from tabs.finetune import FinetuneTab

    calls = _counting(monkeypatch, tdata, "read_table")
    tab = FinetuneTab(Lab(dataclasses.replace(settings, train_backend="thread")))
    tab.inspect_data(str(SENTIMENT))
    training = tab.finetune(str(SENTIMENT), epochs=1, max_length=32, batch_size=16)
    first = next(training)
    training.close()
    assert first[0]["status"] == "starting" and first[0]["train"] > 0
    assert calls == [str(SENTIMENT)]


def test_the_transfer_views_parse_an_upload_once(tmp_path, monkeypatch):
    from training.transfer import transfer

    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"review {i},{'good' if i % 2 else 'bad'}\n" for i in range(40)))
    calls = _counting(monkeypatch, tdata, "read_table")
    uploads = Uploads()
    first = transfer.file_data(path, "reviews.csv", uploads=uploads)
    again = transfer.file_data(path, "reviews.csv", uploads=uploads)
    assert len(calls) == 1 and again.train.texts == first.train.texts and again.val.texts == first.val.texts
