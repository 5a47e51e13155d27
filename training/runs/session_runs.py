"""A session's fine-tune runs, without gradio: check a request, plan it, run it as jobs, record it.

A CSV's way to a saved model, in one place: ``FinetuneRuns.plan`` refuses what can't train
(before any work), reads and splits the data and says how long it will take; ``run`` trains
the plan's runs one after another on the backend (worker processes, Ray or a thread), yields
what the student sees while they do, and registers each model in the session. One job per
session is tracked, for Cancel and for a closed tab. The Fine-tune tab (tabs/finetune.py) only
lays out, streams what ``run`` yields, and says it in the student's language.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lab import memory
from lab import session as session_state
from lab.errors import LabInputError, TrainingFailed
from lab.i18n import Message, msg
from lab.lazy import lazy_import
from lab.settings import Settings
from training.config import TrainConfig
from training.data.reader import FileSummary, Prepared, Uploads
from training.runs import backends, classroom
from training.runs.classroom import ClassBoard
from training.runs.jobs import Job, JobSpec, RunRecord
from training.tasks import registry

# The time estimate builds a model (torch): imported on the first plan, after the page is served.
estimate = lazy_import("training.engine.estimate")
models = lazy_import("training.engine.models")

log = logging.getLogger(__name__)


@dataclass
class FinetuneRequest:
    """What a student asked for: the task, the files and columns, and the run's settings."""

    task: str
    file: str | None
    config: TrainConfig
    text_column: str = ""
    label_column: str = ""
    validation_file: str | None = None
    label_all_pieces: bool = False
    compare_scratch: bool = False  # also train the same model from random weights, for the comparison
    share_with_class: bool = False
    student_name: str = ""


@dataclass
class Plan:
    """A checked request: its data read and split, the runs to train, and how long they should take."""

    request: FinetuneRequest
    data: Prepared
    configs: list[TrainConfig]  # the run, then (compare_scratch) the same from scratch
    expected: Message
    per_step: float | None = None  # measured seconds per step (training/engine/estimate.py), before scaling
    factor: float = 1.0  # the machine's current speed against that measurement


@dataclass
class Waiting:
    """Every worker is busy: ``ahead`` runs go first."""

    name: str
    ahead: int


@dataclass
class Progress:
    """New progress events of a run (its record holds them all)."""

    record: RunRecord
    step: int
    total_steps: int


@dataclass
class Finished:
    """A run is over: its result, and the session's models with it registered."""

    record: RunRecord
    result: object  # training.engine.loop.TrainResult
    session_models: dict | None = None


def check_memory(data: Prepared, config: TrainConfig, settings: Settings, hub_online: bool) -> int:
    """The run's estimated peak memory (bytes, training/engine/estimate.py), refused with the reason and what
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
        raise LabInputError(msg("msg.training.reader.too_much_memory", need=f"{need / 2**30:.1f}",
                                batch_size=config.batch_size, max_length=config.max_length,
                                budget=f"{budget / 2**30:.1f}"))
    return need


class FinetuneRuns:
    """The fine-tune runs of every session of one server."""

    def __init__(self, lab, board: ClassBoard):
        self.lab = lab
        self.board = board
        self._jobs: dict[str, Job] = {}  # session key -> running job (for Cancel)
        self._lock = threading.Lock()
        self.uploads = Uploads()  # what an inspection parsed, for the training of the same file

    def inspect(self, task: str, file: str, text_column: str = "", label_column: str = "",
                tokenizer=None) -> FileSummary:
        """The upload read as ``task``'s data and described (``DataError`` for what stops reading it);
        the parse is kept for the plan that trains on it."""
        reader = registry.reader(task, self.lab.settings.data_limits)
        return reader.describe(self.uploads.read(task, reader, file), tokenizer, text_column, label_column)

    def prepare(self, request: FinetuneRequest) -> Prepared:
        """The request's data checked and split; the training file parsed once while it is the same file."""
        registry.check_strategy(request.task, request.config.strategy)
        reader = registry.reader(request.task, self.lab.settings.data_limits)
        return reader.split(self.uploads.read(request.task, reader, request.file), request.config,
                            request.validation_file, None, request.text_column, request.label_column)

    @property
    def backend(self):
        """Where runs train (training/runs/backends.py): worker processes unless the host chose otherwise."""
        return backends.shared(self.lab.settings)

    def plan(self, request: FinetuneRequest) -> Plan:
        """The request checked and its data read, or a ``LabInputError`` saying what to change."""
        config, task = request.config, request.task
        model_limit = self.lab.tokenizer("finetune-base", config.base_model).model_max_length
        if config.max_length > model_limit:
            raise LabInputError(msg("ft.max_length_limit", length=config.max_length, limit=model_limit))
        if task not in registry.TASKS:
            raise LabInputError(msg("ft.unknown_task", task=task, tasks=", ".join(registry.NAMES)))
        if not request.file:
            raise LabInputError(msg("ft.upload_first", hint=msg(registry.TASKS[task].tab_key("file_hint"))))
        if request.share_with_class and self.board.enabled:  # refused before training, not after
            request = dataclasses.replace(request, student_name=classroom.student_name(request.student_name))
        data = self.prepare(request)
        check_memory(data, config, self.lab.settings, self.lab.hub.online)  # before the estimate's step
        configs = [config] + ([dataclasses.replace(config, from_scratch=True)] if request.compare_scratch else [])
        if config.strategy == "features":  # one forward pass per text, then a regression
            if request.compare_scratch:
                raise LabInputError(msg("ft.features_no_scratch"))
            texts = len(data.train) + len(data.val) + len(data.test or [])
            seconds = estimate.encoding_seconds(self.lab, config, data.typical_length, texts)
            memory.release()
            estimate.check_time(seconds, config, msg("msg.training.estimate.what.texts", texts=f"{texts:,}",
                                                     length=config.max_length), msg("msg.training.estimate.fix.texts"))
            return Plan(request, data, configs, msg("ft.features_expected"))
        per_step = estimate.seconds_per_step(self.lab, config, data.typical_length)
        memory.release()  # the estimate's model and optimizer: freed before training allocates its own
        steps = estimate.total_steps(data.items, config) * len(configs)
        each = steps // len(configs)  # the limit holds for each run of the plan
        estimate.check_time(per_step * each, config, msg("msg.training.estimate.what.steps", steps=f"{each:,}",
                                                         per_step=f"{per_step:.2f}"),
                            msg("msg.training.estimate.fix.steps"))
        factor = estimate.speed_now(self.lab, config, data.typical_length)  # the machine's speed now
        ahead = getattr(self.backend, "runs_ahead", lambda: 0)()
        wait = getattr(self.backend, "ahead_seconds", lambda: 0.0)() if ahead else 0.0
        expected = msg("ft.expected_time", time=estimate.human(estimate.expected_seconds(per_step, steps, factor, wait)),
                       steps=f"{steps:,}", per_step=f"{per_step * factor:.2f}")
        if ahead:
            expected = msg("ft.expected_with_queue", expected=expected, ahead=ahead, wait=estimate.human(wait))
        return Plan(request, data, configs, expected, per_step, factor)

    def run(self, plan: Plan, runs: list[RunRecord], session_dir: Path, key: str, session_models: dict | None,
            archive: Callable[[str], Path]) -> Iterator[Waiting | Progress | Finished]:
        """Train the plan's runs in turn, appending their records to ``runs``.

        ``archive(name)`` is where the first run's zip goes (the download). A run that fails
        raises: the student's own mistake as it is, anything else as ``TrainingFailed``.
        A cancelled run ends the plan.
        """
        request, task = plan.request, plan.request.task
        metric = registry.headline(task)
        for cfg in plan.configs:
            name = f"run-{len(runs) + 1}" + ("-scratch" if cfg.from_scratch else "")
            record = RunRecord(name, {"task": task, **dataclasses.asdict(cfg)})
            runs.append(record)
            zip_path = archive(name) if cfg is plan.configs[0] else None
            planned = (estimate.expected_seconds(plan.per_step, estimate.total_steps(plan.data.items, cfg), plan.factor)
                       if plan.per_step else None)
            job = self.backend.submit(JobSpec(plan.data, cfg, str(session_dir / name),
                                              session_state.session_settings(self.lab.settings, key),
                                              self.lab.hub.online, bool(request.label_all_pieces),
                                              str(zip_path) if zip_path else None, planned))
            with self._lock:
                self._jobs[key] = job
            started = time.monotonic()
            try:
                for events in job.watch(every_s=1.0):
                    if not events:
                        if job.position > 0:  # every worker busy: say where this run stands
                            yield Waiting(name, job.position - 1)
                        continue
                    record.history += [e if isinstance(e, dict) else dataclasses.asdict(e) for e in events]
                    record.seconds = time.monotonic() - started
                    last = record.history[-1]
                    yield Progress(record, last.get("step", 0), last.get("total_steps") or 1)
            finally:
                with self._lock:
                    self._jobs.pop(key, None)
                if isinstance(self.backend, backends.ThreadBackend):
                    memory.release()  # the run's model, gradients and optimizer state: back to the OS
            if job.error is not None:
                record.status = "failed"
                if isinstance(job.error, LabInputError):
                    raise job.error
                log.error("training failed", exc_info=job.error)
                reason = job.error.args[0] if len(job.error.args) == 1 else str(job.error)  # a Message stays one
                raise TrainingFailed(msg("ft.training_failed", error=reason)) from job.error
            result = job.result
            if plan.per_step and not result.stopped_early:  # the machine's speed, for the next estimates
                estimate.SPEED.record(plan.per_step, estimate.actual_seconds_per_step(record.history) or 0.0)
            record.finish(result)
            if not cfg.from_scratch or len(plan.configs) == 1:
                session_models = session_state.add_model(session_models, task, name, result.best_dir)
            if request.share_with_class and self.board.enabled:
                self.board.share(request.student_name, name, task, Path(request.file).name, record.config,
                                 result.best_metrics.get(metric), metric, result.seconds)
            yield Finished(record, result, session_models)
            if result.stopped_early == "cancelled":
                break

    def cancel(self, key: str) -> bool:
        """Stop the session's running job; False when it has none."""
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            job.cancel()
        return job is not None

    def running(self, key: str) -> bool:
        with self._lock:
            return key in self._jobs

    def forget(self, key: str) -> None:
        """The session is over: its job stops and is no longer tracked."""
        with self._lock:
            job = self._jobs.pop(key, None)
        if job is not None:
            job.cancel()
