"""Extractive QA: SQuAD/CSV reading and answer checks, the split by context, windowed features,
a short run on a tiny BERT, and the saved model answering through the QA tab's own code."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from lab.loading import ModelCache
from lab.qa import answer_question
from lab.registry import ModelRef
from lab.settings import Settings
from training.config import TrainConfig
from training.data.data import DataError
from training.data.qa_data import QAExample, load_qa, read_qa_csv, read_squad, split_by_context, summarize_qa
from training.engine.models import count_parameters
from training.tasks.qa_metrics import squad_scores
from training.tasks.tasks import QuestionAnsweringTask, train_qa

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

FILLER = "the river valley was quiet that long summer and many people came to see it".split()
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CITIES = ["paris", "london", "berlin", "rome", "madrid", "vienna", "oslo", "lisbon"]


def article(i: int, rng: random.Random) -> dict:
    """A paragraph of ~60 words (more than one 48-token window) and three questions about it."""
    name, city, year = NAMES[i % 8], CITIES[(i * 3) % 8], str(1900 + 7 * i)
    head = " ".join(rng.choices(FILLER, k=20))
    tail = " ".join(rng.choices(FILLER, k=30))
    context = f"{head} . {name} lives in {city} since {year} . {tail} ."
    qas = []
    for j, (question, answer) in enumerate([(f"where does {name} live ?", city),
                                            (f"since when does {name} live in {city} ?", year),
                                            (f"who lives in {city} ?", name)]):
        qas.append({"id": f"q{i}-{j}", "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(f" {answer} ") + 1}]})
    return {"title": f"Article {i}", "paragraphs": [{"context": context, "qas": qas}]}


def write_squad(path: Path, n_articles: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.write_text(json.dumps({"version": "1.1", "data": [article(i, rng) for i in range(n_articles)]}))
    return path


FAST = dict(learning_rate=5e-3, warmup_ratio=0.0, batch_size=8, evals_per_epoch=1, precision="fp32", max_length=48)


@pytest.fixture(scope="module")
def squad(tmp_path_factory) -> Path:
    return write_squad(tmp_path_factory.mktemp("qa-data") / "squad.json", 8)


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings, squad):
    train, val, test = split_by_context(load_qa(squad), 0.25, seed=0, test_fraction=0.125)
    events = []
    result = train_qa(TrainConfig(epochs=2, **FAST), train, val, tmp_path_factory.mktemp("qa-run") / "out",
                      test=test, on_event=events.append, settings=settings, stride=16)
    return result, events, train, val, test


# ---------------------------------------------------------------------------------- reading


def test_squad_and_csv_read_the_same_questions(squad, tmp_path):
    examples = read_squad(squad)
    assert len(examples) == 24 and examples[0].id == "q0-0" and examples[0].title == "Article 0"
    first = examples[0]
    start = first.answers[0]["answer_start"]
    assert first.context[start:start + len(first.answers[0]["text"])] == first.answers[0]["text"]
    path = tmp_path / "qa.csv"
    import csv

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "context", "question", "answer_text", "answer_start"])
        for e in examples[:5]:
            w.writerow([e.id, e.context, e.question, e.answers[0]["text"], e.answers[0]["answer_start"]])
    rows = load_qa(path)
    assert [(r.id, r.question, r.answers, r.line) for r in rows] == [
        (e.id, e.question, e.answers, n) for n, e in enumerate(examples[:5], 2)]


def test_answer_whitespace_is_moved_out_of_the_answer(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "It is in Paris now.", "qas": [
        {"id": "a", "question": "Where?", "answers": [{"text": " Paris ", "answer_start": 8}]}]}]}]}))
    assert read_squad(path)[0].answers == [{"text": "Paris", "answer_start": 9}]


def squad_doc(answers: list[dict], **qa) -> dict:
    return {"data": [{"title": "T", "paragraphs": [{"context": "Alice lives in Paris. Bob lives in Rome.", "qas": [
        {"id": f"q{i}", "question": "Where?", "answers": [a], **qa} for i, a in enumerate(answers)]}]}]}


@pytest.mark.parametrize("doc, message", [
    (squad_doc([{"text": "Paris", "answer_start": 14}, {"text": "Rome", "answer_start": 35},
                {"text": "Rome", "answer_start": 36}]),
     r"2 of 3 answers don't match their context: question 'q0': answer_start 14 points at ' Pari', not 'Paris'; "
     r"'Paris' occurs at 15; question 'q2': answer_start 36 points at 'ome\.', not 'Rome'; 'Rome' occurs at 35\."),
    (squad_doc([{"text": "Paris", "answer_start": 99}]), r"answer_start 99 is outside the context \(40 characters\)"),
    (squad_doc([{"text": "Tokyo", "answer_start": 0}]), r"'Tokyo' is not in the context"),
    (squad_doc([{"text": "Paris", "answer_start": "15"}]), r"answer_start '15' is not a whole number"),
    (squad_doc([{"text": "Paris", "answer_start": 15}], is_impossible=True), "unanswerable"),
    ({"version": "2"}, 'no top-level "data" list'),
    ({"data": [{"title": "T", "paragraphs": [{"context": "", "qas": []}]}]}, 'needs a non-empty "context"'),
])
def test_squad_errors_say_which_questions_and_what_is_there(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message):
        read_squad(path)


def test_squad_not_json_and_duplicate_ids(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [}')
    with pytest.raises(DataError, match=r"not valid JSON \(line 1, column 11"):
        read_squad(path)
    path.write_text(json.dumps(squad_doc([{"text": "Paris", "answer_start": 15}] * 2)).replace('"q1"', '"q0"'))
    with pytest.raises(DataError, match="used more than once: 'q0'"):
        read_squad(path)


@pytest.mark.parametrize("rows, message", [
    ("Alice lives in Paris.,Where?,Paris,14\n", r"1 of 1 answers.*line 2: answer_start 14 points at ' Pari'"),
    ("Alice lives in Paris.,Where?,Paris,fifteen\n", r"line 2: answer_start 'fifteen' is not a whole number"),
    ("Alice lives in Paris.,,Paris,15\n", "line 2: the question is empty"),
])
def test_csv_errors_name_the_lines(tmp_path, rows, message):
    path = tmp_path / "qa.csv"
    path.write_text("context,question,answer_text,answer_start\n" + rows)
    with pytest.raises(DataError, match=message):
        read_qa_csv(path)
    path.write_text("context,question,answer\nA,B,C\n")
    with pytest.raises(DataError, match="answer_text, answer_start missing"):
        read_qa_csv(path)


def test_split_keeps_each_context_on_one_side(squad):
    examples = read_squad(squad)
    train, val, test = split_by_context(examples, 0.25, seed=1, test_fraction=0.125)
    assert len(train) + len(val) + len(test) == 24 and (len(val), len(test)) == (6, 3)
    contexts = [{e.context for e in part} for part in (train, val, test)]
    assert not (contexts[0] & contexts[1]) and not (contexts[0] & contexts[2]) and not (contexts[1] & contexts[2])
    assert split_by_context(examples, 0.25, seed=1)[1] == split_by_context(examples, 0.25, seed=1)[1]
    one = [QAExample(f"q{i}", "", "same context", "q?", [{"text": "same", "answer_start": 0}]) for i in range(4)]
    with pytest.raises(DataError, match="about 1 context"):
        split_by_context(one, 0.25)


def test_summary_counts_windows(squad, base_dir):
    examples = read_squad(squad)
    summary = summarize_qa(examples)
    assert (summary["questions"], summary["contexts"], summary["articles"]) == (24, 8, 8)
    assert summary["answer_length_percentiles"][100] == 1
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    with_tokens = summarize_qa(examples, tokenizer, max_length=48, stride=16)
    assert with_tokens["contexts_over_max_length"] == 8  # every paragraph needs more than one window
    features = QuestionAnsweringTask(stride=16).features(examples, tokenizer, 48, None, training=True)
    assert with_tokens["windows"] == len(features.dataset)


# ---------------------------------------------------------------------------------- features and training


def test_windows_point_at_the_answer_or_at_cls(squad, base_dir):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    examples = read_squad(squad)[:6]
    features = QuestionAnsweringTask(stride=16).features(examples, tokenizer, 48, None, training=True)
    rows = features.dataset
    assert len(rows) > len(examples) and all(len(ids) <= 48 for ids in rows["input_ids"])
    for row, (i, window) in enumerate(features.meta["windows"]):
        start, end = rows["start_positions"][row], rows["end_positions"][row]
        if start == window.cls_index == end:
            continue
        assert window.context_mask[start] and window.context_mask[end]
        text = tokenizer.decode(rows["input_ids"][row][start:end + 1])
        assert text == examples[i].answers[0]["text"]
    has_answer = {i for row, (i, w) in enumerate(features.meta["windows"]) if rows["start_positions"][row] != 0}
    assert has_answer == set(range(6)) and features.meta["unreachable"] == 0


def test_run_reports_squad_scores_per_article(run):
    result, events, train, val, test = run
    report = result.val_report
    assert set(result.best_metrics) >= {"val_loss", "exact_match", "f1", "step", "epoch"}
    assert report["questions"] == len(val) == 6 and report["f1"] == result.best_metrics["f1"]
    assert 0.0 <= report["exact_match"] <= report["f1"] <= 1.0
    assert sum(a["questions"] for a in report["per_article"].values()) == 6
    assert (report["stride"], report["max_length"], report["contexts_in_train"]) == (16, 48, 0)
    assert report["windows"] > 6 and "val_loss" in report
    assert result.test_report["questions"] == len(test) and "test_loss" in result.test_report
    assert events[-1].kind == "done" and {"test_f1", "test_exact_match"} <= set(events[-1].metrics)
    assert [e.kind for e in events if e.kind == "eval"] and result.extra["task"] == "qa"
    for m in result.misclassified:
        assert m["exact_match"] == 0 and m["id"] in {e.id for e in val}
    assert [m["f1"] for m in result.misclassified] == sorted(m["f1"] for m in result.misclassified)


def test_auto_precision_follows_the_cpu_and_trains_on_both(tmp_path, settings, squad, cpu_bf16):
    train, val, _ = split_by_context(load_qa(squad), 0.25, seed=0)
    result = train_qa(TrainConfig(epochs=1, **{**FAST, "precision": "auto"}), train, val, tmp_path / "auto",
                      settings=replace(settings, cpu_bf16="auto"), stride=16)
    assert result.precision == ("bf16" if cpu_bf16 else "fp32")
    losses = [h["loss"] for h in result.history if h["kind"] == "step"]
    assert losses and all(math.isfinite(x) for x in losses) and 0.0 <= result.best_metrics["f1"] <= 1.0
    loaded = ModelCache(Settings(offline=True)).get(ModelRef("qa", "local", str(result.best_dir), "auto-qa"))
    assert next(loaded.model.parameters()).dtype == torch.float32  # served in fp32 whatever trained it


def test_qa_tab_loads_the_best_checkpoint_and_answers_the_same(run):
    result, _, _, val, _ = run
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["task"] == "qa" and metrics["best_metrics"]["f1"] == pytest.approx(result.best_metrics["f1"])
    loaded = ModelCache(Settings(offline=True)).get(ModelRef("qa", "local", str(result.best_dir), "my-qa"))
    assert type(loaded.model).__name__ == "BertForQuestionAnswering"
    answers = {e.id: answer_question(loaded.model, loaded.tokenizer, e.question, e.context, max_length=48, stride=16,
                                     top_k=1, no_answer_threshold=math.inf).answer for e in val}
    scores = squad_scores(answers, {e.id: [a["text"] for a in e.answers] for e in val})
    # the tab's post-processing on the saved weights gives the validation score the loop kept
    assert scores["f1"] == pytest.approx(result.best_metrics["f1"])
    assert scores["exact_match"] == pytest.approx(result.best_metrics["exact_match"])


def test_lora_keeps_the_qa_head_trainable(tmp_path, settings, run):
    _, _, train, val, _ = run
    config = TrainConfig(strategy="lora", lora_r=4, epochs=0.5, **FAST)
    result = train_qa(config, train, val, tmp_path / "l", settings=settings)
    assert count_parameters(config, 0, settings, task="qa") == (result.trainable_params, result.total_params)
    assert result.trainable_params == 2 * 2 * 256 + 32 * 2 + 2  # adapters + qa_outputs (hidden 32 -> start, end)
    assert result.extra["lora_merged"]


def test_class_weights_are_refused_for_qa(tmp_path, settings, run):
    _, _, train, val, _ = run
    from lab.errors import LabInputError

    with pytest.raises(LabInputError, match="Class weights"):
        train_qa(TrainConfig(class_weights=True, **FAST), train, val, tmp_path / "x", settings=settings)
    assert not (tmp_path / "x").exists()


def test_fine_tuning_learns_the_windows_the_qa_tab_reads():
    """Without a stride of its own (the Fine-tune tab gives none), training uses the QA tab's windows."""
    from lab.options import QA_MAX_LENGTH, QA_STRIDE

    assert QuestionAnsweringTask().stride_for(QA_MAX_LENGTH) == QA_STRIDE == 128
    assert QuestionAnsweringTask().stride_for(192) == 64  # the same share of a shorter window
    assert QuestionAnsweringTask(stride=16).stride_for(QA_MAX_LENGTH) == 16
