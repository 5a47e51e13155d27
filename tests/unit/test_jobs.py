import json
import time

import pandas as pd
import pytest

from lab.context import Lab
from lab.errors import LabInputError
from lab.settings import Settings
from training import estimate
from training.config import TrainConfig
from training.jobs import RunRecord, TrainingJob, curves_frame, export_runs, runs_frame


def fake_training(steps: int, fail_at: int | None = None):
    def target(on_event, should_stop):
        for step in range(1, steps + 1):
            if should_stop():
                return "cancelled"
            if step == fail_at:
                raise LabInputError(f"bad data at step {step}")
            on_event({"kind": "step", "step": step, "total_steps": steps, "epoch": step / steps, "loss": 1 / step})
            time.sleep(0.01)
        return "done"

    return target


def test_job_streams_every_event_then_returns_the_result():
    job = TrainingJob(fake_training(20)).start()
    seen = [e for batch in job.watch(every_s=0.05) for e in batch]
    assert [e["step"] for e in seen] == list(range(1, 21))
    assert job.result == "done" and job.error is None and not job.running


def test_cancel_stops_the_job_and_errors_come_back():
    job = TrainingJob(fake_training(10_000)).start()
    next(job.watch(every_s=0.05))
    job.cancel()
    for _ in job.watch(every_s=0.05):
        pass
    assert job.result == "cancelled"
    failing = TrainingJob(fake_training(5, fail_at=3)).start()
    list(failing.watch(every_s=0.05))
    assert isinstance(failing.error, LabInputError) and "step 3" in str(failing.error)


def _record(name: str) -> RunRecord:
    history = [{"kind": "step", "step": 1, "epoch": 0.5, "loss": 0.7},
               {"kind": "eval", "step": 1, "epoch": 0.5, "metrics": {"val_loss": 0.6, "accuracy": 0.75}},
               {"kind": "step", "step": 2, "epoch": 1.0, "loss": 0.5}]
    return RunRecord(name, {"strategy": "full", "learning_rate": 5e-5}, seconds=3.2, status="done",
                     best_metrics={"accuracy": 0.75, "macro_f1": 0.7}, history=history)


def test_curves_keep_loss_and_accuracy_apart():
    runs = [_record("run-1"), _record("run-2")]
    loss = curves_frame(runs, "loss")
    assert set(loss["series"]) == {"run-1 · train loss", "run-1 · validation loss",
                                   "run-2 · train loss", "run-2 · validation loss"}
    acc = curves_frame(runs, "accuracy")
    assert acc["value"].tolist() == [0.75, 0.75] and len(curves_frame([], "loss")) == 0


def test_runs_of_every_task_are_listed_and_compared_by_their_headline_metric():
    """NER runs by entity F1 and QA runs by F1, as the live plot shows them, not by accuracy."""
    ner = RunRecord("run-1", {"task": "ner"}, status="done", best_metrics={"accuracy": 0.97, "f1": 0.61},
                    history=[{"kind": "eval", "step": 1, "epoch": 1.0, "metrics": {"accuracy": 0.97, "f1": 0.61}}])
    qa = RunRecord("run-2", {"task": "qa"}, status="done", best_metrics={"exact_match": 40.0, "f1": 52.5},
                   history=[{"kind": "eval", "step": 1, "epoch": 1.0, "metrics": {"exact_match": 40.0, "f1": 52.5}}])
    table = runs_frame([ner, qa])
    assert table["metric"].tolist() == ["f1", "f1"] and table["val_score"].tolist() == [0.61, 52.5]
    compared = curves_frame([ner, qa], None)
    assert compared["value"].tolist() == [0.61, 52.5]
    assert [str(s) for s in compared["series"]] == ["run-1 · validation f1", "run-2 · validation f1"]


def test_runs_table_and_export(tmp_path):
    runs = [_record("run-1")]
    table = runs_frame(runs)
    assert table.loc[0, "run"] == "run-1" and table.loc[0, "val_score"] == 0.75
    assert table.loc[0, "metric"] == "accuracy"
    csv = export_runs(runs, tmp_path, "csv")
    assert pd.read_csv(csv).loc[0, "strategy"] == "full"
    data = json.loads(export_runs(runs, tmp_path, "json").read_text())
    assert data[0]["history"][1]["metrics"]["accuracy"] == 0.75


def test_estimate_measures_a_real_step(tiny_cls_dir):
    assert estimate.total_steps(100, TrainConfig(batch_size=16, epochs=2)) == 14
    assert estimate.human(30) == "30 s" and estimate.human(600) == "10.0 min"
    lab = Lab(Settings(offline=True, model_overrides={"finetune-base": str(tiny_cls_dir)}))
    full = estimate.seconds_per_step(lab, TrainConfig(batch_size=4), 16)
    frozen = estimate.seconds_per_step(lab, TrainConfig(batch_size=4, strategy="frozen_encoder"), 16)
    assert 0 < full < 10 and frozen == pytest.approx(full * 0.6)
