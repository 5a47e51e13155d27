"""The fill-mask recipe end to end on a few lines: blocks trained in full, resumed, exported, reloaded.

The real embedded encoder, a handful of optimizer steps over data laid out as in ../shared/data
(built here from the project's own samples): the wiring that ships the fill-mask head, not its
quality (the shipped head's own tests check that).
"""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lab.fill_mask import fill_mask
from lab.loading import ModelCache
from lab.registry import embedded_ref
from lab.settings import ASSETS_DIR, Settings
from training.recipes import export, mlm
from training.recipes.qa import SQUAD_FILE

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

SAMPLES = ASSETS_DIR / "samples"
SMALL = ["--batch-size", "2", "--block", "32", "--heldout-blocks", "4", "--eval-every", "1",
         "--checkpoint-minutes", "0", "--threads", "1", "--lr", "2e-4", "--encoder-lr", "1e-4"]


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "data"
    (data / "wikitext2_raw").mkdir(parents=True)
    (data / "wikitext2_raw" / "wiki.test.raw").write_text(
        " = Lighthouses = \r\n\r\n The tower is 1 @,@ 200 feet tall and was built in 1887 .\r\n"
        " Its light @-@ keeper lived in a house beside it .\r\n" * 3, encoding="utf-8")
    (data / "squad").mkdir()
    shutil.copy(SAMPLES / "qa.json", data / SQUAD_FILE)
    (data / "sst2").mkdir()
    with (SAMPLES / "sentiment.csv").open(encoding="utf-8") as f:
        rows = [(r["text"], 1 if r["label"] == "positive" else 0) for r in csv.DictReader(f)]
    (data / "sst2" / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (data / "wikiann_en").mkdir()
    lines = [f"en:{line}" if line.strip() else line for line in (SAMPLES / "ner.conll").read_text().splitlines()]
    (data / "wikiann_en" / "train").write_text("\n".join(lines) + "\n")
    (data / "conll2003").mkdir()
    (data / "conll2003" / "train.txt").write_text("-DOCSTART- -X- -X- O\n\n" + (SAMPLES / "ner.conll").read_text())
    (data / "wnut17").mkdir()
    for name in ("wnut17train.conll", "emerging.dev.conll"):
        shutil.copy(SAMPLES / "ner.conll", data / "wnut17" / name)
    return data


def test_sources_are_cleaned_and_split_without_overlap(data_dir):
    sources = mlm.read_sources(data_dir)
    assert set(sources) == {"wikitext2", "squad_contexts", "sst2", "wikiann", "conll2003", "wnut17", "project"}
    assert all(sources.values())
    assert not any("DOCSTART" in line for line in sources["conll2003"])
    # the project's own text: its WordPiece corpus and every sample dataset's sentences
    assert any("Missed the last bus" in line for line in sources["project"])
    assert any(line.startswith("The lab opens every morning") for line in sources["project"])
    assert not any(line.startswith("=") for line in sources["wikitext2"])
    assert "1,200 feet" in sources["wikitext2"][0] and "light-keeper" in sources["wikitext2"][1]
    train, heldout = mlm.split_lines(sources)
    assert heldout and len(train) > 5 * len(heldout)




def test_recipe_trains_resumes_exports_and_the_head_loads(tmp_path, data_dir):
    run = tmp_path / "run"
    # Seed 4: the held-out loss (4 short blocks, a noisy measure) falls within these 3 steps, so the
    # kept weights are trained ones and the export has a changed block to ship.
    common = ["--data-dir", str(data_dir), "--output", str(run), "--full-layers", "5", "--lora-layers", "none",
              "--seed", "4", *SMALL]
    first = mlm.main([*common, "--max-steps", "2"])
    assert first["steps_done"] == 2 and (run / "checkpoint" / "loop_state.json").is_file()
    metrics = mlm.main([*common, "--max-steps", "3", "--resume"])
    assert metrics["steps_done"] == 3 and [h["step"] for h in metrics["history"]] == [0, 1, 2, 3]
    assert metrics["full_layers"] == "5"

    assets = tmp_path / "assets"
    result = export.main(["fill-mask", str(run), "--assets", str(assets), "--data-dir", str(data_dir)])
    assert result["export"]["max_logit_diff"] < 0.1
    delta = load_file(assets / "models" / "fill-mask" / "delta.safetensors")
    changed_blocks = {k.split(".")[3] for k in delta if k.startswith("bert.encoder.layer.")}
    assert changed_blocks == {"5"}  # only the block that trained: its matrices as int8 differences
    assert delta["bert.encoder.layer.5.intermediate.dense.weight.int8_diff"].dtype == torch.int8
    assert "bert.encoder.layer.5.output.LayerNorm.weight" in delta  # vectors in fp16
    assert "cls.predictions.transform.dense.weight" in delta and "bert.embeddings.word_embeddings.weight" not in delta
    card = (assets / "models" / "fill-mask" / "README.md").read_text()
    assert "encoder blocks 5 trained in full" in card and "--full-layers 5" in card and "--max-steps 3" in card

    loaded = ModelCache(Settings(offline=True, assets_dir=assets)).get(embedded_ref("fill-mask"))
    result = fill_mask(loaded.model, loaded.tokenizer, "The tower was [MASK] in 1887.", top_k=5)
    assert len(result.masks[0].candidates) == 5


def test_blocks_trained_in_full_get_their_own_learning_rate():
    from transformers import BertForMaskedLM

    from tests.tiny import tiny_config

    assert mlm.parse_blocks("4,5", 6) == [4, 5] and mlm.parse_blocks("all", 6) == list(range(6))
    assert mlm.parse_blocks("none", 6) == []
    model = BertForMaskedLM(tiny_config(num_hidden_layers=3))
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(("bert.encoder.layer.2.", "cls.")) and "decoder.weight" not in name)
    args = mlm.build_parser().parse_args(["--output", "x", "--lr", "1e-3", "--encoder-lr", "1e-4"])
    groups = mlm.param_groups(model, [2], args)
    by_lr = {}
    for g in groups:
        by_lr.setdefault(g["lr"], []).extend(g["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in by_lr[1e-4]} == {"bert"}
    assert all(names[id(p)].startswith("bert.encoder.layer.2.") for p in by_lr[1e-4])
    assert all(names[id(p)].startswith("cls.") for p in by_lr[1e-3])
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())
    assert all(g["weight_decay"] == 0.0 for g in groups if any(names[id(p)].endswith("bias") for p in g["params"]))


def test_whole_words_are_masked_together():
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from lab.registry import embedded_encoder_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_dir())
    continues = np.array([t.startswith("##") for t in tokenizer.convert_ids_to_tokens(range(len(tokenizer)))])
    text = "The snowboarding instructor adjusted her goggles beside the gondola"
    block = tokenizer(text)["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(block)
    assert sum(p.startswith("##") for p in pieces) >= 2  # words of several pieces are in the sentence
    word_of = np.cumsum([not p.startswith("##") for p in pieces])
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.4, whole_word_mask=True,
                                               mask_replace_prob=1.0, random_replace_prob=0.0)
    masked_words = 0
    for seed in range(20):
        batch = mlm.make_batch(collator, [block, block[:5] + [block[-1]]], seed, continues)
        assert batch["input_ids"].shape == (2, len(block)) and batch["attention_mask"][1].sum() == 6
        masked = (batch["labels"][0] != -100).numpy()
        for word in set(word_of[masked]):  # a word is masked in all its pieces or in none
            assert masked[word_of == word].all(), pieces
        assert not masked[[0, -1]].any()  # never [CLS] or [SEP]
        assert (batch["input_ids"][0][masked] == tokenizer.mask_token_id).all()
        masked_words += len(set(word_of[masked]))
    assert masked_words > 20  # ~40% of 10 words, 20 times
    again = mlm.make_batch(collator, [block], 3, continues)
    assert torch.equal(again["labels"][0], mlm.make_batch(collator, [block], 3, continues)["labels"][0])


def test_training_can_start_from_an_exported_head(tmp_path, data_dir):
    run = tmp_path / "run"
    common = ["--data-dir", str(data_dir), "--full-layers", "5", "--lora-layers", "none", *SMALL]
    mlm.main([*common, "--output", str(run), "--max-steps", "1"])
    assets = tmp_path / "assets"
    export.main(["fill-mask", str(run), "--assets", str(assets), "--data-dir", str(data_dir)])
    head = assets / "models" / "fill-mask"
    more = mlm.main([*common, "--output", str(tmp_path / "more"), "--max-steps", "1", "--init", str(head)])
    # step 0 of the continued run is the exported head, not a fresh one
    exported = json.loads((run / "export.json").read_text())["scores"]["heldout"]
    assert more["step0"]["perplexity"] == pytest.approx(exported["perplexity"], rel=0.05)
    assert more["init"] == str(head)
    export.main(["fill-mask", str(tmp_path / "more"), "--assets", str(tmp_path / "assets2"), "--data-dir",
                 str(data_dir), "--init-commit", "abc1234"])
    card = (tmp_path / "assets2" / "models" / "fill-mask" / "README.md").read_text()
    assert f"git archive abc1234 {head}" in card and f"--init runs/fill-mask-start/{head}" in card
    assert "**everyday cloze, top-5** (`assets/eval/cloze-everyday.json`, 60 sentences)" in card
    assert "| home |" in card and "masked whole" in card  # misses by topic; whole-word masking
