"""The multilingual encoder as one more registry entry: listed where a base model is chosen when its
file is there, loaded lazily through the cache folder, a bad file reported while the rest works, and
its large vocabulary left out of full fine-tuning. A tiny file in its format stands in (tests/e5_file.py)."""

import dataclasses

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from lab import registry
from lab.errors import ModelLoadError
from lab.loading import ModelCache
from lab.settings import Settings
from tests import e5_file
from training.config import TrainConfig
from training.engine.models import build_model, resolve_base_model
from training.engine.strategies import LARGE_VOCABULARY, apply_strategy

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow


@pytest.fixture
def e5_settings(tmp_path) -> Settings:
    path = tmp_path / "tiny-q4.bin"
    e5_file.write(path)
    return Settings(offline=True, multilingual_file=path, cache_dir=tmp_path / "cache")


def test_it_is_offered_offline_where_a_base_model_is_chosen(e5_settings):
    for task in registry.MULTILINGUAL_TASKS:
        assert registry.MULTILINGUAL_NAME in registry.choices(task, e5_settings, hub_online=False)
    for task in ("classification", "ner", "qa", "fill-mask"):  # tasks that need a trained head
        assert registry.MULTILINGUAL_NAME not in registry.choices(task, e5_settings, hub_online=False)
    ref = registry.resolve("finetune-base", registry.MULTILINGUAL_NAME, e5_settings, hub_online=False)
    assert (ref.kind, ref.id) == ("converted", registry.MULTILINGUAL)


def test_it_is_not_listed_without_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr("lab.e5_loader.wheel_file", lambda: None)
    assert registry.MULTILINGUAL_NAME not in registry.choices("finetune-base", Settings(offline=True), False)


def test_nothing_is_converted_until_it_is_picked(e5_settings):
    registry.choices("finetune-base", e5_settings, hub_online=False)
    assert not (e5_settings.cache_dir / "multilingual-e5-small").exists()
    loaded = ModelCache(e5_settings).get(registry.multilingual_ref("finetune-base"))
    assert loaded.model.config.vocab_size == e5_file.ROWS
    assert loaded.tokenizer.tokenize("hello world") == ["▁hello", "▁world"]
    assert (e5_settings.cache_dir / "multilingual-e5-small").is_dir()


def test_a_corrupt_file_is_reported_and_the_embedded_model_still_loads(e5_settings):
    data = e5_settings.multilingual_file.read_bytes()
    e5_settings.multilingual_file.write_bytes(data[:-5000])
    cache = ModelCache(e5_settings)
    with pytest.raises(ModelLoadError) as caught:
        cache.get(registry.multilingual_ref("tokenizer"))
    assert caught.value.args[0].key == "msg.lab.e5.corrupt"
    assert "rusak" in caught.value.args[0].say("id")
    assert cache.get(registry.embedded_ref("tokenizer")).tokenizer.tokenize("hello") == ["hello"]


def test_a_fine_tuning_run_builds_on_the_converted_checkpoint(e5_settings):
    config = TrainConfig(base_model=registry.MULTILINGUAL_NAME)
    source, display = resolve_base_model(config, e5_settings, hub_online=False)
    assert display == registry.MULTILINGUAL_NAME
    model = build_model(source, ["negative", "positive"], False, 0)
    assert isinstance(model, BertForSequenceClassification)
    trainable, total = apply_strategy(model, dataclasses.replace(config, strategy="full"))
    assert trainable == total  # a small vocabulary trains with the rest


def test_full_fine_tuning_leaves_a_multilingual_sized_vocabulary_frozen():
    config = BertConfig(vocab_size=LARGE_VOCABULARY + 1, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=37)
    with torch.device("meta"):
        model = BertForSequenceClassification(config)
    trainable, total = apply_strategy(model, TrainConfig(strategy="full"))
    assert total - trainable == (LARGE_VOCABULARY + 1) * 32
    assert not model.get_input_embeddings().weight.requires_grad
    assert model.bert.encoder.layer[0].output.dense.weight.requires_grad


def test_the_tokenizer_tab_and_the_encoder_share_one_tokenizer(e5_settings):
    cache = ModelCache(e5_settings)
    encoder = cache.get(registry.multilingual_ref("finetune-base"))
    assert cache.get(registry.multilingual_ref("tokenizer")).tokenizer is encoder.tokenizer
