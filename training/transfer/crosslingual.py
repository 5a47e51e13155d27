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

import numpy as np

from lab import registry
from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import ASSETS_DIR, Settings
from training.config import TrainConfig
from training.data import catalog

PARALLEL_FILE = ASSETS_DIR / "eval" / "sentiment-parallel.csv"
LANGUAGES = ("en", "id", "zh-TW")
# The sentiment sample each language trains on (training/data/catalog.py), all labelled positive/negative.
SAMPLES = {"en": "sentiment-sample", "id": "sentiment-id-sample", "zh-TW": "sentiment-zh-tw-sample"}
MAX_LENGTH = 128  # pieces: every review of the samples and the parallel set fits


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
    from training.transfer.features import predict_labels

    length = min(MAX_LENGTH, max_input_length(tokenizer, model.config))
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
    from training.transfer.transfer import file_data

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
    ``training.tasks.tasks.train_classifier``; the Transfer tab passes one that submits a job).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.tasks import tasks

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


# ------------------------------------------------------------------- the comparison in one picture

# The setups side by side, in the chart's order: the multilingual encoder and the English-only one,
# both given the same training language's reviews, then the multilingual encoder given each
# language's own reviews (the in-language reference: what a class with labelled data of its own gets).
SETUPS = ("multilingual", "english-only", "in-language")
# Which encoder each setup reads with (lab.registry names are chosen by the caller).
ENCODER_OF = {"multilingual": "multilingual", "english-only": "english-only", "in-language": "multilingual"}
POOLING = "mean"  # the multilingual encoder's model card pools by the mean of the tokens


@dataclass(frozen=True)
class Score:
    setup: str  # one of SETUPS
    language: str  # the parallel set's language scored
    trained_on: str  # the language of the reviews its classifier was trained on
    accuracy: float


@dataclass
class Comparison:
    train_language: str
    scores: list[Score]
    train_rows: dict[str, int]  # language -> the training reviews of its sample


# vectors(encoder, texts) -> (len(texts), hidden): the encoder's last-layer sentence vectors ("multilingual" or
# "english-only"), from the feature cache in the tab.
Vectors = Callable[[str, list[str]], np.ndarray]


def compare(vectors: Vectors, train_language: str, samples: dict, parallel: ParallelSet) -> Comparison:
    """The three setups' accuracy on each language of ``parallel``, each a frozen encoder with a logistic
    regression fitted on one language's training reviews (``samples``: language -> TextDataset).

    A frozen encoder and a linear head stand for fine-tuning here: seconds instead of minutes on a
    class server, and the head can only use what the pretrained vectors already hold, which is the
    point of the picture: what crosses the language boundary was there before any training.
    """
    from training.transfer.transfer import fit_probe

    if train_language not in LANGUAGES:
        raise LabInputError(msg("msg.training.crosslingual.language", language=str(train_language)[:20],
                                languages=", ".join(LANGUAGES)))
    test = {(encoder, lang): np.asarray(vectors(encoder, parallel.texts[lang]), dtype=np.float32)
            for encoder in ("multilingual", "english-only") for lang in LANGUAGES}
    scores = []

    def fitted(encoder: str, lang: str):
        train = samples[lang]
        probe = fit_probe(np.asarray(vectors(encoder, train.texts), dtype=np.float32), train.labels)
        return probe, train.label_names

    def accuracy(probe, names: list[str], encoder: str, lang: str) -> float:
        predicted = [names[i] for i in probe.predict(test[encoder, lang])]
        return float(np.mean([p == g for p, g in zip(predicted, parallel.labels, strict=True)]))

    for setup in ("multilingual", "english-only"):
        probe, names = fitted(ENCODER_OF[setup], train_language)
        scores += [Score(setup, lang, train_language, accuracy(probe, names, ENCODER_OF[setup], lang))
                   for lang in LANGUAGES]
    for lang in LANGUAGES:
        probe, names = fitted("multilingual", lang)
        scores.append(Score("in-language", lang, lang, accuracy(probe, names, "multilingual", lang)))
    return Comparison(train_language, scores, {lang: len(samples[lang]) for lang in LANGUAGES})


def comparison_frame(comparison: Comparison):
    """The table under the chart: one row per (setup, language scored)."""
    import pandas as pd

    return pd.DataFrame([{"setup": s.setup, "language": s.language, "trained on": s.trained_on,
                          "accuracy": round(s.accuracy, 3)} for s in comparison.scores])


# ---------------------------------------------------------------------------- the translations map


@dataclass
class TranslationMap:
    points: np.ndarray  # (3 * rows, 2): the parallel set's rows in LANGUAGES order, language by language
    languages: list[str]  # per point
    labels: list[str]  # per point
    texts: list[str]  # per point
    pairs: list[int]  # per point: the row of the parallel set it is a translation of
    nearest_is_translation: float  # share of points whose nearest other-language point is a translation


def translation_map(vectors: np.ndarray, parallel: ParallelSet, seed: int = 42) -> TranslationMap:
    """One encoder's sentence vectors of every row in every language (``vectors``: (3 * rows, hidden), in
    LANGUAGES order) projected to 2-D by PCA, and how often a sentence's nearest neighbour among the other
    languages' sentences is one of its own translations (cosine, in the full vectors; chance is 1 in rows)."""
    from training.transfer.transfer import project

    vectors = np.asarray(vectors, dtype=np.float32)
    rows = len(parallel.labels)
    if vectors.shape[0] != rows * len(LANGUAGES):
        raise ValueError(f"{vectors.shape[0]} vectors for {rows} rows in {len(LANGUAGES)} languages")
    languages = [lang for lang in LANGUAGES for _ in range(rows)]
    pairs = [i for _ in LANGUAGES for i in range(rows)]
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    similar = unit @ unit.T
    same_language = np.equal.outer(languages, languages)
    similar[same_language] = -np.inf  # the nearest sentence in another language
    hits = np.asarray(pairs)[similar.argmax(1)] == np.asarray(pairs)
    return TranslationMap(project(vectors, "PCA", seed), languages, [label for _ in LANGUAGES for label in parallel.labels],
                          [text for lang in LANGUAGES for text in parallel.texts[lang]], pairs, float(hits.mean()))


# ------------------------------------------------------------------------------ read through the lab

# The two encoders compared, as the registry names them.
ENCODERS = {"multilingual": registry.MULTILINGUAL, "english-only": registry.EMBEDDED}


def cached_vectors(lab, cache, on_batch: Callable[[str, int, int], None] | None = None) -> Vectors:
    """``Vectors`` for ``compare`` and ``translation_map``: each encoder loaded when first asked for, its
    last layer's mean-pooled vectors read through ``cache`` (training.transfer.features: one computation per
    (texts, model) for every session). ``on_batch(encoder, done, total)`` reports the encoding; it may
    raise to stop it (Cancel)."""
    from lab.tokenization import max_input_length
    from training.transfer.transfer import layer_vectors

    def vectors(encoder: str, texts: list[str]) -> np.ndarray:
        loaded = lab.model("finetune-base", ENCODERS[encoder])
        report = None if on_batch is None else (lambda done, total: on_batch(encoder, done, total))
        length = min(MAX_LENGTH, max_input_length(loaded.tokenizer, loaded.model.config))  # a short position table
        return layer_vectors(cache, loaded, list(texts), POOLING, length, on_batch=report)[-1]

    return vectors


def compare_encoders(lab, cache, train_language: str, settings: Settings, hub_online: bool = False,
                     on_batch: Callable[[str, int, int], None] | None = None) -> Comparison:
    """``compare`` on the lab's multilingual and embedded English encoders, each language's sample split
    as the Transfer tab splits a sample (its training part only is read)."""
    samples = {lang: sample_data(lang, settings, hub_online)[0] for lang in LANGUAGES}
    return compare(cached_vectors(lab, cache, on_batch), train_language, samples, read_parallel())


def encoder_map(lab, cache, encoder: str, on_batch: Callable[[str, int, int], None] | None = None,
                parallel: ParallelSet | None = None) -> TranslationMap:
    """``translation_map`` of one of ENCODERS' vectors of the parallel set."""
    parallel = parallel or read_parallel()
    texts = [text for lang in LANGUAGES for text in parallel.texts[lang]]
    return translation_map(cached_vectors(lab, cache, on_batch)(encoder, texts), parallel)
