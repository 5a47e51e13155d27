"""Lesson 1's picture on its own sample, with the embedded MiniLM and the real loop: the learning curves
teach what the lesson says (pretrained above the frozen encoder + head above from scratch, at every size)."""

import pytest

from lab.context import Lab
from lab.settings import Settings
from training.data import catalog
from training.tasks.tasks import train_classifier
from training.transfer import features, learning_curves, transfer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # six short fine-tuning runs


def test_on_the_topics_sample_the_frozen_line_runs_between_pretrained_and_scratch(tmp_path):
    settings = Settings(offline=True, cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs")
    card = next(c for c in catalog.catalog(settings, False) if c.name == "topics-sample")
    data = transfer.card_data(card)
    encoder = Lab(settings).model("finetune-base")

    def train_run(config, train, val, out_dir):
        return train_classifier(config, train, val, out_dir, settings=settings, cache_dir=tmp_path / "tok",
                                hub_online=False)

    points = learning_curves.learning_curves(
        data, learning_curves.base_config(), tmp_path / "work", list(learning_curves.SERIES), train_run,
        lambda: learning_curves.frozen_vectors(features.FeatureCache(None), encoder, data))
    by_size: dict[int, dict[str, float]] = {}
    for point in points:
        by_size.setdefault(point.examples, {})[point.series] = point.accuracy
    assert sorted(by_size) == [16, 64, len(data.train)]
    for size, score in by_size.items():
        assert score["pretrained"] > score["frozen"] > score["scratch"], (size, score)
    assert by_size[16]["pretrained"] >= 0.8  # pretrained rises fast: few examples already go a long way
