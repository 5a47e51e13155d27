"""``python -m training --task ner|qa``: the task switch, runs end to end from files, bad input exits 2."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_ner_training import sentences, write_conll
from tests.unit.test_qa_training import write_squad
from training.__main__ import build_parser, main

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow


def test_task_flags_and_defaults():
    parser = build_parser()
    args = parser.parse_args(["--train", "x.csv", "--output", "o"])
    assert (args.task, args.tag_column, args.strip_prefix, args.label_all_pieces) == ("classification", -1, None, False)
    assert (args.stride, args.max_answer_len) == (None, 30)
    args = parser.parse_args(["--task", "qa", "--train", "s.json", "--output", "o", "--stride", "64"])
    assert (args.task, args.stride) == ("qa", 64)
    actions = {a.dest: a for a in parser._actions}
    assert all(actions[name].help for name in ("task", "tag_column", "strip_prefix", "label_all_pieces", "stride",
                                               "max_answer_len"))


def test_cli_trains_ner_from_conll(tmp_path, base_dir, monkeypatch, capsys):
    """As a host would run it: the base model from LAB_MODEL_FINETUNE_BASE, a separate validation file."""
    train = write_conll(tmp_path / "train.conll", sentences(32, 1))
    val = write_conll(tmp_path / "val.conll", sentences(8, 2), sep=" ")
    out = tmp_path / "ner"
    monkeypatch.setenv("LAB_MODEL_FINETUNE_BASE", str(base_dir))
    code = main(["--task", "ner", "--train", str(train), "--validation", str(val), "--output", str(out), "--epochs",
                 "1", "--batch-size", "8", "--learning-rate", "1e-2", "--max-length", "32", "--precision", "fp32",
                 "--label-all-pieces"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "data: 32 train / 8 validation sentences, tags ['O', 'B-ORG', 'I-ORG', 'B-PER', 'I-PER']" in stdout
    assert "best checkpoint: step" in stdout and " f1 " in stdout
    assert "type  precision  recall     f1  support" in stdout and "\nPER " in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["step"] for h in metrics["history"] if h["kind"] == "eval"] == [2, 4]  # two per epoch (the default)
    assert metrics["task"] == "ner" and metrics["label_all_pieces"] is True
    assert metrics["id2label"]["1"] == "B-ORG" and metrics["val_report"]["sentences"] == 8
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"] and config["id2label"]["3"] == "B-PER"


def test_cli_trains_qa_from_squad(tmp_path, base_dir, capsys):
    squad = write_squad(tmp_path / "squad.json", 6)
    code = main(["--task", "qa", "--train", str(squad), "--output", str(tmp_path / "qa"), "--epochs", "0.5",
                 "--max-length", "48", "--stride", "16", "--precision", "fp32", "--base-model", str(base_dir),
                 "--test-fraction", "0.2", "--batch-size", "8"])
    out = capsys.readouterr().out
    assert code == 0
    assert "data: 12 train / 3 validation / 3 test questions (4 training contexts, 0 of them also in validation)" in out
    assert "exact_match" in out and "test: exact_match" in out
    metrics = json.loads((tmp_path / "qa" / "metrics.json").read_text())
    assert metrics["task"] == "qa" and metrics["val_report"]["stride"] == 16
    assert json.loads((tmp_path / "qa" / "best" / "config.json").read_text())["architectures"] == [
        "BertForQuestionAnswering"]


@pytest.mark.parametrize("case", ["bad conll", "bad squad", "unknown validation tag", "dataset of another task"])
def test_bad_task_input_exits_2_with_a_message(tmp_path, base_dir, capsys, case):
    argv = ["--output", str(tmp_path / "o"), "--base-model", str(base_dir)]
    if case == "bad conll":
        (tmp_path / "x.conll").write_text("alice\tB-PER\nmet\n")
        argv += ["--task", "ner", "--train", str(tmp_path / "x.conll")]
    elif case == "bad squad":
        (tmp_path / "x.json").write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
            {"context": "Alice lives in Paris.", "qas": [{"id": "a", "question": "Where?",
                                                         "answers": [{"text": "Paris", "answer_start": 3}]}]}]}]}))
        argv += ["--task", "qa", "--train", str(tmp_path / "x.json")]
    elif case == "unknown validation tag":
        write_conll(tmp_path / "t.conll", sentences(8, 1))
        (tmp_path / "v.conll").write_text("paris\tB-LOC\n")
        argv += ["--task", "ner", "--train", str(tmp_path / "t.conll"), "--validation", str(tmp_path / "v.conll")]
    else:
        argv += ["--task", "qa", "--dataset", "ner-sample"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    expected = {"bad conll": "line 2", "bad squad": "answer_start 3 points at", "unknown validation tag": "'B-LOC' (line 1)",
                "dataset of another task": "ner-sample is a ner dataset, not qa"}[case]
    assert expected in err
    assert not (tmp_path / "o").exists()
