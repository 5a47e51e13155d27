"""Capitals for an uncased encoder: segment id 1 for every piece of a word that starts with a
capital letter, the same from CoNLL's words (training) and from raw text (the NER tab)."""

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from lab import word_shape
from lab.ner import tag_entities
from lab.registry import embedded_encoder_dir
from training.data.ner_data import TokenDataset
from training.tasks.tasks import TokenClassificationTask


def test_a_word_is_capitalized_by_its_first_letter():
    assert [word_shape.shape(w) for w in ("Paris", "EU", "paris", "1996", "-", "McDonald", "éclair", "Émile")] == \
        [1, 1, 0, 0, 0, 1, 0, 1]


def test_the_same_ids_from_words_and_from_raw_text():
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_dir())
    words = ["Angela", "Merkel", "visited", "Hamburgisches", "museums", "."]
    from_words = tokenizer(words, is_split_into_words=True)
    text = " ".join(words)
    from_text = tokenizer(text, return_offsets_mapping=True)
    ids_words = word_shape.from_words(words, from_words.word_ids())
    ids_text = word_shape.from_text(text, from_text["offset_mapping"], from_text.word_ids())
    assert ids_words == ids_text
    pieces = tokenizer.convert_ids_to_tokens(from_text["input_ids"])
    assert len(pieces) > len(words) + 2  # "Hamburgisches" falls into pieces, all of them marked
    assert [i for p, i in zip(pieces, ids_text) if p.startswith("##")] and \
        all(i == 1 for p, i, w in zip(pieces, ids_text, from_text.word_ids()) if w == 3)
    assert ids_text[0] == ids_text[-1] == 0  # [CLS], [SEP]


def test_training_features_carry_the_shapes_only_when_asked():
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_dir())
    data = TokenDataset([["EU", "rejects", "German", "call"]], [["B-ORG", "O", "B-MISC", "O"]],
                        ["O", "B-ORG", "I-ORG", "B-MISC", "I-MISC"])
    task = TokenClassificationTask(data.label_names, word_shape=True)
    row = task.features(data, tokenizer, 32, None, training=True).dataset[0]
    assert row["token_type_ids"] == [0, 1, 0, 1, 0, 0]
    plain = TokenClassificationTask(data.label_names).features(data, tokenizer, 32, None, training=True)
    assert set(plain.dataset[0]["token_type_ids"]) == {0}


def test_the_ner_tab_gives_a_shape_trained_head_its_capitals(tiny_ner_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_ner_dir)
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner_dir).eval()
    with torch.no_grad():  # a distinct segment vector, so capitals change what the tiny model sees
        model.bert.embeddings.token_type_embeddings.weight[1].normal_(0, 2.0)

    def scores(text):
        return [p.score for p in tag_entities(model, tokenizer, text, aggregation="none").pieces]

    assert scores("she flew to paris") == scores("She flew to Paris")  # an uncased model sees no difference
    setattr(model.config, word_shape.CONFIG_KEY, word_shape.CAPITALIZED)
    assert word_shape.enabled(model.config)
    assert scores("she flew to paris") != scores("She flew to Paris")
