"""The command line's report of a finished run: the lines every task shares, and each task's own."""

from pathlib import Path
from types import SimpleNamespace

from training.tasks import report


def _result(task: str, best: dict, val_report: dict, test_report: dict | None = None, **extra):
    return SimpleNamespace(
        extra={"task": task, **extra}, best_metrics={"step": 30, "epoch": 1.0, "val_loss": 0.25, **best},
        val_report=val_report, test_report=test_report, seconds=12.34, examples_per_second=40.0,
        precision_note="fp32", stopped_early=None, trainable_params=1_000, total_params=4_000,
        class_weights=None, best_dir=Path("out/best"), output_dir=Path("out"))


def test_classification_report_lists_classes_weights_and_test():
    scores = {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 3}
    result = _result("classification", {"accuracy": 0.75, "macro_f1": 0.7},
                     {"labels": ["neg", "positive"], "per_class": {"neg": scores, "positive": scores}},
                     {"accuracy": 0.8, "macro_f1": 0.79, "support": 20}, notice="hub unreachable")
    result.class_weights = [1.5, 0.75]
    assert report.summary_lines(result) == [
        "note: hub unreachable",
        "done in 12.3s (40.0 examples/s; fp32)",
        "trainable parameters 1,000 of 4,000 (25.00%)",
        "best checkpoint: step 30 (epoch 1.00)  accuracy 0.7500  macro_f1 0.7000  val_loss 0.2500",
        "class weights: neg 1.500, positive 0.750",
        "label     precision  recall     f1  support",
        "neg          0.5000  1.0000  0.6667        3",
        "positive     0.5000  1.0000  0.6667        3",
        "test: accuracy 0.8000  macro_f1 0.7900  (20 examples)",
        "model: out/best",
        "metrics: out/metrics.json",
    ]


def test_ner_and_qa_reports_say_their_own_units_and_scores():
    ner = _result("ner", {"f1": 0.5, "precision": 0.4, "recall": 0.6, "accuracy": 0.9},
                  {"per_type": {"PER": {"precision": 0.4, "recall": 0.6, "f1": 0.5, "support": 5}}, "support": 5,
                   "sentences": 4, "truncated_sentences": 1},
                  {"f1": 0.5, "precision": 0.4, "recall": 0.6, "accuracy": 0.9, "sentences": 7})
    lines = report.summary_lines(ner)
    assert lines[0] == "done in 12.3s (40.0 sentences/s; fp32)"
    assert lines[2] == "best checkpoint: step 30 (epoch 1.00)  f1 0.5000  precision 0.4000  recall 0.6000  " \
                       "accuracy 0.9000  val_loss 0.2500"
    assert lines[3:6] == ["type  precision  recall     f1  support", "PER      0.4000  0.6000  0.5000        5",
                          "(strict IOB2 entities: 5 in 4 validation sentences; 1 cut by --max-length)"]
    assert lines[6] == "test: f1 0.5000  precision 0.4000  recall 0.6000  accuracy 0.9000  (7 sentences)"

    qa = _result("qa", {"exact_match": 0.25, "f1": 0.5},
                 {"questions": 8, "windows": 11, "max_length": 384, "stride": 128, "answers_outside_windows": 0})
    lines = report.summary_lines(qa)
    assert lines[0] == "done in 12.3s (40.0 windows/s; fp32)"
    assert lines[2].endswith("exact_match 0.2500  f1 0.5000  val_loss 0.2500")
    assert lines[3] == "8 validation questions in 11 windows (max length 384, stride 128); 0 answer(s) fit no window whole"
    assert not any(line.startswith("test:") for line in lines)
