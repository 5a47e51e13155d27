"""The class board: only what students share, only for the instructor's token."""

import pandas as pd
import pytest

from lab.errors import LabInputError
from training.runs.classroom import ClassBoard, student_name

CONFIG = {"strategy": "features", "learning_rate": 5e-5, "batch_size": 16, "epochs": 3, "max_length": 128,
          "class_weights": False}


def test_names_are_trimmed_and_required():
    assert student_name("  Ana \n Lee ") == "Ana Lee" and student_name("x" * 40) == "x" * 40
    with pytest.raises(LabInputError, match="Type a name"):
        student_name("   ")


@pytest.mark.parametrize("name, message", [
    ({"a": 1}, "must be text \\(got dict\\)"), (["Ana"], "got list"), (7, "got int"),
    ("x" * 41, "41 characters long; use at most 40"),
    ("Ana\x00", "U\\+0000"), ("\x1b[31mAna", "U\\+001B"), ("Ana\u202eLee", "U\\+202E"),
])
def test_a_name_that_is_not_one_short_line_of_text_is_refused(name, message):
    with pytest.raises(LabInputError, match=message):
        student_name(name)


def test_exports_hold_no_cell_a_spreadsheet_would_run(tmp_path):
    import json

    from training.runs.jobs import RunRecord, export_runs

    board = ClassBoard("s3cret")
    names = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "Ana"]
    for name in names:
        board.share(name, "run-1", "classification", "=cmd|' /C calc'!A0.csv", CONFIG, -0.5, "accuracy", 1)
    exported = pd.read_csv(board.export(tmp_path / "class"))
    assert exported["student"].tolist() == ["'" + n for n in names[:4]] + ["Ana"]
    assert set(exported["data"]) == {"'=cmd|' /C calc'!A0.csv"} and (exported["score"] == -0.5).all()
    record = RunRecord("run-1", {"task": "classification", "base_model": "=1+1", "strategy": "full",
                                 "note": "\tx", "other": "\rx"})
    text = export_runs([record], tmp_path / "runs", "csv").read_text()
    assert ",'=1+1," in text and ",=1+1," not in text
    saved = json.loads(export_runs([record], tmp_path / "runs", "json").read_text())
    assert saved[0]["config"]["base_model"] == "'=1+1" and saved[0]["config"]["note"] == "'\tx"
    assert saved[0]["config"]["other"] == "'\rx" and saved[0]["config"]["task"] == "classification"


def test_no_token_means_no_class_view():
    board = ClassBoard(None)
    assert not board.enabled and not board.allows("") and not board.allows(None)
    with pytest.raises(LabInputError, match="instructor's token"):
        board.check("anything")


def test_shared_runs_are_listed_compared_and_exported(tmp_path):
    board = ClassBoard("s3cret")
    assert board.allows("s3cret") and not board.allows("s3cre") and not board.allows(None)
    board.share("Ana", "run-1", "classification", "topics.csv", CONFIG, 0.9, "accuracy", 1.23)
    board.share("Budi", "run-1", "classification", "topics.csv", {**CONFIG, "strategy": "full"}, 1.0, "accuracy", 30)
    board.share("Chen", "run-2", "classification", "topics.csv", CONFIG, 0.8, "accuracy", 0.9)
    frame = board.frame()
    assert frame["student"].tolist() == ["Ana", "Budi", "Chen"] and frame["seconds"].tolist() == [1.2, 30.0, 0.9]
    summary = board.by_strategy().set_index("strategy")
    assert summary.loc["features", "mean score"] == pytest.approx(0.85)  # one task, one metric: named by strategy
    assert summary.loc["features", "runs"] == 2 and summary.loc["features", "task"] == "classification"
    exported = pd.read_csv(board.export(tmp_path))
    assert len(exported) == 3 and "learning_rate" in exported.columns


def test_bars_name_the_task_and_metric_only_where_the_class_shared_several():
    board = ClassBoard("t")
    board.share("Ana", "run-1", "classification", "d.csv", CONFIG, 0.9, "accuracy", 1)
    board.share("Budi", "run-1", "ner", "d.txt", CONFIG, 0.7, "f1", 1)
    assert sorted(board.by_strategy()["strategy"]) == ["features · classification", "features · ner"]
    board.share("Chen", "run-1", "ner", "d.txt", CONFIG, 0.6, "accuracy", 1)
    assert sorted(board.by_strategy()["strategy"]) == [
        "features · classification · accuracy", "features · ner · accuracy", "features · ner · f1"]


def test_the_board_keeps_the_newest_runs():
    board = ClassBoard("t", limit=3)
    for i in range(5):
        board.share(f"s{i}", "run-1", "classification", "d.csv", CONFIG, 0.5, "accuracy", 1)
    assert board.frame()["student"].tolist() == ["s2", "s3", "s4"]
    assert ClassBoard("t").by_strategy().empty


def test_a_feature_extraction_run_shows_no_loop_settings_it_never_used():
    """Logistic regression on cached vectors: no learning rate, batch size or epochs to compare."""
    board = ClassBoard("s3cret")
    board.share("Ana", "run-1", "classification", "topics.csv", CONFIG, 0.9, "accuracy", 1.2)
    board.share("Budi", "run-1", "classification", "topics.csv", {**CONFIG, "strategy": "lora"}, 0.8, "accuracy", 9)
    rows = board.frame().set_index("student")
    assert rows.loc["Ana", ["learning_rate", "batch_size", "epochs"]].isna().all()
    assert rows.loc["Budi", ["learning_rate", "batch_size", "epochs"]].tolist() == [5e-5, 16, 3]
    assert rows.loc["Ana", "max_length"] == 128  # the encoder still read that many tokens
