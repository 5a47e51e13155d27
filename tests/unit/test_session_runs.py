"""A session's fine-tune runs without a browser (training/runs/session_runs.py): plan, run, record, cancel.

A tiny random BERT trains in this process (the thread backend) on the project's own sample CSV.
"""

from __future__ import annotations

import dataclasses

import pytest

from lab.context import Lab
from lab.errors import LabInputError, TrainingFailed
from lab.settings import ASSETS_DIR
from training.config import TrainConfig
from training.runs.classroom import ClassBoard
from training.runs.session_runs import FinetuneRequest, FinetuneRuns, Finished, Progress

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

SENTIMENT = str(ASSETS_DIR / "samples" / "sentiment.csv")
FAST = dict(learning_rate=1e-2, warmup_ratio=0.0, batch_size=16, evals_per_epoch=1, precision="fp32", epochs=1,
            max_length=32)


@pytest.fixture(scope="module")
def runs(settings):
    lab = Lab(dataclasses.replace(settings, train_backend="thread"))
    return FinetuneRuns(lab, ClassBoard(""))


@pytest.mark.parametrize("change, message", [
    (dict(file=None), "Upload"),
    (dict(task="translation"), "translation"),
    (dict(config=TrainConfig(max_length=512)), "512"),  # the tiny base reads 128 tokens at most
    (dict(config=TrainConfig(strategy="features"), compare_scratch=True), "from-scratch comparison"),
])
def test_a_request_that_cannot_train_is_refused_before_any_work(runs, change, message):
    request = dataclasses.replace(FinetuneRequest("classification", SENTIMENT, TrainConfig(**FAST)), **change)
    with pytest.raises(LabInputError, match=message):
        runs.plan(request)


def test_a_plan_trains_its_runs_records_them_and_registers_the_model(runs, tmp_path):
    request = FinetuneRequest("classification", SENTIMENT, TrainConfig(**FAST), compare_scratch=True)
    plan = runs.plan(request)
    assert [c.from_scratch for c in plan.configs] == [False, True]
    assert "steps" in plan.expected and len(plan.data.train) + len(plan.data.val) + len(plan.data.test or []) == 300
    records, archives = [], []
    events = list(runs.run(plan, records, tmp_path, "session-a", None,
                           lambda name: archives.append(name) or tmp_path / f"{name}.zip"))
    finished = [e for e in events if isinstance(e, Finished)]
    assert [r.name for r in records] == ["run-1", "run-2-scratch"] and archives == ["run-1"]
    assert [e.record.name for e in finished] == ["run-1", "run-2-scratch"]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and progress[-1].step == progress[-1].total_steps > 0
    first = records[0]
    assert first.status == "done" and first.best_dir.endswith("best") and 0 <= first.best_metrics["accuracy"] <= 1
    assert first.trainable_params > 0 and first.precision == "fp32" and (tmp_path / "run-1.zip").is_file()
    # the pretrained run is the session's model; the from-scratch one only compares
    models = finished[-1].session_models
    assert models["models"] == {"run-1": {"task": "classification", "dir": first.best_dir}}
    assert models["active"]["classification"] == "run-1"
    assert runs.cancel("session-a") is False  # nothing running any more


def test_a_failed_run_says_why(runs, tmp_path, monkeypatch):
    def boom(spec, on_event, should_stop):
        raise RuntimeError("the worker ran out of memory")

    monkeypatch.setattr("training.runs.backends.execute", boom)  # what the thread backend runs
    plan = runs.plan(FinetuneRequest("classification", SENTIMENT, TrainConfig(**FAST)))
    records = []
    with pytest.raises(TrainingFailed, match="Training failed: the worker ran out of memory"):
        list(runs.run(plan, records, tmp_path, "session-b", None, lambda name: tmp_path / f"{name}.zip"))
    assert records[0].status == "failed"


@pytest.mark.parametrize("strategy, fix", [("full", "fewer epochs"), ("lora", "fewer epochs"),
                                           ("features", "fewer rows or a shorter max length")])
def test_a_run_that_cannot_finish_in_the_time_limit_is_refused_up_front(runs, monkeypatch, strategy, fix):
    from training.engine import estimate

    monkeypatch.setattr(estimate, "_measure", lambda *args: 30.0)  # a slow machine: 30 s a step
    config = TrainConfig(**{**FAST, "strategy": strategy, "max_train_minutes": 1.0})
    with pytest.raises(LabInputError, match=f"more than the 1 min a run may train.*{fix}"):
        runs.plan(FinetuneRequest("classification", SENTIMENT, config))
    monkeypatch.setattr(estimate, "_measure", lambda *args: 0.001)
    assert runs.plan(FinetuneRequest("classification", SENTIMENT, config)).configs == [config]
