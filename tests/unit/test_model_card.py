import torch

from lab.loading import LoadedModel, ModelCache
from lab.model_card import measure, next_sentence
from lab.registry import ModelRef, embedded_ref
from lab.settings import Settings
from tests.tiny import save_tiny


def test_card_of_the_embedded_encoder_is_measured():
    loaded = ModelCache(Settings(offline=True)).get(embedded_ref("finetune-base"))
    card = measure(loaded, "Transfer learning is useful.", repeats=2)
    assert (card.layers, card.hidden, card.heads) == (6, 384, 12)
    assert 22e6 < card.parameters < 23.5e6  # all-MiniLM-L6-v2 has ~22.7M parameters
    assert card.vocabulary == 30522 and card.tokens == 7 and card.milliseconds > 0


def test_tiny_card_reports_its_own_shape(tiny_mlm_dir):
    # Sizes only: timings depend on the machine's load, so no test compares them.
    cache = ModelCache(Settings(offline=True))
    tiny = measure(cache.get(ModelRef("fill-mask", "local", str(tiny_mlm_dir), "tiny")), "a b c " * 50, repeats=1)
    mini = measure(cache.get(embedded_ref("finetune-base")), "a b c " * 50, repeats=1)
    assert tiny.parameters < mini.parameters and (tiny.layers, tiny.hidden, tiny.heads) == (2, 32, 2)
    assert tiny.tokens == 128 and mini.tokens == 152  # truncated at the tiny model's 128 positions


def test_next_sentence_probability(tmp_path):
    directory = save_tiny(tmp_path / "nsp", "BertForNextSentencePrediction")
    loaded = ModelCache(Settings(offline=True)).get(ModelRef("nsp", "local", str(directory), "tiny-nsp"))
    result = next_sentence(loaded, "She opened the fridge.", "It was empty.")
    assert 0 <= result.is_next <= 1
    assert result.tokens[0] == "[CLS]" and result.tokens.count("[SEP]") == 2
    inputs = loaded.tokenizer("She opened the fridge.", "It was empty.", return_tensors="pt")
    with torch.inference_mode():
        expected = loaded.model(**inputs).logits[0].softmax(-1)[0].item()
    assert abs(result.is_next - expected) < 1e-6
    assert isinstance(loaded, LoadedModel)
