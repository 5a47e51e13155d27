"""Tokenized datasets cached on disk, so a second run on the same data starts at once.

The key is a hash of the texts and labels, the tokenizer (its full serialisation, so two
models sharing a vocabulary share the cache) and ``max_length``. Entries are written to a
temporary directory and renamed into place, so concurrent or killed runs never read half an entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from datasets import Dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

from training.data.data import TextDataset

log = logging.getLogger(__name__)

def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Calling the tokenizer with truncation/padding changes these in place: not part of identity.
        # Read as text, not parsed: a 250k-piece vocabulary's JSON takes ~1 s to load and dump again.
        text = _without_top_level(backend.to_str(), ("truncation", "padding"))
    else:
        text = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    text += repr((type(tokenizer).__name__, tokenizer.model_max_length, tokenizer.padding_side))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_JSON = json.JSONDecoder()


def _without_top_level(text: str, keys: tuple[str, ...]) -> str:
    """``text`` (a tokenizer's compact JSON) with the values of ``keys`` set to null. The tokenizers
    library writes them first (after "version"), so their first occurrence is the top-level one."""
    for key in keys:
        marker = f'"{key}":'
        start = text.find(marker)
        if start < 0:
            continue
        start += len(marker)
        _, end = _JSON.raw_decode(text, start)
        text = text[:start] + "null" + text[end:]
    return text


def cache_key(data: TextDataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> str:
    digest = hashlib.sha256()
    for text, label in zip(data.texts, data.labels, strict=True):
        digest.update(text.encode())
        digest.update(b"\x00%d\x01" % label)
    return f"{digest.hexdigest()[:24]}-{tokenizer_fingerprint(tokenizer)}-{max_length}"


def tokenize(
    data: TextDataset, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_dir: Path | None
) -> tuple[Dataset, bool]:
    """``data`` as a datasets.Dataset of input_ids/attention_mask(/token_type_ids)/labels.

    Returns (dataset, cache_hit). No padding here: the collator pads each batch to its own
    longest row (dynamic padding), which is what makes short-text batches cheap. ``cache_dir`` is
    the caller's (a run's: Settings.cache_dir / "tokenized"); None tokenizes without a cache.
    """
    entry = Path(cache_dir) / cache_key(data, tokenizer, max_length) if cache_dir is not None else None
    if entry is not None and (entry / "dataset_info.json").is_file():
        try:
            return load_from_disk(str(entry)), True
        except (OSError, ValueError) as exc:  # a corrupt entry: rebuild it below
            log.warning("ignoring a broken tokenization cache entry %s: %s", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    raw = Dataset.from_dict({"text": data.texts, "labels": data.labels})
    tokenized = raw.map(encode, batched=True, remove_columns=["text"])
    if entry is None:
        return tokenized, False
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{entry.name}.tmp-{uuid.uuid4().hex[:8]}"
        tokenized.save_to_disk(str(tmp))
        try:
            os.replace(tmp, entry)
        except OSError:  # another run wrote the same entry first: theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        # A read-only or full cache dir must not stop training: it only costs the next run time.
        log.warning("could not write the tokenization cache in %s: %s", cache_dir, exc)
    return tokenized, False
