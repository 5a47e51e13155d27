import json
import time

import pandas as pd
import pytest

from lab.context import Lab
from lab.errors import LabInputError
from lab.settings import Settings
from training.config import TrainConfig
from training.engine import estimate
from training.runs.jobs import RunRecord, TrainingJob, curves_frame, export_runs, runs_frame


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


def test_curves_are_numbers_even_before_the_first_point():
    import pandas as pd

    # a plot takes a column of text (or an empty one of objects) as categories: numbers must stay numbers
    for frame in (curves_frame([], "accuracy"), curves_frame([_record("run-1")], "accuracy")):
        assert pd.api.types.is_float_dtype(frame["epoch"]) and pd.api.types.is_float_dtype(frame["value"])


def test_the_estimate_follows_the_machines_recent_speed_and_the_queue():
    from training.engine.estimate import MachineSpeed, actual_seconds_per_step, expected_seconds

    now = [0.0]
    speed = MachineSpeed(keep=3, max_age_s=600, clock=lambda: now[0])
    assert speed.factor() == 1.0  # nothing trained yet: the measurement as it is
    # recent runs took 3x, 4x and 2.5x their measured step (a shared machine): the median, 3x
    for measured, actual in ((0.1, 0.3), (0.2, 0.8), (0.2, 0.5)):
        speed.record(measured, actual)
    assert speed.factor() == pytest.approx(3.0)
    speed.record(0.1, 0.1)  # a quiet moment: only the last three count
    assert speed.factor() == pytest.approx(2.5)
    now[0] = 601.0  # old figures say nothing about the machine now
    assert speed.factor() == 1.0
    # 100 steps measured at 0.2 s on a machine 3x slower, after 45 s of runs ahead: 45 + 60 s
    assert expected_seconds(0.2, 100, 3.0, 45.0) == pytest.approx(105.0)
    # a run's own seconds per step, from its step events (evaluations in between included)
    history = [{"kind": "step", "step": 1, "elapsed_s": 2.0}, {"kind": "eval", "step": 5, "elapsed_s": 5.0},
               {"kind": "step", "step": 11, "elapsed_s": 7.0}]
    assert actual_seconds_per_step(history) == pytest.approx(0.5)
    assert actual_seconds_per_step(history[:1]) is None


def test_runs_ahead_count_their_time_left_in_the_wait():
    from training.runs.backends import LocalWorkers
    from training.runs.jobs import Job, JobSpec

    workers = LocalWorkers.__new__(LocalWorkers)  # the queue's arithmetic, no process started
    import collections
    import threading

    workers.workers = [object(), object()]
    workers._ready = threading.Condition()
    training = Job(JobSpec(None, TrainConfig(), "", None, False, expected_s=100.0))
    training.note({"kind": "step", "eta_s": 30.0})  # the loop's own estimate wins once it trains
    queued = Job(JobSpec(None, TrainConfig(), "", None, False, expected_s=50.0))
    done = Job(JobSpec(None, TrainConfig(), "", None, False, expected_s=999.0))
    done.finish()
    workers._running, workers._pending = {training, done}, collections.deque([queued])
    assert workers.runs_ahead() == 2
    assert workers.ahead_seconds() == pytest.approx((30.0 + 50.0) / 2)  # two workers share the queue
    assert training.events.get_nowait() == {"kind": "step", "eta_s": 30.0}  # the watcher still sees the event


def test_with_no_recent_run_the_speed_now_is_the_step_measured_again(tiny_cls_dir, monkeypatch):
    from training.engine.estimate import MachineSpeed

    lab = Lab(Settings(offline=True, model_overrides={"finetune-base": str(tiny_cls_dir)}))
    now, again = [0.0], []
    monkeypatch.setattr(estimate, "_remeasured", {})
    monkeypatch.setattr(estimate, "_measure", lambda *key: 0.1)  # first measured in a quiet moment

    def measured_now(*key):
        again.append(key)
        return 0.4  # the server is busy now: 4x slower

    monkeypatch.setattr(estimate, "_measure_step", measured_now)
    speed = MachineSpeed(clock=lambda: now[0])
    config = TrainConfig(batch_size=4)
    assert estimate.speed_now(lab, config, 16, speed, clock=lambda: now[0]) == pytest.approx(4.0)
    # a class pressing Train together: measured again once a minute, not once per student
    assert estimate.speed_now(lab, config, 16, speed, clock=lambda: now[0]) == pytest.approx(4.0)
    assert len(again) == 1
    now[0] = estimate.REMEASURE_S + 1
    estimate.speed_now(lab, config, 16, speed, clock=lambda: now[0])
    assert len(again) == 2
    # once a run finished, its own steps tell the speed: nothing is measured
    speed.record(0.1, 0.25)
    assert estimate.speed_now(lab, config, 16, speed, clock=lambda: now[0]) == pytest.approx(2.5)
    assert len(again) == 2
    monkeypatch.setattr(estimate, "_measure_step", lambda *key: 0.05)  # quieter than at first: as measured
    monkeypatch.setattr(estimate, "_remeasured", {})
    assert estimate.speed_now(lab, config, 16, MachineSpeed(), clock=lambda: now[0]) == 1.0
