"""A training run as a job, watched from the UI: events in a queue, a cancel flag, a result.

A ``JobSpec`` is submitted to a backend (training/runs/backends.py: worker processes by default, a
thread, or Ray on a cluster) by a session's runs (training/runs/session_runs.py, for the Fine-tune tab)
and by the Transfer tab (its learning curves' runs and its fine-tuned crosslingual comparison).
The Fine-tune tab reads the ``Job``'s new events every second or so (``watch``), so the loss curve
draws while the model trains; the Transfer tab waits for the result. Cancel only has to set a flag
the training loop polls between steps. A ``TrainingJob`` runs a function in a thread of the
server's process instead (the class's shared learning curves, training/transfer/shared_curves.py, and the
Transfer tab's crosslingual encodings). The CLI trains in its own process without a job.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from lab import atomic
from lab.i18n import msg
from lab.settings import Settings
from training.config import TrainConfig
from training.runs import cells
from training.tasks import registry


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

    def finish(self, result) -> None:
        """Take a finished run's result (a ``training.engine.loop.TrainResult``)."""
        self.status = result.stopped_early or "done"
        self.seconds, self.best_metrics = result.seconds, result.best_metrics
        self.history, self.best_dir = result.history, str(result.best_dir)
        self.trainable_params, self.total_params = result.trainable_params, result.total_params
        self.examples_per_second, self.precision = result.examples_per_second, result.precision

    def row(self) -> dict:
        keys = ("base_model", "strategy", "learning_rate", "batch_size", "epochs", "max_length",
                "class_weights", "from_scratch")
        return {
            "run": self.name, "status": self.status, **{k: self.config.get(k) for k in keys},
            "trainable": self.trainable_params, "seconds": round(self.seconds, 1),
            "metric": self.headline, "val_score": _round(self.best_metrics.get(self.headline)),
        }

    @property
    def headline(self) -> str:
        """The metric its task is judged by (accuracy; entity F1 for NER; F1 for QA), as the live plot shows."""
        return registry.headline(self.config.get("task", "classification"))


def _round(value):
    return None if value is None else round(float(value), 4)


@dataclass
class JobSpec:
    """Everything one run needs, picklable: it crosses to a worker process or a Ray node as it is."""

    prepared: object  # training.data.reader.Prepared: the checked, split data
    config: TrainConfig
    output_dir: str
    settings: Settings
    hub_online: bool
    label_all_pieces: bool = False
    archive: str | None = None  # where to write best/ as a zip for the download (the worker's time, not the server's)
    expected_s: float | None = None  # its estimated time, for the runs that queue behind it (training/engine/estimate.py)


def train(prepared, config: TrainConfig, output_dir: Path, on_event: Callable | None = None,
          should_stop: Callable[[], bool] | None = None, settings: Settings | None = None,
          hub_online: bool | None = None, label_all_pieces: bool = False):
    """Run ``prepared``'s task on the shared accelerate loop (its trainer in the task registry); a
    ``training.engine.loop.TrainResult``.

    ``label_all_pieces`` (NER only): every sub-word piece learns its word's tag, instead of the
    first piece alone (the others -100).
    """
    from training.tasks import tasks  # torch: imported by the first run, not with the page
    from training.transfer import transfer

    common = dict(test=prepared.test, on_event=on_event, should_stop=should_stop, settings=settings,
                  hub_online=hub_online)
    spec = registry.get(prepared.task)
    if "label_all_pieces" in spec.trainer_options:
        common["label_all_pieces"] = label_all_pieces
    if spec.per_text:
        # the Transfer tab shows this run on the rows it was validated on
        transfer.save_run_data(output_dir, prepared.train, prepared.val)
        if config.strategy == "features":
            from training.transfer.feature_head import RunStopped, train_feature_head

            try:
                return train_feature_head(config, prepared.train, prepared.val, output_dir, prepared.test, on_event,
                                          should_stop, settings, hub_online)
            except RunStopped:
                shutil.rmtree(output_dir, ignore_errors=True)  # a run with no model leaves nothing behind
                raise
    trainer = getattr(tasks, spec.trainer)
    return trainer(config, prepared.train, prepared.val, output_dir, **common)


def execute(spec: JobSpec, on_event: Callable, should_stop: Callable[[], bool]):
    """Train one run as every backend does: the task's trainer, then the zip of its best checkpoint."""
    result = train(spec.prepared, spec.config, Path(spec.output_dir), on_event, should_stop, spec.settings,
                   spec.hub_online, label_all_pieces=spec.label_all_pieces)
    if spec.archive:
        write_zip(Path(result.best_dir), Path(spec.archive))
    return result


def zip_directory(directory: Path, into) -> None:
    """``directory``'s files, relative to it, into ``into`` (a path or a binary file). Stored, not
    deflated: float weights barely compress, and deflating 90 MB costs seconds of CPU."""
    with zipfile.ZipFile(into, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))


def write_zip(directory: Path, target: Path) -> Path:
    """``directory`` as a zip that from_pretrained loads once unpacked, written under a temporary
    name and renamed into place, so a download never finds half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    zip_directory(directory, tmp)
    tmp.replace(target)
    return target


class Job:
    """One submitted run: its progress events, Cancel, then its result or error.

    Backends (training/runs/backends.py) run it; the Fine-tune tab's runs (training/runs/session_runs.py) read
    ``watch()``, the Transfer tab's ``wait()``. ``position`` is how many runs wait before it (0: it is running).
    """

    def __init__(self, spec: JobSpec | None = None):
        self.spec = spec
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        self.position = 0
        self.eta_s: float | None = None  # the loop's latest estimate of the time left, once it trains
        self._done = threading.Event()
        self._on_cancel: Callable[[], None] | None = None

    def note(self, event) -> None:
        """A progress event from where it trains: passed to the watcher, its time left kept."""
        eta = event.get("eta_s") if isinstance(event, dict) else getattr(event, "eta_s", None)
        if eta is not None:
            self.eta_s = eta
        self.events.put(event)

    def remaining_s(self) -> float:
        """Its time left as known now: the loop's own estimate once it trains, else the planned one."""
        if self.eta_s is not None:
            return self.eta_s
        return (self.spec.expected_s if self.spec is not None else None) or 0.0

    def cancel(self) -> None:
        self.cancelled.set()
        if self._on_cancel is not None:
            self._on_cancel()

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self._done.set()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def watch(self, every_s: float = 1.0) -> Iterator[list]:
        """Yield the events that arrived, about every ``every_s`` seconds, until the run ends."""
        while True:
            alive = self.running
            batch = []
            deadline = time.monotonic() + every_s
            while time.monotonic() < deadline:
                try:
                    batch.append(self.events.get(timeout=max(0.0, min(0.2, deadline - time.monotonic()))))
                except queue.Empty:
                    if not self.running:
                        break
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            yield batch
            if not alive and self.events.empty():
                return


class TrainingJob(Job):
    """Runs ``target(on_event, should_stop)`` in a thread of this process (the class's shared learning
    curves, training/transfer/shared_curves.py; the Transfer tab's crosslingual encodings)."""

    def __init__(self, target: Callable[[Callable, Callable], object]):
        super().__init__()
        self._target = target
        self._thread = threading.Thread(target=self._run, daemon=True, name="training-job")

    def _run(self) -> None:
        try:
            result = self._target(self.events.put, self.cancelled.is_set)
        except BaseException as exc:  # handed to the watching generator, which shows it
            self.finish(error=exc)
        else:
            self.finish(result)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self


def curves_frame(runs: list[RunRecord], metric: str | None = "loss") -> pd.DataFrame:
    """Long-form data for one plot of several runs.

    ``metric="loss"``: training loss per step and validation loss per evaluation;
    otherwise that validation metric (e.g. "accuracy") per evaluation, None: each run's headline
    metric (runs of different tasks compared together). Loss and accuracy
    get separate plots: they live on different scales. A series' name is a lab.i18n Message
    (English, said in the student's language by the tab).
    """
    rows = []
    for run in runs:
        train_loss = msg("msg.training.jobs.train_loss", run=run.name)
        val_loss = msg("msg.training.jobs.validation_loss", run=run.name)
        name = metric or run.headline
        val_metric = msg("msg.training.jobs.validation_metric", run=run.name, metric=name)
        for h in run.history:
            m = h.get("metrics") or {}
            if metric == "loss" and h.get("kind") == "step" and h.get("loss") is not None:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": h["loss"], "series": train_loss})
            elif h.get("kind") == "eval" and metric == "loss" and m.get("val_loss") is not None:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": m["val_loss"], "series": val_loss})
            elif h.get("kind") == "eval" and metric != "loss" and name in m:
                rows.append({"run": run.name, "epoch": h["epoch"], "value": m[name], "series": val_metric})
    # Numbers as numbers even with no rows yet: a plot takes an empty column as text, and its first
    # data then lands on a scale of categories.
    return pd.DataFrame(rows, columns=["run", "epoch", "value", "series"]).astype(
        {"run": str, "epoch": float, "value": float, "series": str})


def runs_frame(runs: list[RunRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in runs])


def export_runs(runs: list[RunRecord], directory: Path, fmt: str = "csv") -> Path:
    """Write the runs list as CSV (one row per run) or JSON (everything, history included); text a
    spreadsheet would run as a formula is written as text (training/runs/cells.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        import json

        path = directory / "runs.json"
        records = json.loads(json.dumps([asdict(r) for r in runs], default=str))  # plain JSON values first
        atomic.write_json(path, cells.nested(records), indent=2)
    else:
        path = directory / "runs.csv"
        with atomic.replacing(path) as tmp:
            cells.frame(runs_frame(runs)).to_csv(tmp, index=False)
    return path
