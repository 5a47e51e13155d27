"""NER: CoNLL/CSV reading and checks, sub-word labels, a short run on a tiny BERT, reload in the NER tab's loader.

The task the tiny model learns: person names (one word) and "acme corp" (two words, B-ORG I-ORG)
among filler words.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from lab.loading import ModelCache
from lab.ner import tag_entities
from lab.registry import ModelRef
from lab.settings import Settings
from training.config import TrainConfig
from training.data.data import DataError
from training.data.ner_data import (
    detect_scheme,
    load_ner,
    read_conll,
    read_token_csv,
    split_token_dataset,
    summarize_ner,
    to_iob2,
)
from training.engine.models import count_parameters
from training.tasks.tasks import TokenClassificationTask, train_token_classifier

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

FILLER = "the movie was a film plot scene story long short it really quite very".split()
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]


def sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [(w, "O") for w in rng.sample(FILLER, rng.randint(2, 5))]
        words.insert(rng.randint(0, len(words)), (rng.choice(PEOPLE), "B-PER"))
        if i % 2:
            at = rng.randint(0, len(words))
            words[at:at] = [("acme", "B-ORG"), ("corp", "I-ORG")]
        out.append(words)
    return out


def write_conll(path: Path, data, sep: str = "\t", docstart: bool = True) -> Path:
    lines = ["-DOCSTART- -X- O O", ""] if docstart else []
    for sentence in data:
        lines += [f"{w}{sep}{t}" for w, t in sentence] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


# Tiny random weights learn slowly at BERT's usual 5e-5: a larger step makes a few steps enough.
FAST = dict(learning_rate=1e-2, warmup_ratio=0.0, batch_size=8, evals_per_epoch=1, precision="fp32")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ner-data")
    return write_conll(d / "train.conll", sentences(48, 1)), write_conll(d / "val.txt", sentences(16, 2), sep=" ")


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings, files):
    train = load_ner(files[0])
    val = load_ner(files[1], label_names=train.label_names)
    train, test, _ = split_token_dataset(train, 0.25, seed=0)
    events = []
    out = tmp_path_factory.mktemp("ner-run") / "out"
    result = train_token_classifier(TrainConfig(epochs=5, max_length=32, **FAST), train, val, out, test=test,
                                    on_event=events.append, settings=settings)
    return result, events, train, val


# ---------------------------------------------------------------------------------- reading


def test_conll_reads_tabs_spaces_and_docstart(files):
    train = read_conll(files[0])
    assert len(train) == 48 and train.scheme == "IOB2"
    assert train.label_names == ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]  # O first, then B-/I- per type
    assert train.lines[0] == 3  # line 1 is -DOCSTART-, line 2 blank
    assert all(len(s) == len(t) for s, t in zip(train.sentences, train.tags))
    val = read_conll(files[1], label_names=train.label_names)  # space-separated
    assert len(val) == 16 and val.label_names == train.label_names


def test_tag_column_picks_among_several(tmp_path):
    path = tmp_path / "conll2003.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n")
    assert read_conll(path).tags == [["B-ORG", "O", "B-MISC", "O"]]
    chunks = read_conll(path, tag_column=2)
    assert chunks.tags == [["B-NP", "B-VP", "B-NP", "I-NP"]] and chunks.entity_types == ["NP", "VP"]


def test_language_prefix_is_detected_or_kept(tmp_path):
    path = tmp_path / "wikiann"
    path.write_text("en:R.H.\tB-ORG\nen:Saunders\tI-ORG\nen:(\tO\n\nen:Karl\tB-PER\nen::\tO\n")
    ds = read_conll(path)
    assert ds.sentences == [["R.H.", "Saunders", "("], ["Karl", ":"]]
    assert any("'en:'" in note for note in ds.notes)
    assert read_conll(path, strip_prefix="").sentences[0][0] == "en:R.H."


def test_iob1_and_bioes_are_converted_with_a_note(tmp_path):
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]) == "IOB1"
    assert to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert to_iob2(["S-PER", "B-LOC", "E-LOC", "U-ORG", "O"]) == ["B-PER", "B-LOC", "I-LOC", "B-ORG", "O"]
    assert to_iob2(["S-PER", "S-PER"]) == ["B-PER", "B-PER"]  # two single-word entities stay two
    path = tmp_path / "iob1.conll"
    path.write_text("Angela\tI-PER\nMerkel\tI-PER\nvisited\tO\nParis\tI-LOC\n")
    ds = read_conll(path)
    assert ds.scheme == "IOB1" and ds.tags == [["B-PER", "I-PER", "O", "B-LOC"]]
    assert "converted to IOB2" in ds.notes[0]


def test_token_csv(tmp_path):
    path = tmp_path / "ner.csv"
    path.write_text("tokens,tags\nalice met bob,B-PER O B-PER\nacme corp hires,B-ORG I-ORG O\n")
    ds = read_token_csv(path)
    assert ds.sentences == [["alice", "met", "bob"], ["acme", "corp", "hires"]] and ds.lines == [2, 3]
    assert load_ner(path).tags == ds.tags  # .csv goes to the table reader


@pytest.mark.parametrize("name, content, message", [
    ("bad.conll", "alice\tB-PER\nmet\nbob\tB-PER\n", r"1 line\(s\) hold a token without a tag \(line 2\)"),
    ("bad.conll", "alice\tB-PER\n\tO\n", r"empty token \(line 2\)"),
    ("bad.conll", "alice\tPERSON\nmet\tO\n\nbob\tPERSON\n",
     r"unknown tag scheme: tag\(s\) 'PERSON' \(lines 1 and 4\).*IO scheme"),
    ("bad.conll", "alice\tb-per\n", r"unknown tag scheme.*'b-per' \(line 1\).*upper-case"),
    ("bad.conll", "alice\tO\nmet\tO\n", "no entity to learn"),
    ("bad.conll", "\n\n-DOCSTART- -X- O O\n\n", "holds no sentences"),
    ("bad.csv", "tokens,tags\nalice met bob,B-PER O B-PER\nacme corp,B-ORG\n", r"line 3: 2 tokens but 1 tags"),
    ("bad.csv", "tokens,tags\nalice met bob,B-PER O B-PER\n  ,O O\n", r"1 empty sentence\(s\) \(no tokens; line 3\)"),
    ("bad.csv", "words,labelz\nalice,B-PER\n", "needs a 'tokens' column and a 'tags' column"),
])
def test_file_errors_name_the_lines(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        (read_token_csv if name.endswith(".csv") else read_conll)(path)


def test_validation_file_with_an_unknown_tag(tmp_path, files):
    train = read_conll(files[0])
    path = tmp_path / "val.conll"
    path.write_text("alice\tB-PER\n\nparis\tB-LOC\n")
    with pytest.raises(DataError, match=r"'B-LOC' \(line 3\)"):
        read_conll(path, label_names=train.label_names)


def test_split_and_summary(files, base_dir):
    ds = read_conll(files[0])
    train, val, test = split_token_dataset(ds, 0.25, 0.125, seed=3)
    assert (len(train), len(val), len(test)) == (30, 12, 6)
    assert sorted(train.lines + val.lines + test.lines) == sorted(ds.lines)
    assert split_token_dataset(ds, 0.25, 0.125, seed=3)[1].lines == val.lines
    with pytest.raises(DataError, match="too few"):
        split_token_dataset(ds.subset([0]), 0.2)
    summary = summarize_ner(ds)
    assert summary["sentences"] == 48 and summary["entities"] == {"ORG": 24, "PER": 48}
    assert summary["tokens"] == sum(len(s) for s in ds.sentences) and summary["scheme"] == "IOB2"
    pieces = summarize_ner(ds, AutoTokenizer.from_pretrained(base_dir))
    assert pieces["length_unit"] == "pieces" and pieces["lengths"][0] == len(ds.sentences[0]) + 2
    assert pieces["suggested_max_length"] % 8 == 0


def test_sub_word_labels_first_piece_or_all_pieces(base_dir):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    ds = read_conll_text(["Angela\tB-PER", "Merkel\tI-PER", "went\tO"])
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(ds.sentences[0], is_split_into_words=True)["input_ids"])
    assert pieces[:4] == ["[CLS]", "angela", "mer", "##kel"]
    first = TokenClassificationTask(ds.label_names).features(ds, tokenizer, 32, None, training=True)
    ids = ds.label2id
    assert first.dataset["labels"][0] == [-100, ids["B-PER"], ids["I-PER"], -100, ids["O"], -100]
    every = TokenClassificationTask(ds.label_names, label_all_pieces=True)
    assert every.features(ds, tokenizer, 32, None, training=True).dataset["labels"][0] == [
        -100, ids["B-PER"], ids["I-PER"], ids["I-PER"], ids["O"], -100]
    # validation is scored per word either way: first pieces only
    assert every.features(ds, tokenizer, 32, None, training=False).dataset["labels"][0] == first.dataset["labels"][0]
    b_word = read_conll_text(["Merkel\tB-PER"])
    labels = TokenClassificationTask(b_word.label_names, True).features(b_word, tokenizer, 32, None, True)
    # B- only on the first piece: "##kel" continues the entity
    assert labels.dataset["labels"][0][1:3] == [b_word.label2id["B-PER"], b_word.label2id["I-PER"]]


def read_conll_text(lines: list[str]):
    with tempfile.NamedTemporaryFile("w", suffix=".conll", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        return read_conll(f.name)
    finally:
        Path(f.name).unlink()


# ---------------------------------------------------------------------------------- training


def test_run_learns_entities_and_reports_per_type(run):
    result, events, train, val = run
    assert result.best_metrics["f1"] >= 0.6
    assert set(result.best_metrics) >= {"val_loss", "precision", "recall", "f1", "accuracy", "step"}
    report = result.val_report
    assert set(report["per_type"]) == {"ORG", "PER"} and report["per_type"]["PER"]["support"] == 16
    assert report["per_type"]["ORG"]["support"] == 8 and report["confusion_labels"] == ["ORG", "PER", "O"]
    assert sum(map(sum, report["confusion"])) >= report["support"]
    assert report["f1"] == result.best_metrics["f1"] and "val_loss" in report
    assert result.test_report["sentences"] == 12 and "test_loss" in result.test_report
    evals = [e for e in events if e.kind == "eval"]
    assert evals and set(evals[0].metrics) >= {"val_loss", "precision", "recall", "f1", "accuracy", "is_best"}
    assert events[-1].kind == "done" and "test_f1" in events[-1].metrics
    for m in result.misclassified:
        assert m["wrong_words"] == sum(a != b for a, b in zip(m["true"], m["predicted"])) > 0
        assert m["text"] == " ".join(m["tokens"]) and m["line"] in val.lines


def test_auto_precision_follows_the_cpu_and_learns_on_both(tmp_path, settings, files, cpu_bf16):
    train = load_ner(files[0])
    val = load_ner(files[1], label_names=train.label_names)
    config = TrainConfig(epochs=5, max_length=32, **{**FAST, "precision": "auto"})
    result = train_token_classifier(config, train, val, tmp_path / "auto", settings=replace(settings, cpu_bf16="auto"))
    assert result.precision == ("bf16" if cpu_bf16 else "fp32")
    assert result.best_metrics["f1"] >= 0.6 and isinstance(result.best_metrics["precision"], float)
    metrics = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert metrics["precision"] == result.precision and isinstance(metrics["best_metrics"]["precision"], float)


def test_metrics_json_and_the_ner_tab_loads_the_best_checkpoint(run):
    result, _, train, val = run
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["task"] == "ner" and metrics["labels"] == train.label_names
    assert metrics["best_metrics"]["f1"] == pytest.approx(result.best_metrics["f1"])
    assert metrics["val_report"]["per_type"]["PER"]["support"] == 16
    loaded = ModelCache(Settings(offline=True)).get(ModelRef("ner", "local", str(result.best_dir), "my-ner"))
    model, tokenizer = loaded.model, loaded.tokenizer
    assert type(model).__name__ == "BertForTokenClassification"
    assert model.config.id2label == dict(enumerate(train.label_names))
    # the saved weights reproduce the best evaluation's token accuracy (first piece per word)
    correct = total = 0
    for words, tags in zip(val.sentences, val.tags):
        enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            pred = model(**enc).logits[0].argmax(-1).tolist()
        ids, previous = enc.word_ids(0), None
        for position, w in enumerate(ids):
            if w is not None and w != previous:
                correct += model.config.id2label[pred[position]] == tags[w]
                total += 1
            previous = w
    assert correct / total == pytest.approx(result.best_metrics["accuracy"])
    found = tag_entities(model, tokenizer, "yesterday alice met acme corp", "first")
    assert {e.label for e in found.entities} <= {"PER", "ORG"}


def test_lora_keeps_the_token_head_trainable_and_saves_a_plain_model(tmp_path, settings, run):
    _, _, train, val = run
    config = TrainConfig(strategy="lora", lora_r=4, epochs=1, max_length=32, **FAST)
    result = train_token_classifier(config, train, val, tmp_path / "lora", settings=settings, label_all_pieces=True)
    # what the tab shows before training (built on the meta device) is what the run trained
    assert count_parameters(config, 5, settings, task="ner") == (result.trainable_params, result.total_params)
    # 2 layers x (query, value) x (A 4x32 + B 32x4) + the classifier 32 -> 5 tags
    assert result.trainable_params == 2 * 2 * 256 + 32 * 5 + 5
    assert result.extra["lora_merged"] and result.extra["label_all_pieces"]
    assert not any("lora" in k for k in load_file(result.best_dir / "model.safetensors"))


def test_cancel_keeps_a_checkpoint(tmp_path, settings, run):
    _, _, train, val = run
    steps = []
    result = train_token_classifier(TrainConfig(epochs=3, max_length=32, **{**FAST, "evals_per_epoch": 2}),
                                    train, val, tmp_path / "c", settings=settings,
                                    on_event=lambda e: steps.append(e.step) if e.kind == "step" else None,
                                    should_stop=lambda: len(steps) >= 2)
    assert result.stopped_early == "cancelled" and steps == [1, 2]
    assert (result.best_dir / "config.json").is_file()
