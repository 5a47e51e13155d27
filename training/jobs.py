"""A training run in a background thread, watched from the UI: events in a queue, a cancel flag.

The Fine-tune tab's handler is a generator: it starts a ``TrainingJob`` and yields the new
events every second or so, so the loss curve draws while the model trains, and Cancel only
has to set a flag the training loop polls between steps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from training.config import TrainConfig


@dataclass
class RunRecord:
    """One run of this session, as the runs table lists it."""

    name: str
    config: dict
    seconds: float = 0.0
    status: str = "running"
    best_metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    best_dir: str = ""
    trainable_params: int = 0
    total_params: int = 0
    examples_per_second: float = 0.0
    precision: str = ""

    def row(self) -> dict:
        keys = ("base_model", "strategy", "learning_rate", "batch_size", "epochs", "max_length",
                "class_weights", "from_scratch")
        return {
            "run": self.name, "status": self.status, **{k: self.config.get(k) for k in keys},
            "trainable": self.trainable_params, "seconds": round(self.seconds, 1),
            "val_accuracy": _round(self.best_metrics.get("accuracy")),
            "val_macro_f1": _round(self.best_metrics.get("macro_f1")),
        }


def _round(value):
    return None if value is None else round(float(value), 4)


class TrainingJob:
    """Runs ``target(on_event, should_stop)`` in a thread; events and the result come back to the caller."""

    def __init__(self, target: Callable[[Callable, Callable], object]):
        self._target = target
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="training-job")

    def _run(self) -> None:
        try:
            self.result = self._target(self.events.put, self.cancelled.is_set)
        except BaseException as exc:  # handed to the watching generator, which shows it
            self.error = exc

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def watch(self, every_s: float = 1.0) -> Iterator[list]:
        """Yield the events that arrived, about every ``every_s`` seconds, until the thread ends."""
        while True:
            alive = self.running
            batch = []
            deadline = time.monotonic() + every_s
            while time.monotonic() < deadline:
                try:
                    batch.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    if not self.running:
                        break
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            yield batch
            if not alive and self.events.empty():
                return


def curves_frame(runs: list[RunRecord], metric: str = "loss") -> pd.DataFrame:
    """Long-form data for one plot of several runs.

    ``metric="loss"``: training loss per step and validation loss per evaluation;
    otherwise that validation metric (e.g. "accuracy") per evaluation. Loss and accuracy
    get separate plots: they live on different scales.
    """
    rows = []
    for run in runs:
        for h in run.history:
            m = h.get("metrics") or {}
            if metric == "loss" and h.get("kind") == "step" and h.get("loss") is not None:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": h["loss"],
                             "series": f"{run.name} · train loss"})
            elif h.get("kind") == "eval" and metric == "loss" and m.get("val_loss") is not None:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": m["val_loss"],
                             "series": f"{run.name} · validation loss"})
            elif h.get("kind") == "eval" and metric in m:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": m[metric],
                             "series": f"{run.name} · validation {metric}"})
    return pd.DataFrame(rows, columns=["run", "epoch", "value", "series"])


def runs_frame(runs: list[RunRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in runs])


def export_runs(runs: list[RunRecord], directory: Path, fmt: str = "csv") -> Path:
    """Write the runs list as CSV (one row per run) or JSON (everything, history included)."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        import json

        path = directory / "runs.json"
        path.write_text(json.dumps([asdict(r) for r in runs], indent=2, default=str))
    else:
        path = directory / "runs.csv"
        runs_frame(runs).to_csv(path, index=False)
    return path


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
