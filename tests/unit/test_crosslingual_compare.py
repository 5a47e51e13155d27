"""The crosslingual comparison and the translations map on made-up vectors: which setup is trained on
which language and scored on which, and what the map measures (the real encoders' figures are in
tests/unit/test_crosslingual.py)."""

import numpy as np
import pytest

from lab.errors import LabInputError
from training.data.data import TextDataset
from training.transfer import crosslingual

PARALLEL = crosslingual.ParallelSet(
    ["positive", "negative"] * 6,
    {lang: [f"{lang} review {i}" for i in range(12)] for lang in crosslingual.LANGUAGES})
NAMES = ["negative", "positive"]


def _sample(language: str, rows: int = 20) -> TextDataset:
    return TextDataset([f"{language} train {i}" for i in range(rows)], [i % 2 for i in range(rows)], NAMES)


def _sentiment(text: str, parallel_rows: dict) -> int:
    """1 for a positive text: the training texts alternate 0, 1; the parallel set's rows say so by label."""
    if text in parallel_rows:
        return parallel_rows[text]
    return int(text.rsplit(" ", 1)[1]) % 2


def fake_vectors(encoder: str, texts: list[str]) -> np.ndarray:
    """The multilingual encoder puts a text's sentiment on one axis in every language; the English-only
    one only in English (other languages land on noise)."""
    rows = {t: int(PARALLEL.labels[i] == "positive") for lang in crosslingual.LANGUAGES
            for i, t in enumerate(PARALLEL.texts[lang])}
    rng = np.random.default_rng(len(texts))
    out = rng.normal(0, 0.1, size=(len(texts), 4))
    for i, text in enumerate(texts):
        if encoder == "multilingual" or text.startswith("en "):
            out[i, 0] += 2 * _sentiment(text, rows) - 1
        else:
            out[i, 0] += rng.normal(0, 1)
    return out


def test_each_setup_is_trained_on_its_language_and_scored_in_all_three():
    samples = {lang: _sample(lang) for lang in crosslingual.LANGUAGES}
    result = crosslingual.compare(fake_vectors, "en", samples, PARALLEL)
    by = {(s.setup, s.language): s for s in result.scores}
    assert set(by) == {(setup, lang) for setup in crosslingual.SETUPS for lang in crosslingual.LANGUAGES}
    assert all(by[setup, lang].trained_on == "en" for setup in ("multilingual", "english-only")
               for lang in crosslingual.LANGUAGES)
    assert all(by["in-language", lang].trained_on == lang for lang in crosslingual.LANGUAGES)
    # the vectors above: the multilingual encoder's head works in every language, the English one's only in English
    assert all(by["multilingual", lang].accuracy == 1.0 for lang in crosslingual.LANGUAGES)
    assert by["english-only", "en"].accuracy == 1.0
    assert result.train_rows == {"en": 20, "id": 20, "zh-TW": 20}
    frame = crosslingual.comparison_frame(result)
    assert list(frame.columns) == ["setup", "language", "trained on", "accuracy"] and len(frame) == 9


def test_the_labels_are_matched_by_name_not_by_position():
    """A sample whose label list is in another order still scores the parallel set's words right."""
    samples = {lang: _sample(lang) for lang in crosslingual.LANGUAGES}
    samples["en"] = TextDataset(samples["en"].texts, [1 - y for y in samples["en"].labels], ["positive", "negative"])
    result = crosslingual.compare(fake_vectors, "en", samples, PARALLEL)
    assert {s.accuracy for s in result.scores if s.setup == "multilingual"} == {1.0}


def test_an_unknown_training_language_is_refused():
    with pytest.raises(LabInputError, match="no sentiment sample"):
        crosslingual.compare(fake_vectors, "fr", {}, PARALLEL)


def test_the_map_links_each_sentence_to_its_translations_and_says_how_often_they_are_nearest():
    rows = len(PARALLEL.labels)
    rng = np.random.default_rng(0)
    meaning = rng.normal(size=(rows, 8))
    together = np.concatenate([meaning + rng.normal(0, 0.01, meaning.shape) for _ in crosslingual.LANGUAGES])
    result = crosslingual.translation_map(together, PARALLEL)
    assert result.points.shape == (3 * rows, 2) and result.nearest_is_translation == 1.0
    assert result.languages[:rows] == ["en"] * rows and result.languages[-1] == "zh-TW"
    assert result.pairs[rows + 3] == 3 and result.texts[rows + 3] == PARALLEL.texts["id"][3]
    assert result.labels[2 * rows + 1] == PARALLEL.labels[1]
    # each language in its own corner: the nearest sentence of another language is a translation by chance only
    apart = np.concatenate([rng.normal(size=(rows, 8)) + 20 * k for k in range(3)])
    assert crosslingual.translation_map(apart, PARALLEL).nearest_is_translation < 0.5
    with pytest.raises(ValueError, match="vectors for"):
        crosslingual.translation_map(together[:-1], PARALLEL)
