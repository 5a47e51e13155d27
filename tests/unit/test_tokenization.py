import pytest

from lab import render
from lab.errors import LabInputError
from lab.settings import ASSETS_DIR
from lab.tokenization import check_text, tokenize_batch, tokenize_pieces, train_wordpiece

CORPUS = ASSETS_DIR / "corpus" / "wordpiece_corpus.txt"


def test_pieces_kinds_ids_and_offsets(bert_tokenizer):
    text = "Unbelievably, I love xyzzy 🤖!"
    pieces = tokenize_pieces(bert_tokenizer, text)
    assert [p.token for p in pieces[:3]] == ["[CLS]", "un", "##bel"]
    assert pieces[0].kind == "special" and pieces[-1].token == "[SEP]"
    assert pieces[2].kind == "continuation" and pieces[1].kind == "word"
    assert any(p.kind == "unk" and p.source == "🤖" for p in pieces)
    for p in pieces:
        if p.start is not None:  # every piece maps back to its characters
            assert text[p.start:p.end] == p.source
            assert p.source.lower().startswith(p.token.removeprefix("##")) or p.kind == "unk"
    assert pieces[1].id == bert_tokenizer.convert_tokens_to_ids("un")


def test_pair_has_two_segments(bert_tokenizer):
    pieces = tokenize_pieces(bert_tokenizer, "Paris is big.", "Where is Paris?")
    assert [p.token for p in pieces].count("[SEP]") == 2
    assert {p.segment for p in pieces} == {None, 0, 1}
    second = [p for p in pieces if p.segment == 1]
    assert second[0].source == "Where"


def test_batch_padding_truncation_and_masks(bert_tokenizer):
    rows = tokenize_batch(bert_tokenizer, ["I love dogs.", "", "Transfer learning starts from a pretrained model today."],
                          padding=True, truncation=True, max_length=8)
    assert len(rows) == 2  # blank lines dropped
    assert all(len(r.input_ids) == 8 for r in rows)
    short = rows[0]
    assert short.attention_mask == [1] * 6 + [0] * 2 and short.pieces[-1] == "[PAD]"
    assert short.tokens == 6 and short.words == 3 and not short.truncated
    assert rows[1].truncated and rows[1].pieces[-1] == "[SEP]"
    unpadded = tokenize_batch(bert_tokenizer, ["a", "a b c"], padding=False, truncation=False)
    assert [len(r.input_ids) for r in unpadded] == [3, 5]


def test_batch_limits(bert_tokenizer):
    with pytest.raises(LabInputError, match="empty"):
        tokenize_batch(bert_tokenizer, ["  ", ""])
    with pytest.raises(LabInputError, match="limit"):
        tokenize_batch(bert_tokenizer, ["hi"], max_length=100000)


def test_check_text():
    with pytest.raises(LabInputError, match="empty"):
        check_text("   ", 100)
    with pytest.raises(LabInputError, match="at most 100"):
        check_text("x" * 101, 100)


def test_trained_wordpiece_vocabulary_size_changes_the_split():
    small = train_wordpiece(CORPUS, 80)
    large = train_wordpiece(CORPUS, 1500)
    text = "Unbelievably, the gardeners were watering tomatoes."
    n_small, n_large = len(small.tokenize(text)), len(large.tokenize(text))
    assert n_small > n_large  # a smaller vocabulary splits words into more pieces
    assert any(t.startswith("##") for t in small.tokenize(text))
    pieces = tokenize_pieces(small, text)
    assert pieces[0].token == "[CLS]" and pieces[-1].token == "[SEP]"
    assert len(large) <= 1500


def test_render_escapes_user_text(bert_tokenizer):
    text = "<script>alert(1)</script>"
    pieces = tokenize_pieces(bert_tokenizer, text)
    html = render.pieces_html(pieces) + render.source_html(text, pieces)
    assert "<script>" not in html and "&lt;" in html
    assert html.count('class="tok-chip tok-') >= len(pieces)


@pytest.mark.slow  # converts a 4-bit SentencePiece model: seconds
def test_sentencepiece_pieces_without_a_word_start_mark_continue_a_word(tmp_path, bert_tokenizer):
    from transformers import AutoTokenizer

    from lab import e5_loader
    from lab.tokenization import marks_word_starts
    from tests import e5_file

    e5_file.write(tmp_path / "tiny-q4.bin")
    unigram = AutoTokenizer.from_pretrained(e5_loader.convert(tmp_path / "tiny-q4.bin", tmp_path / "converted"))
    assert marks_word_starts(unigram) and not marks_word_starts(bert_tokenizer)
    kinds = [(p.token, p.kind) for p in tokenize_pieces(unigram, "hello saya")]
    assert kinds == [("<s>", "special"), ("▁hello", "word"), ("▁sa", "word"), ("ya", "continuation"),
                     ("</s>", "special")]
