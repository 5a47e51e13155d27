"""Sentence vectors from every layer of an encoder, computed once and cached.

The per-layer probe, the before/after embedding map and the frozen-encoder learning curve all
read the same vectors: one forward pass per text with ``output_hidden_states``, pooled per layer
([CLS] or the mean over real tokens), kept as float16 ``(layers + 1, texts, hidden)``. The
cache key is (texts, model, max length, pooling), with no session in it, so a class working on
the same sample computes them once. Entries live in memory (a few, least recently used first
out) and on disk under ``<cache_dir>/features``, written to a temporary file and renamed into
place so concurrent or killed runs never read half an entry.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab import atomic
from lab.attention import model_inputs
from lab.errors import LabInputError
from lab.i18n import msg
from lab.predict import SequenceLogits

log = logging.getLogger(__name__)

POOLINGS = {
    "cls": "the [CLS] token's vector",
    "mean": "the mean of the real tokens' vectors (padding excluded)",
    "pooler": "the pooler's output (dense + tanh on [CLS]): what a BERT classification head reads; last layer only",
}


def model_key(name: str, directory: str | Path | None = None) -> str:
    """A model's identity for the cache: its name, plus the weights file's size and time when it
    is a directory we can see (a session's run saved again under the same name is another model)."""
    parts = [name]
    if directory is not None and Path(directory).is_dir():
        for weights in sorted(Path(directory).glob("*.safetensors")):
            stat = weights.stat()
            parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:20]


def cache_key(texts: Sequence[str], model: str, max_length: int, pooling: str) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    return f"{digest.hexdigest()[:24]}-{model}-{max_length}-{pooling}"


def encoder_of(model: PreTrainedModel) -> PreTrainedModel:
    """The bare encoder under a task head (BertForSequenceClassification.bert), or the model itself."""
    return getattr(model, "base_model", model)


@torch.inference_mode()
def encode(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int = 128,
           pooling: str = "mean", batch_size: int = 32,
           on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Pooled vectors of ``texts`` from the embeddings and every layer: (layers + 1, len(texts), hidden);
    with ``pooling="pooler"`` the pooler's output only: (1, len(texts), hidden).

    Texts are batched by length (sorted), so a batch is padded to little more than its own texts.
    ``on_batch(done, total)`` reports progress in texts.
    """
    if pooling not in POOLINGS:
        raise LabInputError(msg("msg.training.features.pooling", got=repr(pooling)[:40], choices=", ".join(POOLINGS)))
    encoder = encoder_of(model).eval()
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt")
        if pooling == "pooler":
            pooled = encoder(**batch).pooler_output.float()[None]  # (1, batch, hidden)
        else:
            hidden = encoder(**batch, output_hidden_states=True).hidden_states  # (layers + 1) x (batch, seq, hidden)
            stacked = torch.stack(hidden).float()  # (layers + 1, batch, seq, hidden)
            if pooling == "cls":
                pooled = stacked[:, :, 0]
            else:
                mask = batch["attention_mask"].to(stacked.dtype)[None, :, :, None]  # (1, batch, seq, 1)
                pooled = (stacked * mask).sum(2) / mask.sum(2).clamp(min=1)
        if out is None:
            out = np.empty((pooled.shape[0], len(texts), pooled.shape[-1]), dtype=np.float16)
        out[:, rows] = pooled.numpy().astype(np.float16)
        if on_batch is not None:
            on_batch(min(start + batch_size, len(texts)), len(texts))
    if out is None:
        raise ValueError("no texts to encode")
    return out


class FeatureCache:
    """Per-layer vectors by (texts, model, max length, pooling): memory first, then disk, then computed."""

    def __init__(self, directory: Path | None, in_memory: int = 8):
        self.directory = Path(directory) if directory is not None else None
        self.in_memory = in_memory
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[str, threading.Lock] = {}

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.npy" if self.directory is not None else None

    def _remember(self, key: str, vectors: np.ndarray) -> None:
        with self._lock:
            self._memory[key] = vectors
            self._memory.move_to_end(key)
            while len(self._memory) > self.in_memory:
                self._memory.popitem(last=False)

    def lookup(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._path(key)
        if path is not None and path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:  # a damaged entry: computed again below
                log.warning("ignoring a broken feature cache entry %s: %s", path.name, exc)
                return None
            self._remember(key, vectors)
            return vectors
        return None

    def get(self, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """(vectors, cache_hit). Two sessions asking for the same entry at once compute it once."""
        found = self.lookup(key)
        if found is not None:
            return found, True
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        try:
            with gate:
                found = self.lookup(key)  # the other request may have finished it meanwhile
                if found is not None:
                    return found, True
                vectors = compute()  # a run stopped while encoding raises here: nothing is kept
                self._remember(key, vectors)
                self._write(key, vectors)
        finally:
            with self._lock:
                self._computing.pop(key, None)
        return vectors, False

    def _write(self, key: str, vectors: np.ndarray) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic.replacing(path, suffix=".npy") as tmp:
                np.save(tmp, vectors, allow_pickle=False)
        except OSError as exc:  # a read-only or full disk costs the next request time, nothing else
            log.warning("could not write the feature cache entry %s: %s", path.name, exc)


def vectors(cache: FeatureCache, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str,
            directory: str | Path | None, texts: Sequence[str], max_length: int = 128, pooling: str = "mean",
            on_batch: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, bool]:
    """``encode`` through the cache: (vectors, cache_hit)."""
    key = cache_key(texts, model_key(name, directory), max_length, pooling)
    return cache.get(key, lambda: encode(model, tokenizer, texts, max_length, pooling, on_batch=on_batch))


@torch.inference_mode()
def predict_labels(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                   max_length: int = 128, batch_size: int = 32) -> list[str]:
    """A sequence classifier's label for each text, through the classification predictor (lab/predict.py:
    batched, length-sorted)."""
    model.eval()
    inputs = [model_inputs(model, tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt"))
              for text in texts]
    with torch.inference_mode():
        logits = SequenceLogits.for_model(model, tokenizer).many(inputs, batch_size)
    return [model.config.id2label.get(label, f"LABEL_{label}") for label in (int(x.argmax()) for x in logits)]
