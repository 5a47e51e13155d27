"""Crosslingual transfer, measured: fine-tune on one language's sentiment sample, then score the same
sentences in every language of a parallel evaluation set.

The set (``assets/eval/sentiment-parallel.csv``) was written for the project: 40 short reviews, 20
positive and 20 negative, each in English, Bahasa Indonesia and Traditional Chinese, row by row the
same meaning. A classifier trained on English reviews only that scores the Indonesian and Chinese rows
well has carried what it learnt across the language boundary: what a multilingual encoder's
pre-training makes possible, and an English-only encoder (the embedded MiniLM) cannot do.
Nothing was tuned on this set; it is only ever scored.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import ASSETS_DIR, Settings
from training import catalog
from training.config import TrainConfig

PARALLEL_FILE = ASSETS_DIR / "eval" / "sentiment-parallel.csv"
LANGUAGES = ("en", "id", "zh-TW")
# The sentiment sample each language trains on (training/catalog.py), all labelled positive/negative.
SAMPLES = {"en": "sentiment-sample", "id": "sentiment-id-sample", "zh-TW": "sentiment-zh-tw-sample"}


@dataclass(frozen=True)
class ParallelSet:
    labels: list[str]  # one per row
    texts: dict[str, list[str]]  # language -> the rows in that language, aligned with ``labels``


def read_parallel(path: str | Path = PARALLEL_FILE) -> ParallelSet:
    """The parallel set: a CSV with a ``label`` column and one column per language."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return ParallelSet([r["label"] for r in rows], {lang: [r[lang] for r in rows] for lang in LANGUAGES})


def score(model, tokenizer, parallel: ParallelSet) -> dict[str, float]:
    """Accuracy of a sequence classifier (labels positive/negative) on each language of ``parallel``."""
    import torch

    from lab.tokenization import max_input_length
    from training.features import predict_labels

    length = min(128, max_input_length(tokenizer, model.config))
    with torch.inference_mode():
        predicted = {lang: predict_labels(model, tokenizer, texts, max_length=length)
                     for lang, texts in parallel.texts.items()}
    return {lang: sum(p == g for p, g in zip(labels, parallel.labels, strict=True)) / len(parallel.labels)
            for lang, labels in predicted.items()}


@dataclass
class CrosslingualResult:
    train_language: str
    base_model: str
    train_rows: int
    accuracy: dict[str, float]  # language -> accuracy on the parallel set
    seconds: float
    val_accuracy: float | None = None  # on the held-back part of the training sample (it picked the checkpoint)
    config: dict = field(default_factory=dict)


def sample_data(language: str, settings: Settings, hub_online: bool = False):
    """(train, val) TextDatasets of ``language``'s sample, split as the Transfer tab splits a sample."""
    from training.transfer import file_data

    if language not in SAMPLES:
        raise LabInputError(msg("msg.training.crosslingual.language", language=str(language)[:20],
                                languages=", ".join(LANGUAGES)))
    card = catalog.find_card(SAMPLES[language], settings, hub_online)
    data = file_data(catalog.materialize(card), SAMPLES[language])
    return data.train, data.val


def fine_tune_and_score(config: TrainConfig, train_language: str, output_dir: str | Path, settings: Settings,
                        hub_online: bool = False, parallel: ParallelSet | None = None,
                        train_run: Callable | None = None) -> CrosslingualResult:
    """Fine-tune ``config`` on ``train_language``'s sample, then score the parallel set in every language.

    ``train_run(config, train, val, output_dir)`` runs the training (default: in this process, with
    ``training.tasks.train_classifier``; the Transfer tab passes one that submits a job).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training import tasks

    parallel = parallel or read_parallel()
    train, val = sample_data(train_language, settings, hub_online)
    start = time.perf_counter()
    if train_run is None:
        result = tasks.train_classifier(config, train, val, output_dir, settings=settings, hub_online=hub_online)
    else:
        result = train_run(config, train, val, output_dir)
    best = result.best_dir
    model = AutoModelForSequenceClassification.from_pretrained(best, use_safetensors=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(best)
    accuracy = score(model, tokenizer, parallel)
    return CrosslingualResult(train_language, str(result.extra.get("base_model") or config.base_model), len(train),
                              accuracy, time.perf_counter() - start, (result.best_metrics or {}).get("accuracy"),
                              {"strategy": config.strategy, "epochs": config.epochs})
