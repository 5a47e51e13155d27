"""The fine-tuning loop on accelerate (no ``Trainer``): classification here, NER and QA in training.tasks.

Shared by the Fine-tune tab (events drive its live curves, ``should_stop`` is its Cancel) and
the CLI (``python -m training``; ``accelerate launch -m training`` on several GPUs/nodes). It
follows transformers' ``run_glue_no_trainer.py``: model, optimizer, loaders and scheduler are
prepared together, step counts are recomputed after ``prepare``, tokenization runs under
``main_process_first``, and only the main process writes files and reports progress.

The loop itself is task-agnostic: a ``Task`` says how to build the model, turn data into
features, compute the loss and score a split; best checkpoint, cancel, time limit, precision,
atomic save and metrics.json are the same code for every task.
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
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.utils import parse_flag_from_env, set_seed
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_scheduler,
)

import patches
from lab import attn_impl, logs, machine, registry
from lab.errors import LabInputError, ModelLoadError
from lab.i18n import msg
from lab.loading import MODEL_LOAD_LOCK
from lab.settings import Settings
from training.cache import tokenize
from training.config import TrainConfig
from training.dataset import TextDataset
from training.fast_dropout import FastDropout
from training.first_token import first_token_only
from training.grad_clip import GradClipper
from training.metrics import classification_report, is_better
from training.sparse_embeddings import LazyAdamW, lazy_adamw_ok, sparse_word_embeddings
from training.strategies import apply_strategy, count, has_lora, merged_copy

log = logging.getLogger(__name__)

BEST = "best"
METRICS_FILE = "metrics.json"
CHECKPOINT = "checkpoint"  # accelerate's save_state folder of a resumable run
LOOP_STATE = "loop_state.json"  # in it: the loop's own counters (step, best, history, seconds)
# Parameters AdamW does not decay (as transformers' no_trainer examples).
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "layernorm.weight")
MAX_MISCLASSIFIED = 200  # kept in the result and metrics.json, most confident mistakes first
TRACKERS = ("tensorboard", "mlflow")
# The held-out sets by name, as messages name them ("The validation set's labels ...").
SPLITS = {"validation": msg("msg.training.loop.split.validation"), "test": msg("msg.training.loop.split.test")}

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

    model: PreTrainedModel | None = None  # built by the caller, its trainable parts set (training.strategies)
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
    # The best checkpoint's validation report (+ val_loss): training.metrics.classification_report,
    # training.ner_metrics.entity_report or the QA report of training.tasks
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


def compute_class_weights(labels: list[int], num_labels: int) -> list[float]:
    """Inverse class frequency, normalised so the classes present average 1.

    A class with half as many examples counts twice as much in the loss. A class absent from
    ``labels`` gets 0 (it never appears as a target, so its weight would never be used).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels).astype(np.float64)
    present = counts > 0
    if not present.any():
        raise LabInputError(msg("msg.training.loop.no_labelled_examples"))
    weights = np.zeros(num_labels)
    weights[present] = 1.0 / counts[present]
    weights[present] /= weights[present].mean()
    return [float(w) for w in weights]


def choose_precision(requested: str, device: torch.device) -> tuple[str, str]:
    """("bf16" | "fp32", reason). Decided once per run, before the Accelerator is built.

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
    if machine.native_bf16():
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


def _hub_online(settings: Settings) -> bool:
    """Probed once per process (callers that know, like the app, pass ``hub_online`` instead)."""
    if settings.offline:
        return False
    return _hub_status(settings.hub_timeout_s).online


@lru_cache(maxsize=4)
def _hub_status(timeout_s: float):
    from lab.hub import HubStatus

    return HubStatus(Settings(hub_timeout_s=timeout_s))


def resolve_base_model(
    config: TrainConfig,
    settings: Settings,
    hub_online: bool | None = None,
    local_models: dict[str, str] | None = None,
) -> tuple[str, str]:
    """(source for from_pretrained, display name) of ``config.base_model`` via the registry."""
    online = _hub_online(settings) if hub_online is None else hub_online
    ref = registry.resolve("finetune-base", config.base_model, settings, online, local_models)
    if ref.kind == "embedded":
        return str(registry.embedded_encoder_dir()), ref.display
    return ref.id, ref.display


def _label_kwargs(label_names: list[str]) -> dict:
    return {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
            "label2id": {name: i for i, name in enumerate(label_names)}}


def build_model(source: str, label_names: list[str], from_scratch: bool, seed: int,
                auto_class=AutoModelForSequenceClassification) -> PreTrainedModel:
    """A model of ``auto_class`` on ``source``: pretrained weights + a new head, or all random.

    ``label_names`` go into the config as id2label/label2id (empty for QA, whose head has 2 outputs).
    """
    kwargs = _label_kwargs(label_names) if label_names else {}
    with MODEL_LOAD_LOCK:  # never two loads at once in this process (see lab.loading)
        return _build_model(source, kwargs, from_scratch, seed, auto_class)


def _log_new_weights(model: PreTrainedModel, info: dict, source: str) -> None:
    """One line for the fresh head fine-tuning expects; a warning when the encoder itself lacks weights
    (a checkpoint of another architecture would then train from partly random weights)."""
    fresh = sorted(set(info["missing_keys"]) | {key for key, *_ in info.get("mismatched_keys", [])})
    encoder = [key for key in fresh if key.startswith(model.base_model_prefix + ".")]
    if encoder:
        log.warning("%s lacks %d encoder weights (%s...): they start random", source, len(encoder),
                    ", ".join(encoder[:3]))
    log.info("base %s: new %s weights %s", source, type(model).__name__, ", ".join(fresh) or "none")


def _build_model(source: str, kwargs: dict, from_scratch: bool, seed: int, auto_class) -> PreTrainedModel:
    set_seed(seed)  # the new head's (or, from scratch, every) initialisation
    try:
        # lab_sdpa attention: SDPA, with the attention dropout's masks from FastDropout's generator
        # while training (lab.attn_impl); a class that refuses it keeps transformers' default.
        if from_scratch:
            # Same architecture and size, random init: what pre-training buys, at the same budget.
            config = AutoConfig.from_pretrained(source, trust_remote_code=False, **kwargs)
            return attn_impl.from_pretrained(lambda **attn: auto_class.from_config(config, **attn), fallback=None)
        with logs.own_head_checks():
            model, info = attn_impl.from_pretrained(lambda **attn: auto_class.from_pretrained(
                source, use_safetensors=True, trust_remote_code=False, output_loading_info=True,
                # a checkpoint with a head for other labels gets a fresh head of the right size
                ignore_mismatched_sizes=True, **attn, **kwargs), fallback=None)
        _log_new_weights(model, info, source)
        return model
    except OSError as exc:
        raise ModelLoadError(msg("msg.training.loop.base_model_failed", source=source,
                                 reason=str(exc).splitlines()[0][:300])) from exc
    except ValueError as exc:
        what = {"AutoModelForTokenClassification": msg("msg.training.loop.what.token_classification"),
                "AutoModelForQuestionAnswering": msg("msg.training.loop.what.question_answering"),
                }.get(auto_class.__name__) or msg("msg.training.loop.what.classification")
        raise LabInputError(msg("msg.training.loop.cannot_fine_tune", source=source, what=what,
                                reason=str(exc)[:300])) from exc


def count_parameters(
    config: TrainConfig,
    num_labels: int,
    settings: Settings | None = None,
    hub_online: bool | None = None,
    local_models: dict[str, str] | None = None,
    *,
    task: str = "classification",
) -> tuple[int, int]:
    """(trainable, total) parameters for ``config``'s model and strategy, without training.

    The model is built on the meta device (shapes only, no weights read, no memory used), so
    the UI can call this whenever the strategy, freeze_layers or lora_r changes. ``task`` is
    "classification", "ner" (``num_labels`` = tags) or "qa" (``num_labels`` is ignored).
    """
    settings = settings or Settings.from_env()
    source, _ = resolve_base_model(config, settings, hub_online, local_models)
    return _count_parameters(source, config.strategy, config.freeze_layers, config.lora_r, num_labels, task)


_AUTO_CLASSES = {"classification": "AutoModelForSequenceClassification", "ner": "AutoModelForTokenClassification",
                 "qa": "AutoModelForQuestionAnswering"}


@lru_cache(maxsize=64)
def _count_parameters(source: str, strategy: str, freeze_layers: int, lora_r: int, num_labels: int,
                      task: str = "classification"):
    import transformers

    labels = _label_kwargs([str(i) for i in range(num_labels)]) if task != "qa" else {}
    model_config = AutoConfig.from_pretrained(source, trust_remote_code=False, **labels)
    with MODEL_LOAD_LOCK, torch.device("meta"):
        model = getattr(transformers, _AUTO_CLASSES[task]).from_config(model_config)
    probe = TrainConfig(strategy=strategy, freeze_layers=freeze_layers, lora_r=lora_r)
    return apply_strategy(model, probe)


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


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


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

    ``training.loop.ClassificationTask``, ``training.tasks.TokenClassificationTask`` and
    ``training.tasks.QuestionAnsweringTask`` implement it.
    """

    name: str  # "classification" | "ner" | "qa"
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

    def mistakes(self, evaluation: Evaluation, data) -> list[dict]: ...

    def test_metrics(self, report: dict) -> dict:
        """The test_* numbers the "done" event adds to the best checkpoint's metrics."""

    def extra(self) -> dict:
        """Task settings recorded in TrainResult.extra and metrics.json (e.g. label_all_pieces)."""


def _check_data(train: TextDataset, val: TextDataset, test: TextDataset | None) -> None:
    if len(train.label_names) < 2:
        raise LabInputError(msg("msg.training.loop.two_labels"))
    if len(train) == 0 or (val is not None and len(val) == 0):
        raise LabInputError(msg("msg.training.loop.empty_split"))
    for name, part in ((SPLITS["validation"], val), (SPLITS["test"], test)):
        if part is not None and list(part.label_names) != list(train.label_names):
            raise LabInputError(msg("msg.training.loop.labels_differ", split=name, labels=str(part.label_names),
                                    train_labels=str(train.label_names)))


@torch.no_grad()
def _predict(model, loader, accelerator: Accelerator) -> tuple[np.ndarray, np.ndarray, float]:
    """(probabilities (n, num_labels), true labels (n,), mean cross-entropy) in loader order."""
    model.eval()
    all_logits, all_labels = [], []
    for batch in loader:
        labels = batch.pop("labels")
        with first_token_only(model):  # the logits read position 0 of the last layer only
            logits = model(**batch).logits.float()  # (batch, num_labels)
        # gather_for_metrics drops the samples accelerate duplicated to even out the last batch
        logits, labels = accelerator.gather_for_metrics((logits, labels))
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    model.train()
    logits, labels = torch.cat(all_logits), torch.cat(all_labels)
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    return torch.softmax(logits, dim=-1).numpy(), labels.numpy(), loss


def _eval_loader(tokenized, collator, batch_size: int) -> tuple[DataLoader, np.ndarray]:
    """Rows sorted by length (least padding); ``order`` maps loader positions to rows."""
    order = np.argsort([-len(ids) for ids in tokenized["input_ids"]], kind="stable")
    loader = DataLoader(tokenized.select(order.tolist()), batch_size=batch_size, shuffle=False,
                        collate_fn=collator)
    return loader, order


def _in_row_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[order] = values
    return out


def _misclassified(data: TextDataset, probs: np.ndarray) -> list[dict]:
    preds = probs.argmax(axis=1)
    wrong = [i for i in range(len(data)) if preds[i] != data.labels[i]]
    wrong.sort(key=lambda i: -probs[i, preds[i]])  # confident mistakes are the instructive ones
    return [{"row": data.rows[i], "text": data.texts[i], "true": data.label_names[data.labels[i]],
             "predicted": data.label_names[preds[i]], "confidence": round(float(probs[i, preds[i]]), 4)}
            for i in wrong[:MAX_MISCLASSIFIED]]


class ClassificationTask:
    """Sequence classification: one label per text (``train_classifier``)."""

    name = "classification"
    auto_class = AutoModelForSequenceClassification

    def __init__(self, label_names: list[str]):
        self.label_names = list(label_names)

    def check(self, config: TrainConfig, train: TextDataset, val: TextDataset, test: TextDataset | None) -> None:
        _check_data(train, val, test)

    def build_model(self, source: str, from_scratch: bool, seed: int) -> PreTrainedModel:
        return build_model(source, self.label_names, from_scratch, seed)

    def features(self, data: TextDataset, tokenizer, max_length: int, cache_dir: Path | None,
                 training: bool) -> Features:
        dataset, hit = tokenize(data, tokenizer, max_length, cache_dir)
        return Features(dataset, hit)

    def collator(self, tokenizer):
        # Dynamic padding: each batch is padded to its own longest row, not to max_length. Rounding
        # up to a multiple of 8 costs < 8 pad tokens per row but keeps shapes aligned for the fast
        # bf16/fp16 kernels (tensor cores, AMX tiles) and limits how many distinct shapes occur.
        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple())

    def class_weights(self, config: TrainConfig, train: TextDataset) -> list[float] | None:
        return compute_class_weights(train.labels, len(self.label_names)) if config.class_weights else None

    def loss(self, model, batch: dict, weight: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        labels = batch.pop("labels")
        with first_token_only(model):  # same logits and gradients, ~14% less work (first_token.py)
            logits = model(**batch).logits  # (batch, num_labels)
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight), len(labels)

    def evaluate(self, model, loader, order, features, data: TextDataset, accelerator) -> Evaluation:
        probs, _, loss = _predict(model, loader, accelerator)
        probs = _in_row_order(probs, order)
        report = classification_report(data.labels, probs.argmax(axis=1).tolist(), self.label_names)
        return Evaluation(loss, {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}, report, probs)

    def is_better(self, metrics: dict, best: dict | None) -> bool:
        return is_better(metrics, best)

    def mistakes(self, evaluation: Evaluation, data: TextDataset) -> list[dict]:
        return _misclassified(data, evaluation.outputs)

    def test_metrics(self, report: dict) -> dict:
        return {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"]}

    def extra(self) -> dict:
        return {}


def train_classifier(
    config: TrainConfig,
    train: TextDataset,
    val: TextDataset,
    output_dir: str | Path,
    test: TextDataset | None = None,
    **run_options,
) -> TrainResult:
    """Fine-tune ``config.base_model`` on ``train``, keep the best checkpoint by validation.

    The best checkpoint (macro F1, ties by accuracy) is saved to ``output_dir/best`` whenever it
    improves, atomically, as a plain transformers model with its tokenizer and label names.
    ``should_stop`` is polled after every step, and ``config.max_train_minutes`` caps the
    training time: either way the run ends cleanly with the best checkpoint so far.
    ``output_dir/metrics.json`` holds the history, best/test metrics, config and timings.
    ``run_options`` are ``run_task``'s (progress events, stop flag, settings, caches, tracker).
    """
    return run_task(ClassificationTask(train.label_names), config, train, val, output_dir, test, **run_options)


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
    settings = settings or Settings.from_env()
    output_dir = Path(output_dir)
    task.check(config, train, val, test)
    _check_tracker(log_with)
    source, display = resolve_base_model(config, settings, hub_online, local_models)
    notice = None
    if source == str(registry.embedded_encoder_dir()) and (config.base_model or "default") not in (
            "default", registry.EMBEDDED, registry.EMBEDDED_NAME):
        notice = msg("msg.training.loop.hub_unreachable", model=config.base_model, display=display)
        log.warning(notice)

    precision, precision_note = choose_precision(config.precision, launch_state().device)
    accelerator, precision, precision_note = _acquire_accelerator(precision, precision_note, log_with, output_dir)
    try:
        return _run(task, config, train, val, test, output_dir, on_event, should_stop, cache_dir, log_with,
                    accelerator, source, display, notice, precision, precision_note, t_start, long_run or LongRun())
    finally:
        _release_accelerator(accelerator)


def _run(task: Task, config: TrainConfig, train, val, test, output_dir: Path,
         on_event, should_stop, cache_dir, log_with, accelerator: Accelerator, source: str, display: str,
         notice: str | None, precision: str, precision_note: str, t_start: float, long_run: LongRun) -> TrainResult:
    """The body of ``run_task`` once the run has its Accelerator."""
    best_dir = output_dir / BEST
    label_names = list(task.label_names)
    main = accelerator.is_main_process
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(output_dir)

    def emit(event: ProgressEvent, record: bool = True) -> None:
        if record:
            history.append(asdict(event))
        if main and on_event is not None:
            on_event(event)

    history: list[dict] = []

    # ---- model and tokenizer
    t0 = _now()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise ModelLoadError(msg("msg.training.loop.tokenizer_failed", source=source,
                                 reason=str(exc).splitlines()[0][:300])) from exc
    if long_run.model is not None:  # built by the caller, its trainable parts chosen (training.strategies)
        model = long_run.model
        trainable_params, total_params = count(model)
    else:
        model = task.build_model(source, config.from_scratch, config.seed)
        trainable_params, total_params = apply_strategy(model, config)
    load_s = _now() - t0

    # ---- data: classification is tokenized once per (content, tokenizer, max_length) and cached on disk
    max_length = config.max_length
    if tokenizer.model_max_length and tokenizer.model_max_length < 100_000:
        max_length = min(max_length, tokenizer.model_max_length)
    t0 = _now()
    with accelerator.main_process_first():  # the main process fills the cache, the others read it
        train_feats = task.features(train, tokenizer, max_length, cache_dir, training=True)
        val_feats = task.features(val, tokenizer, max_length, cache_dir, training=False) if val is not None else None
        test_feats = task.features(test, tokenizer, max_length, cache_dir, training=False) if test is not None else None
    tokenize_s = _now() - t0

    collator = task.collator(tokenizer)
    train_loader = DataLoader(train_feats.dataset, batch_size=config.batch_size, collate_fn=collator,
                              sampler=LengthGroupedSampler(train_feats.lengths, config.batch_size, config.seed))
    val_loader, val_order = (_eval_loader(val_feats.dataset, collator, config.batch_size * 2)
                             if val_feats is not None else (None, None))

    # ---- optimizer and schedule (as the no_trainer examples: no decay on biases and LayerNorm)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # On one CPU process only the word-embedding rows a batch used are updated (sparse_embeddings).
    lazy = lazy_adamw_ok(accelerator.num_processes, accelerator.device) and sparse_word_embeddings(model) is not None
    groups = long_run.param_groups(model) if long_run.param_groups is not None else [
        {"params": [p for n, p in params if not any(nd in n for nd in NO_DECAY)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in params if any(nd in n for nd in NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = (LazyAdamW if lazy else torch.optim.AdamW)(
        groups, lr=config.learning_rate, fused=fused_adamw_ok([p for _, p in params]))
    # The scheduler is built on the un-sharded step count: accelerate's prepared scheduler steps
    # once per process for every optimizer step, so these totals line up with the sharded loop.
    total_steps_all = _total_steps(config.epochs, len(train_loader), long_run.max_steps)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=round(config.warmup_ratio * total_steps_all),
                              num_training_steps=total_steps_all)

    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if val_loader is not None:
        val_loader = accelerator.prepare_data_loader(val_loader)
    # The training loader is sharded now: recompute the per-process step counts.
    steps_per_epoch = len(train_loader)
    total_steps = _total_steps(config.epochs, steps_per_epoch, long_run.max_steps)
    eval_every = long_run.eval_every or max(1, steps_per_epoch // config.evals_per_epoch)

    class_weights = task.class_weights(config, train)
    weight = torch.tensor(class_weights, device=accelerator.device) if class_weights else None

    if log_with:
        accelerator.init_trackers("bert-transfer-lab", config={**asdict(config), "base_model_source": source,
                                                               "task": task.name})

    # Dropout masks from numpy's faster generator on a CPU (fast_dropout.py), seeded by the run;
    # its generator is part of a checkpoint, so a resumed run draws the masks it would have drawn.
    dropout = FastDropout(model, config.seed * 1_000 + accelerator.process_index,
                          enabled=accelerator.device.type == "cpu")
    accelerator.register_for_checkpointing(dropout)

    # ---- train
    best: dict | None = None
    best_eval: Evaluation | None = None
    saved: dict = {}  # a resumed run's best report and mistakes (its Evaluation is not kept)
    timings = {"load_s": load_s, "tokenize_s": tokenize_s, "eval_s": 0.0, "save_s": 0.0, "train_s": 0.0}
    examples = 0
    step = 0
    before = 0.0  # seconds the run had trained before it was resumed
    checkpoint_dir = output_dir / CHECKPOINT
    if long_run.resume and (checkpoint_dir / LOOP_STATE).is_file():
        accelerator.load_state(str(checkpoint_dir))  # weights, optimizer, schedule, RNGs, dropout generator
        state = json.loads((checkpoint_dir / LOOP_STATE).read_text())
        step, best, history[:], before = state["step"], state["best"], state["history"], state["seconds"]
        saved = {"report": state["best_report"], "mistakes": state["best_mistakes"]}
        # The learning rate of this step under this run's schedule (a resumed run may train longer
        # than the one that saved the checkpoint, whose last rate was its schedule's end).
        scheduler.scheduler.last_epoch -= 1
        scheduler.scheduler.step()
        log.info("resumed at step %d of %d (%.0f s already spent)", step, total_steps, before)
    first_step = step
    last_eval_step = step if best is not None and best["step"] == step else -1
    stopped: str | None = None
    t_train = _now()
    deadline = t_train + config.max_train_minutes * 60 - before
    last_checkpoint = t_train

    def elapsed() -> float:
        return before + _now() - t_train

    def evaluate() -> None:
        nonlocal best, best_eval, last_eval_step, saved
        t = _now()
        evaluation = (task.evaluate(model, val_loader, val_order, val_feats, val, accelerator)
                      if val is not None else None)
        metrics = {"val_loss": evaluation.loss, **evaluation.metrics} if evaluation is not None else {}
        timings["eval_s"] += _now() - t
        last_eval_step = step
        epoch = step / steps_per_epoch
        if evaluation is None or task.is_better(metrics, best):  # no held-out data: the last weights
            best = {"step": step, "epoch": epoch, **metrics}
            best_eval, saved = evaluation, {}
            t = _now()
            accelerator.wait_for_everyone()
            if main:
                save_atomically(_model_to_save(accelerator.unwrap_model(model)), tokenizer, best_dir)
            timings["save_s"] += _now() - t
        if log_with:
            accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=step)
        emit(ProgressEvent("eval", step, total_steps, epoch, elapsed_s=elapsed(),
                           metrics={**metrics, "is_best": best["step"] == step}))

    def checkpoint() -> None:
        """accelerate's ``save_state`` + the loop's own counters, swapped in whole (never half-written)."""
        tmp = output_dir / f".{CHECKPOINT}.tmp"
        accelerator.save_state(str(tmp))
        if main:
            (tmp / LOOP_STATE).write_text(json.dumps({
                "step": step, "best": best, "history": history, "seconds": elapsed(),
                "best_report": best_eval.report if best_eval is not None else saved.get("report"),
                "best_mistakes": task.mistakes(best_eval, val) if best_eval is not None else saved.get("mistakes"),
            }, default=str))
            _swap_in(tmp, checkpoint_dir)
        accelerator.wait_for_everyone()

    if long_run.evaluate_first and step == 0:
        evaluate()  # the starting point, e.g. a fresh head over the pre-trained encoder
    # Clipping to norm 1 (as the Trainer): with the lazy optimizer, without extra passes (grad_clip.py).
    clipper = GradClipper(model.parameters(), 1.0) if lazy else None
    model.train()
    epoch, skip = divmod(step, steps_per_epoch)
    while step < total_steps and stopped is None:
        # The sampler's order is a function of (seed, epoch): a resumed run skips to where it was.
        train_loader.set_epoch(epoch)
        for batch in accelerator.skip_first_batches(train_loader, skip) if skip else train_loader:
            t = _now()
            with dropout:
                loss, n_examples = task.loss(model, batch, weight)
            accelerator.backward(loss)
            if clipper is not None:  # the norm was summed during backward; AdamW applies the factor
                optimizer.optimizer.scale_next_step(clipper.factor()[1])
            else:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            timings["train_s"] += _now() - t
            examples += n_examples * accelerator.num_processes
            step += 1

            lr = scheduler.get_last_lr()[0]
            emit(ProgressEvent("step", step, total_steps, step / steps_per_epoch, loss=loss.item(), lr=lr,
                               elapsed_s=elapsed(), eta_s=(_now() - t_train) / (step - first_step) * (total_steps - step)))
            if log_with:
                accelerator.log({"train/loss": loss.item(), "train/lr": lr}, step=step)
            if val is not None and (step % eval_every == 0 or step == total_steps):
                evaluate()

            # Every process must agree to stop, or the others would wait forever in a collective.
            if should_stop is not None and should_stop():
                stopped = "cancelled"
                accelerator.set_trigger()
            elif _now() > deadline:
                stopped = "time limit"
                accelerator.set_trigger()
            if accelerator.check_trigger():
                stopped = stopped or "cancelled"
                break
            if long_run.checkpoint_minutes is not None and _now() - last_checkpoint > long_run.checkpoint_minutes * 60:
                checkpoint()
                last_checkpoint = _now()
            if step >= total_steps:
                break
        epoch, skip = epoch + 1, 0

    if clipper is not None:
        clipper.remove()
    # A time-limited run is scored on its last weights; a cancelled one only when nothing was
    # kept yet (Cancel should return quickly).
    if best is None or (step != last_eval_step and stopped != "cancelled"):
        evaluate()
    if long_run.checkpoint_minutes is not None:
        checkpoint()  # a later --resume with more steps goes on from here
    accelerator.wait_for_everyone()

    # ---- final reports: validation from the best evaluation, test with the saved best model
    assert best is not None
    report = best_eval.report if best_eval is not None else saved.get("report") or {}
    val_report = {**report, "val_loss": best["val_loss"]} if "val_loss" in best else report
    misclassified = (task.mistakes(best_eval, val) if best_eval is not None else saved.get("mistakes")) or []
    test_report = None
    if test is not None:
        with MODEL_LOAD_LOCK:
            best_model = task.auto_class.from_pretrained(best_dir, use_safetensors=True)
        test_loader, test_order = _eval_loader(test_feats.dataset, collator, config.batch_size * 2)
        best_model = accelerator.prepare_model(best_model, evaluation_mode=True)
        test_loader = accelerator.prepare_data_loader(test_loader)
        evaluation = task.evaluate(best_model, test_loader, test_order, test_feats, test, accelerator)
        test_report = {**evaluation.report, "test_loss": evaluation.loss}

    seconds = before + _now() - t_start
    timings["total_s"] = seconds
    examples_per_second = examples / timings["train_s"] if timings["train_s"] else 0.0
    done_metrics = {**best}
    if test_report is not None:
        done_metrics.update(task.test_metrics(test_report))

    def cache_state(features: Features) -> str:
        return "off" if features.cache_hit is None else "hit" if features.cache_hit else "miss"

    extra = {
        "task": task.name, **task.extra(), "base_model": display, "base_model_source": source, "notice": notice,
        "max_length": max_length, "train_rows": len(train_feats.dataset),
        "tokenize_cache": {"train": cache_state(train_feats), "validation": cache_state(val_feats) if val_feats else "off"},
        "timings": timings, "steps_done": step, "total_steps": total_steps, "steps_per_epoch": steps_per_epoch,
        "num_processes": accelerator.num_processes, "lora_merged": has_lora(accelerator.unwrap_model(model)),
    }
    result = TrainResult(
        output_dir=output_dir, best_dir=best_dir, history=history, best_metrics=best, val_report=val_report,
        test_report=test_report, misclassified=misclassified, class_weights=class_weights,
        trainable_params=trainable_params, total_params=total_params, seconds=seconds,
        examples_per_second=examples_per_second, precision=precision, stopped_early=stopped,
        precision_note=precision_note, metrics_path=output_dir / METRICS_FILE, extra=extra,
    )
    if main:
        write_json(output_dir / METRICS_FILE, {
            "config": asdict(config), "labels": label_names, "id2label": _label_kwargs(label_names)["id2label"],
            "label2id": _label_kwargs(label_names)["label2id"], "best_metrics": best,
            "val_report": val_report, "test_report": test_report, "misclassified": misclassified,
            "class_weights": class_weights, "trainable_params": trainable_params, "total_params": total_params,
            "precision": precision, "precision_note": precision_note, "stopped_early": stopped,
            "seconds": seconds, "examples_per_second": examples_per_second, **extra, "history": history,
        })
    emit(ProgressEvent("done", step, total_steps, step / steps_per_epoch, elapsed_s=seconds, eta_s=0.0,
                       metrics=done_metrics), record=False)
    if log_with:
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
