"""The fine-tuning loop on accelerate (no ``Trainer``); the tasks it trains are in training.tasks.tasks
(``classification``, ``ner``, ``qa``) and the fill-mask recipe's ``fill-mask`` (training/recipes/mlm.py).

Shared by the Fine-tune tab (events drive its live curves, ``should_stop`` is its Cancel), the
Transfer tab's learning curves and crosslingual runs, the CLI (``python -m training``; ``accelerate launch -m training`` on several GPUs/nodes) and the
recipes of the shipped heads (``training.recipes``, with a ``LongRun``). The feature-extraction
strategy trains no loop: it encodes once and fits a head (training/transfer/feature_head.py). The loop
follows transformers' ``run_glue_no_trainer.py``: model, optimizer, loaders and scheduler are
prepared together, step counts are recomputed after ``prepare``, tokenization runs under
``main_process_first``, and only the main process writes files and reports progress. A long run
resumes as accelerate's examples do: ``save_state``/``load_state`` (weights, optimizer, schedule,
RNGs, the dropout generator), the sampler set to the epoch, ``skip_first_batches`` to the step.

The loop itself is task-agnostic: a ``Task`` says how to build the model (on training.engine.models),
turn data into features, compute the loss and score a split; best checkpoint, cancel, time
limit, resume, precision, atomic save and metrics.json are the same code for every task.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.utils import parse_flag_from_env
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import (
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_scheduler,
)

import patches
from lab import atomic, machine, registry
from lab.errors import LabInputError, ModelLoadError
from lab.i18n import msg
from lab.loading import MODEL_LOAD_LOCK
from lab.settings import Settings
from training.config import TrainConfig
from training.engine.fast_dropout import FastDropout
from training.engine.grad_clip import GradClipper
from training.engine.models import label_kwargs, resolve_base_model
from training.engine.sparse_embeddings import LazyAdamW, lazy_adamw_ok, sparse_word_embeddings
from training.engine.strategies import apply_strategy, count, has_lora, merged_copy

log = logging.getLogger(__name__)

BEST = "best"
METRICS_FILE = "metrics.json"
CHECKPOINT = "checkpoint"  # accelerate's save_state folder of a resumable run
LOOP_STATE = "loop_state.json"  # in it: the loop's own counters (step, best, history, seconds)
# Parameters AdamW does not decay (as transformers' no_trainer examples).
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "layernorm.weight")
TRACKERS = ("tensorboard", "mlflow")

_now = time.perf_counter  # one clock for timings, ETA and the time limit (tests replace it)

# accelerate keeps its state in process-wide singletons: runs started from the app's threads
# take turns building their Accelerator, and the state is reset only when no run is active.
_STATE_LOCK = threading.Lock()
_active_runs = 0


@dataclass
class ProgressEvent:
    """What the loop reports: every optimizer step, every evaluation, and once when done."""

    kind: str  # "step" | "eval" | "done"
    step: int
    total_steps: int
    epoch: float
    loss: float | None = None  # training loss of this step
    lr: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    # eval: val_loss and the task's metrics (classification: accuracy, macro_f1; NER: precision,
    # recall, f1, accuracy; QA: exact_match, f1) + is_best; done: the best checkpoint's (+ test_*)
    metrics: dict | None = None


@dataclass
class LongRun:
    """What an hour-long background run (the recipes of the shipped heads) adds to a run.

    The Fine-tune tab and the CLI leave it at its defaults: no checkpoints, epochs decide the length.
    """

    model: PreTrainedModel | None = None  # built by the caller, its trainable parts set (training.engine.strategies)
    param_groups: Callable[[PreTrainedModel], list[dict]] | None = None  # AdamW groups with their own rates
    max_steps: int = 0  # stop (and end the schedule) after this many steps; 0: the epochs decide
    eval_every: int = 0  # steps between evaluations; 0: config.evals_per_epoch decides
    evaluate_first: bool = False  # score the starting point as step 0
    # A resumable checkpoint (OUTPUT/checkpoint, accelerate's save_state) this often and at the
    # end; None writes none. ``resume`` goes on from one: same weights, schedule, RNGs and batches.
    checkpoint_minutes: float | None = None
    resume: bool = False


@dataclass
class TrainResult:
    output_dir: Path
    best_dir: Path
    history: list[dict]  # one dict per step/eval event (ProgressEvent as a dict), JSON-able
    best_metrics: dict  # step, epoch, val_loss and the task's metrics of the kept checkpoint
    # The best checkpoint's validation report (+ val_loss): training.tasks.metrics.classification_report,
    # training.tasks.ner_metrics.entity_report or the QA report of training.tasks.tasks
    val_report: dict
    test_report: dict | None  # the same for the test set, scored with the saved best model (+ test_loss)
    misclassified: list[dict]  # the task's mistakes: classification rows (row, text, true, predicted, confidence)
    class_weights: list[float] | None
    trainable_params: int
    total_params: int
    seconds: float
    examples_per_second: float
    precision: str  # "bf16" | "fp32", what actually ran
    stopped_early: str | None  # "cancelled" | "time limit" | None
    precision_note: str = ""  # why this precision (e.g. the fallback reason)
    metrics_path: Path | None = None
    # base model, timings, cache hit, steps; "notice" (the model trained instead): a lab.i18n Message or None
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------- helpers

def fused_adamw_ok(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused AdamW kernel can take these parameters (CPU or CUDA, floating point).

    The default per-tensor AdamW was 36% of a CPU fine-tuning step in bench/profile_train.py:
    half of MiniLM's weights are the 30,522 x 384 word embeddings, updated densely every step.
    The fused kernel does the same update in one pass (1964 -> 268 ms per step measured here).
    """
    return bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)


def pad_multiple() -> int | None:
    """Pad batches to a multiple of 8 on a GPU (tensor cores want it); on a CPU it only adds tokens.

    Length-grouped SST-2 batches average ~14 tokens a row: rounding up to 8 costs ~25% more
    compute on a CPU for nothing.
    """
    return 8 if torch.cuda.is_available() else None


def choose_precision(requested: str, device: torch.device, cpu_bf16: str = "auto") -> tuple[str, str]:
    """("bf16" | "fp32", reason). Decided once per run, before the Accelerator is built; ``cpu_bf16``
    is the host's setting (lab/settings.py) on whether this CPU has native bf16 matmul.

    On CPU, bf16 autocast pays off only with native bf16 matmul (AVX512-BF16 or AMX); without
    it oneDNN emulates bf16 and is *slower* than fp32 (3x slower measured on an AVX-512 Xeon
    without BF16), so ``auto`` keeps fp32 there and says why.
    """
    if requested == "fp32":
        return "fp32", "fp32 as requested"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "bf16 autocast on a GPU that supports it"
        return "fp32", "this GPU has no bf16 support; using fp32"
    if device.type != "cpu":
        return ("bf16", "bf16 as requested") if requested == "bf16" else ("fp32", f"fp32 on {device.type}")
    if machine.native_bf16(cpu_bf16):
        return "bf16", "bf16 autocast: this CPU has native bf16 matmul (AVX512-BF16/AMX)"
    if requested == "bf16":
        return "bf16", ("bf16 as requested, but this CPU has no native bf16 matmul (AVX512-BF16/AMX): "
                        "it is emulated and slower than fp32")
    return "fp32", ("fp32: this CPU has no native bf16 matmul (AVX512-BF16/AMX), where emulated "
                    "bf16 autocast is slower than fp32")


def launch_state() -> PartialState:
    """This process's place in the launch (rank, number of processes, device), as the launcher set it.

    ``accelerate launch --cpu`` marks CPU runs with ACCELERATE_USE_CPU; the first PartialState
    built decides for the whole process, so it must be built with that flag.
    """
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


class LengthGroupedSampler(Sampler[int]):
    """Shuffle, then sort by length within mega-batches (as transformers' group_by_length).

    With dynamic padding a batch costs its longest row times its size; grouping similar lengths
    cuts the padding (often 2x fewer tokens on real text) while the shuffle of examples across
    mega-batches, and of batches within one, keeps the order random enough for SGD. The
    permutation depends only on (seed, epoch), so every process of a distributed run agrees.
    """

    MEGA_BATCHES = 50  # batches per mega-batch, as transformers' LengthGroupedSampler

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0
        # Smaller mega-batches leave more padding: with 4 per epoch (the old rule) a 1,000-sentence
        # SST-2 run computed 352 padded tokens a step for 227 real ones; 50 batches leave ~5%.
        self.mega = batch_size * self.MEGA_BATCHES

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        """accelerate's prepared loader calls this before each epoch (and a resumed run, to go back)."""
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        for start in range(0, len(order), self.mega):
            chunk = sorted(order[start:start + self.mega], key=lambda i: -self.lengths[i])
            batches = [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            for b in torch.randperm(len(batches), generator=g).tolist():
                yield from batches[b]


def evals_per_epoch(config_value: int, model: torch.nn.Module) -> int:
    """Scorings of the validation set per epoch: the config's, or for 0 twice for models of up to 6
    layers and once for deeper ones. A scoring is a forward pass over the validation rows: on 2
    cores a 12-layer encoder's 200 rows take ~6 s, a sixth of what a 1,000-row run's three epochs add
    with two per epoch (bench/README.md, the multilingual encoder)."""
    if config_value:
        return config_value
    config = getattr(getattr(model, "module", model), "config", None)
    return 1 if getattr(config, "num_hidden_layers", 0) > 6 else 2


def _total_steps(epochs: float, steps_per_epoch: int, max_steps: int) -> int:
    total = max(1, math.ceil(epochs * steps_per_epoch))
    return min(total, max_steps) if max_steps else total


def save_atomically(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path) -> Path:
    """Save ``model`` (safetensors) and ``tokenizer`` so ``target`` is never half-written.

    Everything is written to a hidden temp dir beside ``target`` first, then renamed into place
    (a rename within one filesystem is atomic). A failure while writing removes the temp dir
    and leaves the previous ``target`` untouched. A directory can't be renamed over a non-empty
    one, so the old one is moved aside first: a kill between those two renames leaves no
    ``target`` (never a partial one) and the previous model under ``.<name>.old-*``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = target.parent / f".{target.name}.tmp-{tag}"
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _swap_in(tmp, target)


def _swap_in(tmp: Path, target: Path) -> Path:
    """Rename the finished folder ``tmp`` to ``target``, the previous ``target`` removed after."""
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _clean_leftovers(output_dir: Path) -> None:
    """Temp dirs of an earlier run that was killed mid-save."""
    for path in [*output_dir.glob(f".{BEST}.*-*"), *output_dir.glob(f".{CHECKPOINT}.*")]:
        shutil.rmtree(path, ignore_errors=True)


def write_run_metrics(output_dir: Path, data: dict) -> Path:
    """A run's ``metrics.json``, written whole: the one writer every kind of run (and recipe) uses."""
    path = Path(output_dir) / METRICS_FILE
    atomic.write_json(path, data, indent=2, default=str)
    return path


def _acquire_accelerator(precision: str, note: str, log_with: str | None,
                         project_dir: Path) -> tuple[Accelerator, str, str]:
    """An Accelerator for one run, and the precision it really uses (with the reason).

    accelerate keeps one process-wide state, its precision fixed by the first Accelerator. Under
    ``accelerate launch`` there is one run per process and it is used as it is. A worker process
    (and the tests) trains runs one after another with different precisions, so the state is
    reset when no other run is active (``patches.reset_accelerate_state``); a run that overlaps
    another, or any later run where the reset is off, takes the precision already set and says so.
    """
    global _active_runs
    wanted = "bf16" if precision == "bf16" else "no"
    with _STATE_LOCK:
        if launch_state().num_processes == 1 and _active_runs == 0:
            patches.reset_accelerate_state()
        try:
            accelerator = Accelerator(mixed_precision=wanted, log_with=log_with, project_dir=str(project_dir))
        except ValueError:  # the state was made with another precision and stays: use it
            accelerator = Accelerator(log_with=log_with, project_dir=str(project_dir))
            precision = "bf16" if accelerator.mixed_precision == "bf16" else "fp32"
            note = f"{precision}: another training run in this process is using it (one precision per process)"
        _active_runs += 1
    return accelerator, precision, note


def _release_accelerator(accelerator: Accelerator) -> None:
    global _active_runs
    accelerator.free_memory()
    with _STATE_LOCK:
        _active_runs -= 1


def _check_tracker(log_with: str | None) -> None:
    if log_with is None:
        return
    from accelerate.utils import is_mlflow_available, is_tensorboard_available

    available = {"tensorboard": is_tensorboard_available, "mlflow": is_mlflow_available}
    if log_with not in available:
        raise LabInputError(f"log_with must be one of {', '.join(TRACKERS)} (got {log_with!r}).")
    if not available[log_with]():
        raise LabInputError(f"{log_with} is not installed: pip install {log_with}, or drop log_with.")


# ----------------------------------------------------------------------------------- tasks

@dataclass
class Features:
    """One split as model inputs: the rows the loader reads, and what maps them back to examples."""

    dataset: Dataset  # only the columns the collator pads and the model takes (labels included)
    cache_hit: bool | None = None  # None: this task doesn't cache its features
    meta: Any = None  # the task's own: word ids per row (NER), windows per row (QA)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.dataset["input_ids"]]


@dataclass
class Evaluation:
    """One scoring of a split: mean loss, the metrics events carry, the full report, raw outputs."""

    loss: float
    metrics: dict  # what eval events and best_metrics hold (besides val_loss, step, epoch)
    report: dict  # the split's report (TrainResult.val_report / test_report, without the loss)
    outputs: Any = None  # what ``mistakes`` needs (probabilities, predicted tags, answers)


class Task(Protocol):
    """What the loop needs to know about a task; everything else (the accelerate loop, strategies,
    precision, best checkpoint, cancel, time limit, metrics.json) is shared.

    ``training.tasks.tasks`` (``ClassificationTask``, ``TokenClassificationTask``, ``QuestionAnsweringTask``)
    and the fill-mask recipe's ``MaskedLMTask`` implement it.
    """

    name: str  # "classification" | "ner" | "qa" | "fill-mask" (the recipe's MaskedLMTask)
    auto_class: type  # the Auto class the saved checkpoint loads with
    label_names: list[str]  # id2label order, written into the model config ([] for QA)

    def check(self, config: TrainConfig, train, val, test) -> None: ...

    def build_model(self, source: str, from_scratch: bool, seed: int) -> PreTrainedModel: ...

    def features(self, data, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_dir: Path | None,
                 training: bool) -> Features: ...

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Callable: ...

    def class_weights(self, config: TrainConfig, train) -> list[float] | None: ...

    def loss(self, model, batch: dict, weight: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        """(mean loss of the batch, examples in it); pops the label columns off ``batch``."""

    def evaluate(self, model, loader: DataLoader, order: np.ndarray, features: Features, data,
                 accelerator: Accelerator) -> Evaluation: ...

    def is_better(self, metrics: dict, best: dict | None) -> bool: ...

    # The metric in which one validation example is worth 1/len(validation) (accuracy; F1 per
    # question or sentence): two checkpoints this close are a tie that the validation loss breaks
    # (``keeps``). None: ``is_better`` alone decides.
    tie_metric: str | None

    def mistakes(self, evaluation: Evaluation, data) -> list[dict]: ...

    def test_metrics(self, report: dict) -> dict:
        """The test_* numbers the "done" event adds to the best checkpoint's metrics."""

    def extra(self) -> dict:
        """Task settings recorded in TrainResult.extra and metrics.json (e.g. label_all_pieces)."""


def keeps(task: Task, candidate: dict, best: dict | None, top: float | None, n_val: int) -> bool:
    """Whether a new evaluation replaces the kept checkpoint.

    The task's rule (``is_better``) decides, except between near-ties: two checkpoints within one
    validation example of each other in ``task.tie_metric`` (1/``n_val``), both within one example
    of the best score seen so far (``top``). One row on a few hundred is luck, so there the lower
    validation loss wins: of two models that label the same rows right, the one that is sure of
    its right answers (a loss of 0.07, not 0.52) is the one a student can use.
    """
    if best is None:
        return True
    key = getattr(task, "tie_metric", None)
    if key and n_val and all(key in m and "val_loss" in m for m in (candidate, best)):
        one = 1 / n_val + 1e-9
        top = max(candidate[key], best[key], top if top is not None else best[key])
        if abs(candidate[key] - best[key]) <= one and candidate[key] >= top - one:
            return candidate["val_loss"] < best["val_loss"]
    return task.is_better(candidate, best)


def _eval_loader(tokenized, collator, batch_size: int) -> tuple[DataLoader, np.ndarray]:
    """Rows sorted by length (least padding); ``order`` maps loader positions to rows."""
    order = np.argsort([-len(ids) for ids in tokenized["input_ids"]], kind="stable")
    loader = DataLoader(tokenized.select(order.tolist()), batch_size=batch_size, shuffle=False,
                        collate_fn=collator)
    return loader, order


def run_task(
    task: Task,
    config: TrainConfig,
    train,
    val,
    output_dir: str | Path,
    test=None,
    on_event: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
    log_with: str | None = None,
    *,
    hub_online: bool | None = None,
    local_models: dict[str, str] | None = None,
    long_run: LongRun | None = None,
) -> TrainResult:
    """Fine-tune ``config.base_model`` for ``task``: the shared body of every ``train_*`` function.

    ``task.check`` refuses unusable data before anything is loaded; then the base model is
    resolved through the registry, the precision chosen once, and the run gets its Accelerator.
    ``val`` None trains without held-out data and keeps the last weights (a final run whose
    schedule an earlier run chose). ``long_run`` adds what the recipes' hour-long runs need.
    """
    t_start = _now()
    settings = settings or Settings()  # the host's come from the caller; these are the defaults
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(settings.cache_dir) / "tokenized"
    output_dir = Path(output_dir)
    task.check(config, train, val, test)
    _check_tracker(log_with)
    source, display = resolve_base_model(config, settings, hub_online, local_models)
    notice = None
    if source == str(registry.embedded_encoder_dir()) and (config.base_model or "default") not in (
            "default", registry.EMBEDDED, registry.EMBEDDED_NAME):
        notice = msg("msg.training.loop.hub_unreachable", model=config.base_model, display=display)
        log.warning(notice)

    precision, precision_note = choose_precision(config.precision, launch_state().device, settings.cpu_bf16)
    accelerator, precision, precision_note = _acquire_accelerator(precision, precision_note, log_with, output_dir)
    try:
        origin = _Origin(source, display, notice, precision, precision_note, t_start)
        return _Run(task, config, train, val, test, output_dir, on_event, should_stop, cache_dir, log_with,
                    accelerator, origin, long_run or LongRun()).execute()
    finally:
        _release_accelerator(accelerator)


@dataclass
class _Origin:
    """Where a run's model came from and how it computes: decided by ``run_task`` before the loop."""

    source: str  # what from_pretrained loads
    display: str  # the name the UI shows
    notice: str | None  # why another model trained instead (a Message), or None
    precision: str
    precision_note: str
    t_start: float


class _Run:
    """One run once it has its Accelerator: ``execute`` sets it up, trains it and reports it.

    The run's state (step, best evaluation, history, timings) lives on the object, so evaluating,
    checkpointing and the training step read and change the same fields.
    """

    def __init__(self, task: Task, config: TrainConfig, train, val, test, output_dir: Path, on_event, should_stop,
                 cache_dir, log_with: str | None, accelerator: Accelerator, origin: _Origin, long_run: LongRun):
        self.task, self.config, self.train_data, self.val, self.test = task, config, train, val, test
        self.output_dir, self.best_dir = output_dir, output_dir / BEST
        self.on_event, self.should_stop, self.cache_dir, self.log_with = on_event, should_stop, cache_dir, log_with
        self.accelerator, self.origin, self.long_run = accelerator, origin, long_run
        self.main = accelerator.is_main_process
        self.history: list[dict] = []
        self.best: dict | None = None
        self.best_eval: Evaluation | None = None
        self.saved: dict = {}  # a resumed run's best report and mistakes (its Evaluation is not kept)
        self.step, self.last_eval_step, self.examples = 0, -1, 0
        self.before = 0.0  # seconds the run had trained before it was resumed
        self.stopped: str | None = None
        self.timings = {"eval_s": 0.0, "save_s": 0.0, "train_s": 0.0}

    def execute(self) -> TrainResult:
        if self.main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            _clean_leftovers(self.output_dir)
        self._load()
        self._prepare()
        if self.long_run.resume and (self.output_dir / CHECKPOINT / LOOP_STATE).is_file():
            self._resume()
        self._train()
        return self._report()

    def emit(self, event: ProgressEvent, record: bool = True) -> None:
        if record:
            self.history.append(asdict(event))
        if self.main and self.on_event is not None:
            self.on_event(event)

    def elapsed(self) -> float:
        return self.before + _now() - self.t_train

    # ---- model, tokenizer and data
    def _load(self) -> None:
        t0 = _now()
        source = self.origin.source
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        except OSError as exc:
            raise ModelLoadError(msg("msg.training.loop.tokenizer_failed", source=source,
                                     reason=str(exc).splitlines()[0][:300])) from exc
        if self.long_run.model is not None:  # built by the caller, its trainable parts chosen (training.engine.strategies)
            self.model = self.long_run.model
            self.trainable_params, self.total_params = count(self.model)
        else:
            self.model = self.task.build_model(source, self.config.from_scratch, self.config.seed)
            self.trainable_params, self.total_params = apply_strategy(self.model, self.config)
        self.timings["load_s"] = _now() - t0

        # classification is tokenized once per (content, tokenizer, max_length) and cached on disk
        self.max_length = self.config.max_length
        if self.tokenizer.model_max_length and self.tokenizer.model_max_length < 100_000:
            self.max_length = min(self.max_length, self.tokenizer.model_max_length)
        t0 = _now()

        def features(data, training: bool) -> Features | None:
            if data is None:
                return None
            return self.task.features(data, self.tokenizer, self.max_length, self.cache_dir, training=training)

        with self.accelerator.main_process_first():  # the main process fills the cache, the others read it
            self.train_feats = features(self.train_data, True)
            self.val_feats, self.test_feats = features(self.val, False), features(self.test, False)
        self.timings["tokenize_s"] = _now() - t0

    # ---- optimizer, schedule, loaders, all through accelerate.prepare
    def _prepare(self) -> None:
        config, accelerator, model = self.config, self.accelerator, self.model
        self.collator = self.task.collator(self.tokenizer)
        train_loader = DataLoader(self.train_feats.dataset, batch_size=config.batch_size, collate_fn=self.collator,
                                  sampler=LengthGroupedSampler(self.train_feats.lengths, config.batch_size, config.seed))
        val_loader, self.val_order = (_eval_loader(self.val_feats.dataset, self.collator, config.batch_size * 2)
                                      if self.val_feats is not None else (None, None))

        # as the no_trainer examples: no decay on biases and LayerNorm
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        # On one CPU process only the word-embedding rows a batch used are updated (sparse_embeddings).
        self.lazy = (lazy_adamw_ok(accelerator.num_processes, accelerator.device)
                     and sparse_word_embeddings(model) is not None)
        groups = self.long_run.param_groups(model) if self.long_run.param_groups is not None else [
            {"params": [p for n, p in params if not any(nd in n for nd in NO_DECAY)],
             "weight_decay": config.weight_decay},
            {"params": [p for n, p in params if any(nd in n for nd in NO_DECAY)], "weight_decay": 0.0},
        ]
        optimizer = (LazyAdamW if self.lazy else torch.optim.AdamW)(
            groups, lr=config.learning_rate, fused=fused_adamw_ok([p for _, p in params]))
        # The scheduler is built on the un-sharded step count: accelerate's prepared scheduler steps
        # once per process for every optimizer step, so these totals line up with the sharded loop.
        total_all = _total_steps(config.epochs, len(train_loader), self.long_run.max_steps)
        scheduler = get_scheduler("linear", optimizer, num_warmup_steps=round(config.warmup_ratio * total_all),
                                  num_training_steps=total_all)

        self.model, self.optimizer, self.train_loader, self.scheduler = accelerator.prepare(
            model, optimizer, train_loader, scheduler)
        self.val_loader = accelerator.prepare_data_loader(val_loader) if val_loader is not None else None
        # The training loader is sharded now: recompute the per-process step counts.
        self.steps_per_epoch = len(self.train_loader)
        self.total_steps = _total_steps(config.epochs, self.steps_per_epoch, self.long_run.max_steps)
        self.eval_every = self.long_run.eval_every or max(
            1, self.steps_per_epoch // evals_per_epoch(config.evals_per_epoch, accelerator.unwrap_model(self.model)))

        self.class_weights = self.task.class_weights(config, self.train_data)
        self.weight = torch.tensor(self.class_weights, device=accelerator.device) if self.class_weights else None
        if self.log_with:
            accelerator.init_trackers("bert-transfer-lab", config={
                **asdict(config), "base_model_source": self.origin.source, "task": self.task.name})
        # Dropout masks from numpy's faster generator on a CPU (fast_dropout.py), seeded by the run;
        # its generator is part of a checkpoint, so a resumed run draws the masks it would have drawn.
        self.dropout = FastDropout(self.model, config.seed * 1_000 + accelerator.process_index,
                                   enabled=accelerator.device.type == "cpu")
        accelerator.register_for_checkpointing(self.dropout)

    # ---- resumable checkpoints: accelerate's save_state + the loop's own counters
    def _resume(self) -> None:
        checkpoint_dir = self.output_dir / CHECKPOINT
        self.accelerator.load_state(str(checkpoint_dir))  # weights, optimizer, schedule, RNGs, dropout generator
        state = json.loads((checkpoint_dir / LOOP_STATE).read_text())
        self.step, self.best, self.history[:], self.before = (state[k] for k in ("step", "best", "history", "seconds"))
        self.saved = {"report": state["best_report"], "mistakes": state["best_mistakes"]}
        if self.best is not None and self.best["step"] == self.step:
            self.last_eval_step = self.step
        # The learning rate of this step under this run's schedule (a resumed run may train longer
        # than the one that saved the checkpoint, whose last rate was its schedule's end).
        self.scheduler.scheduler.last_epoch -= 1
        self.scheduler.scheduler.step()
        log.info("resumed at step %d of %d (%.0f s already spent)", self.step, self.total_steps, self.before)

    def checkpoint(self) -> None:
        """Written to a temp folder and swapped in whole, so a kill never leaves half a checkpoint."""
        tmp = self.output_dir / f".{CHECKPOINT}.tmp"
        self.accelerator.save_state(str(tmp))
        if self.main:
            best_eval = self.best_eval
            (tmp / LOOP_STATE).write_text(json.dumps({
                "step": self.step, "best": self.best, "history": self.history, "seconds": self.elapsed(),
                "best_report": best_eval.report if best_eval is not None else self.saved.get("report"),
                "best_mistakes": (self.task.mistakes(best_eval, self.val) if best_eval is not None
                                  else self.saved.get("mistakes")),
            }, default=str))
            _swap_in(tmp, self.output_dir / CHECKPOINT)
        self.accelerator.wait_for_everyone()

    # ---- evaluation: score the validation set, keep the best weights in best/
    def evaluate(self) -> None:
        accelerator, step = self.accelerator, self.step
        t = _now()
        evaluation = (self.task.evaluate(self.model, self.val_loader, self.val_order, self.val_feats, self.val,
                                         accelerator) if self.val is not None else None)
        metrics = {"val_loss": evaluation.loss, **evaluation.metrics} if evaluation is not None else {}
        self.timings["eval_s"] += _now() - t
        self.last_eval_step = step
        epoch = step / self.steps_per_epoch
        key = getattr(self.task, "tie_metric", None)
        top = max((h["metrics"][key] for h in self.history if h.get("kind") == "eval" and key in (h.get("metrics") or {})),
                  default=None)
        if evaluation is None or keeps(self.task, metrics, self.best, top, len(self.val)):  # no held-out data: the last weights
            self.best = {"step": step, "epoch": epoch, **metrics}
            self.best_eval, self.saved = evaluation, {}
            t = _now()
            accelerator.wait_for_everyone()
            if self.main:
                save_atomically(_model_to_save(accelerator.unwrap_model(self.model)), self.tokenizer, self.best_dir)
            self.timings["save_s"] += _now() - t
        if self.log_with:
            accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=step)
        self.emit(ProgressEvent("eval", step, self.total_steps, epoch, elapsed_s=self.elapsed(),
                                metrics={**metrics, "is_best": self.best["step"] == step}))

    # ---- the loop
    def _train(self) -> None:
        accelerator, model, optimizer, scheduler, long_run = (
            self.accelerator, self.model, self.optimizer, self.scheduler, self.long_run)
        self.t_train = _now()
        deadline = self.t_train + self.config.max_train_minutes * 60 - self.before
        last_checkpoint, first_step = self.t_train, self.step
        if long_run.evaluate_first and self.step == 0:
            self.evaluate()  # the starting point, e.g. a fresh head over the pre-trained encoder
        # Clipping to norm 1 (as the Trainer): with the lazy optimizer, without extra passes (grad_clip.py).
        clipper = GradClipper(model.parameters(), 1.0) if self.lazy else None
        model.train()
        epoch, skip = divmod(self.step, self.steps_per_epoch)
        while self.step < self.total_steps and self.stopped is None:
            # The sampler's order is a function of (seed, epoch): a resumed run skips to where it was.
            self.train_loader.set_epoch(epoch)
            for batch in accelerator.skip_first_batches(self.train_loader, skip) if skip else self.train_loader:
                t = _now()
                with self.dropout:
                    loss, n_examples = self.task.loss(model, batch, self.weight)
                accelerator.backward(loss)
                if clipper is not None:  # the norm was summed during backward; AdamW applies the factor
                    optimizer.optimizer.scale_next_step(clipper.factor()[1])
                else:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                self.timings["train_s"] += _now() - t
                self.examples += n_examples * accelerator.num_processes
                self.step += 1
                step = self.step

                lr = scheduler.get_last_lr()[0]
                self.emit(ProgressEvent("step", step, self.total_steps, step / self.steps_per_epoch, loss=loss.item(),
                                        lr=lr, elapsed_s=self.elapsed(),
                                        eta_s=(_now() - self.t_train) / (step - first_step) * (self.total_steps - step)))
                if self.log_with:
                    accelerator.log({"train/loss": loss.item(), "train/lr": lr}, step=step)
                if self.val is not None and (step % self.eval_every == 0 or step == self.total_steps):
                    self.evaluate()

                # Every process must agree to stop, or the others would wait forever in a collective.
                if self.should_stop is not None and self.should_stop():
                    self.stopped = "cancelled"
                    accelerator.set_trigger()
                elif _now() > deadline:
                    self.stopped = "time limit"
                    accelerator.set_trigger()
                if accelerator.check_trigger():
                    self.stopped = self.stopped or "cancelled"
                    break
                if long_run.checkpoint_minutes is not None and _now() - last_checkpoint > long_run.checkpoint_minutes * 60:
                    self.checkpoint()
                    last_checkpoint = _now()
                if step >= self.total_steps:
                    break
            epoch, skip = epoch + 1, 0

        if clipper is not None:
            clipper.remove()
        # A time-limited run is scored on its last weights; a cancelled one only when nothing was
        # kept yet (Cancel should return quickly).
        if self.best is None or (self.step != self.last_eval_step and self.stopped != "cancelled"):
            self.evaluate()
        if long_run.checkpoint_minutes is not None:
            self.checkpoint()  # a later --resume with more steps goes on from here
        accelerator.wait_for_everyone()

    # ---- final reports: validation from the best evaluation, test with the saved best model
    def _report(self) -> TrainResult:
        task, accelerator, best, config, origin = self.task, self.accelerator, self.best, self.config, self.origin
        assert best is not None
        report = self.best_eval.report if self.best_eval is not None else self.saved.get("report") or {}
        val_report = {**report, "val_loss": best["val_loss"]} if "val_loss" in best else report
        misclassified = (task.mistakes(self.best_eval, self.val) if self.best_eval is not None
                         else self.saved.get("mistakes")) or []
        test_report = None
        if self.test is not None:
            with MODEL_LOAD_LOCK:
                best_model = task.auto_class.from_pretrained(self.best_dir, use_safetensors=True)
            test_loader, test_order = _eval_loader(self.test_feats.dataset, self.collator, config.batch_size * 2)
            best_model = accelerator.prepare_model(best_model, evaluation_mode=True)
            test_loader = accelerator.prepare_data_loader(test_loader)
            evaluation = task.evaluate(best_model, test_loader, test_order, self.test_feats, self.test, accelerator)
            test_report = {**evaluation.report, "test_loss": evaluation.loss}

        seconds = self.before + _now() - origin.t_start
        self.timings["total_s"] = seconds
        train_s = self.timings["train_s"]
        examples_per_second = self.examples / train_s if train_s else 0.0
        done_metrics = {**best}
        if test_report is not None:
            done_metrics.update(task.test_metrics(test_report))

        def cache_state(features: Features | None) -> str:
            return "off" if features is None or features.cache_hit is None else "hit" if features.cache_hit else "miss"

        extra = {
            "task": task.name, **task.extra(), "base_model": origin.display, "base_model_source": origin.source,
            "notice": origin.notice, "max_length": self.max_length, "train_rows": len(self.train_feats.dataset),
            "tokenize_cache": {"train": cache_state(self.train_feats), "validation": cache_state(self.val_feats)},
            "timings": self.timings, "steps_done": self.step, "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch, "num_processes": accelerator.num_processes,
            "lora_merged": has_lora(accelerator.unwrap_model(self.model)),
        }
        result = TrainResult(
            output_dir=self.output_dir, best_dir=self.best_dir, history=self.history, best_metrics=best,
            val_report=val_report, test_report=test_report, misclassified=misclassified,
            class_weights=self.class_weights, trainable_params=self.trainable_params, total_params=self.total_params,
            seconds=seconds, examples_per_second=examples_per_second, precision=origin.precision,
            stopped_early=self.stopped, precision_note=origin.precision_note,
            metrics_path=self.output_dir / METRICS_FILE, extra=extra,
        )
        if self.main:
            label_names = list(task.label_names)
            write_run_metrics(self.output_dir, {
                "config": asdict(config), "labels": label_names, **label_kwargs(label_names),
                "best_metrics": best, "val_report": val_report, "test_report": test_report,
                "misclassified": misclassified, "class_weights": self.class_weights,
                "trainable_params": self.trainable_params, "total_params": self.total_params,
                "precision": origin.precision, "precision_note": origin.precision_note, "stopped_early": self.stopped,
                "seconds": seconds, "examples_per_second": examples_per_second, **extra, "history": self.history,
            })
        self.emit(ProgressEvent("done", self.step, self.total_steps, self.step / self.steps_per_epoch,
                                elapsed_s=seconds, eta_s=0.0, metrics=done_metrics), record=False)
        if self.log_with:
            accelerator.end_training()
        return result


def _model_to_save(model: PreTrainedModel) -> PreTrainedModel:
    """The plain model ``save_pretrained`` should write: LoRA merged into a copy, if any."""
    if not has_lora(model):
        return model
    merged = merged_copy(model)
    # accelerate's mixed-precision wrapper on ``forward`` was copied along; the copy is only
    # saved, but drop it so it behaves as a normal model if anyone runs it.
    merged.__dict__.pop("forward", None)
    merged.__dict__.pop("_original_forward", None)
    return merged
