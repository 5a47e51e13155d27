"""``python -m training``: flags from TrainConfig, a run end to end, exit code 2 on bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tests.unit.test_training_loop import synthetic
from training.__main__ import build_parser, main
from training.config import TrainConfig

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def write_csv(path: Path, n: int, seed: int, delimiter: str = ",") -> Path:
    data = synthetic(n, seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["review", "sentiment"])
        for text, label in zip(data.texts, data.labels):
            writer.writerow([text, data.label_names[label]])
    return path


def test_every_config_field_is_a_flag_with_its_help():
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions}
    for f in fields(TrainConfig):
        action = actions[f.name]
        assert "--" + f.name.replace("_", "-") in action.option_strings
        assert action.help.startswith(f.metadata["help"])
        assert action.default == f.default
    assert list(actions["strategy"].choices) == ["full", "freeze_lower", "frozen_encoder", "lora", "features"]
    args = parser.parse_args(["--train", "x.csv", "--output", "o", "--learning-rate", "3e-5", "--class-weights",
                              "--epochs", "0.5", "--strategy", "lora"])
    assert (args.learning_rate, args.class_weights, args.epochs, args.strategy) == (3e-5, True, 0.5, "lora")
    assert "Range 1e-06 to 0.01" in actions["learning_rate"].help


def test_cli_trains_end_to_end_in_a_subprocess(tmp_path, base_dir):
    data = write_csv(tmp_path / "reviews.csv", 48, seed=1)
    out = tmp_path / "run"
    env = {**os.environ, "LAB_MODEL_FINETUNE_BASE": str(base_dir), "LAB_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "LAB_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "training", "--train", str(data), "--output", str(out), "--epochs", "1",
         "--batch-size", "8", "--learning-rate", "1e-2", "--precision", "fp32", "--test-fraction", "0.15",
         "--strategy", "frozen_encoder"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "label column 'sentiment'" in proc.stdout
    assert "step 4/4" in proc.stdout and "eval step" in proc.stdout
    assert "best checkpoint: step" in proc.stdout and "test: accuracy" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["strategy"] == "frozen_encoder" and metrics["labels"] == ["bad", "good"]
    assert metrics["trainable_params"] == 32 * 2 + 2
    assert metrics["test_report"] is not None
    assert metrics["base_model_source"] == str(base_dir.resolve())
    assert (out / "best" / "model.safetensors").is_file()
    assert (tmp_path / "cache" / "tokenized").is_dir()


def test_cli_with_validation_and_test_files(tmp_path, base_dir, monkeypatch, capsys):
    train = write_csv(tmp_path / "train.tsv", 32, seed=1, delimiter="\t")
    val = write_csv(tmp_path / "val.csv", 12, seed=2)
    test = write_csv(tmp_path / "test.csv", 10, seed=3)
    code = main(["--train", str(train), "--validation", str(val), "--test", str(test), "--output",
                 str(tmp_path / "o"), "--epochs", "0.25", "--precision", "fp32", "--base-model", str(base_dir),
                 "--cache-dir", str(tmp_path / "cache"), "--batch-size", "8"])
    out = capsys.readouterr().out
    assert code == 0
    assert "32 train / 12 validation / 10 test examples" in out
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["test_report"]["support"] == 10 and metrics["val_report"]["support"] == 12


@pytest.mark.parametrize("case", ["missing file", "one class", "out of range", "unknown validation label",
                                  "missing model directory"])
def test_bad_input_exits_2_with_a_message(tmp_path, base_dir, capsys, case):
    train = write_csv(tmp_path / "train.csv", 20, seed=1)
    argv = ["--train", str(train), "--output", str(tmp_path / "o"), "--base-model", str(base_dir)]
    if case == "missing file":
        argv[1] = str(tmp_path / "nope.csv")
    elif case == "one class":
        (tmp_path / "one.csv").write_text("text,label\n" + "".join(f"sentence {i},pos\n" for i in range(10)))
        argv[1] = str(tmp_path / "one.csv")
    elif case == "out of range":
        argv += ["--learning-rate", "5"]
    elif case == "missing model directory":
        argv[-1] = str(tmp_path / "no-model")
    else:
        (tmp_path / "val.csv").write_text("review,sentiment\nfine,good\nawful,terrible\n")
        argv += ["--validation", str(tmp_path / "val.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err) > 20
    if case == "out of range":
        assert "learning_rate" in err
    if case == "unknown validation label":
        assert "terrible" in err
    if case == "missing model directory":
        assert "no such directory" in err
    assert not (tmp_path / "o").exists()
