"""The sentiment, NER and QA recipes end to end on a few sentences: train, keep the best, score, export, reload.

They run on the real embedded encoder for two optimizer steps over data laid out as in
../shared/data (built here from the project's own samples), so the wiring that ships a head is
checked without the hours of training a real head takes.
"""

import csv
import json
import shutil

import pytest

from lab import word_shape
from lab.classify import classify
from lab.loading import ModelCache
from lab.ner import tag_entities
from lab.qa import answer_question
from lab.registry import embedded_ref
from lab.settings import ASSETS_DIR, Settings
from training.recipes import export, ner, qa, sentiment

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

SAMPLES = ASSETS_DIR / "samples"
STEPS = ["--max-steps", "2", "--evals-per-epoch", "1", "--checkpoint-minutes", "0"]


@pytest.fixture
def data_dir(tmp_path):
    """CoNLL-style files (train.txt, valid.txt), a SQuAD file of six articles and an SST-2-style
    train.tsv (text, tab, 0 or 1)."""
    conll = tmp_path / "data" / "conll2003"
    conll.mkdir(parents=True)
    for split in ("train", "valid"):
        shutil.copy(SAMPLES / "ner.conll", conll / f"{split}.txt")
    (tmp_path / "data" / "squad").mkdir()
    shutil.copy(SAMPLES / "qa.json", tmp_path / "data" / qa.SQUAD_FILE)
    (tmp_path / "data" / "sst2").mkdir()
    with (SAMPLES / "sentiment.csv").open(encoding="utf-8") as f:
        rows = [f"{r['text']}\t{int(r['label'] == 'positive')}" for r in csv.DictReader(f)]
    (tmp_path / "data" / "sst2" / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    return tmp_path / "data"


def test_sentiment_recipe_trains_resumes_exports_and_the_head_loads(tmp_path, data_dir):
    run = tmp_path / "run"
    common = ["--data-dir", str(data_dir), "--output", str(run), "--heldout", "12", "--batch-size", "8",
              "--evals-per-epoch", "1", "--checkpoint-minutes", "0"]
    first = sentiment.main([*common, "--max-steps", "2"])
    assert first["steps_done"] == 2 and (run / "checkpoint" / "loop_state.json").is_file()
    metrics = sentiment.main([*common, "--max-steps", "3", "--resume"])
    assert metrics["steps_done"] == 3 and [h["step"] for h in metrics["history"]] == [2, 3]
    assert metrics["best_step"] in (2, 3) and 0.0 <= metrics["heldout_accuracy"] <= 1.0
    assert metrics["selection_examples"] == metrics["heldout_examples"] == 6
    train, select, heldout = sentiment.heldout_split(data_dir, 12, 42)
    for sentence in select.texts + heldout.texts:  # nothing of a held-out sentence is trained on
        assert not any(f" {t} " in f" {sentence} " for t in train.texts)

    assets = tmp_path / "assets"
    result = export.main(["classification", str(run), "--assets", str(assets), "--data-dir", str(data_dir)])
    assert result["export"]["max_logit_diff"] < 0.1 and result["export"]["int8_diffs"]  # blocks trained in full
    loaded = ModelCache(Settings(offline=True, assets_dir=assets)).get(embedded_ref("classification"))
    answer = classify(loaded.model, loaded.tokenizer, "A wonderful film.", explain=False)
    assert set(answer.probabilities) == {"negative", "positive"} and answer.predicted in answer.probabilities


def test_ner_recipe_trains_exports_and_the_head_loads(tmp_path, data_dir):
    run = tmp_path / "run"
    metrics = ner.main(["--data-dir", str(data_dir), "--output", str(run), *STEPS])
    assert metrics["steps_done"] == 2 and metrics["best_step"] in (1, 2)
    assert metrics["word_shape"] and metrics["label_all_pieces"]  # capitals in, every piece of a word taught
    assert metrics["held_out"]["sentences"] == metrics["held_out_sentences"] > 5  # the held-out half scored
    assert metrics["held_out_sentences"] + metrics["dev_sentences_scored"] == metrics["train_sentences"]
    assert (run / "best" / "model.safetensors").is_file() and (run / "checkpoint" / "loop_state.json").is_file()
    assert json.loads((run / "metrics.json").read_text())["train_sentences"] == metrics["train_sentences"]

    plain = tmp_path / "plain"  # the same recipe without capitals, for the card's comparison
    assert not ner.main(["--data-dir", str(data_dir), "--output", str(plain), "--no-word-shape", *STEPS])["word_shape"]

    assets = tmp_path / "assets"
    result = export.main(["ner", str(run), "--assets", str(assets), "--data-dir", str(data_dir), "--compare", str(plain)])
    assert result["export"]["max_logit_diff"] < 0.1 and result["export"]["int8_diffs"]  # blocks trained in full
    card = (assets / "models" / "ner" / "README.md").read_text()
    assert "CoNLL-2003" in card and "## Scores" in card and f"{result['scores']['f1']:.3f}" in card
    assert "What the capitals bring" in card and "--no-word-shape" in card
    loaded = ModelCache(Settings(offline=True, assets_dir=assets)).get(embedded_ref("ner"))
    assert word_shape.enabled(loaded.model.config)  # the capitals travel with the head
    tags = tag_entities(loaded.model, loaded.tokenizer, "She flew to Paris.", aggregation="none")
    assert {p.tag for p in tags.pieces} <= set(loaded.model.config.id2label.values())


def test_qa_recipe_splits_by_article_trains_exports_and_the_head_loads(tmp_path, data_dir):
    train, dev, test = qa.splits(data_dir, dev_articles=1, test_articles=2)
    titles = [{e.title for e in part} for part in (train, dev, test)]
    assert len(titles[1]) == 1 and len(titles[2]) == 2 and not (titles[0] & titles[1] or titles[0] & titles[2])

    run = tmp_path / "run"
    metrics = qa.main(["--data-dir", str(data_dir), "--output", str(run), "--dev-articles", "1",
                       "--test-articles", "2", "--max-length", "128", "--stride", "32", *STEPS])
    assert metrics["steps_done"] == 2 and metrics["test_questions"] == len(test)
    assert set(metrics["test"]["per_article"]) == titles[2]

    assets = tmp_path / "assets"
    result = export.main(["qa", str(run), "--assets", str(assets), "--data-dir", str(data_dir)])
    assert result["export"]["max_logit_diff"] < 0.1
    assert "SQuAD" in (assets / "models" / "qa" / "README.md").read_text()
    loaded = ModelCache(Settings(offline=True, assets_dir=assets)).get(embedded_ref("qa"))
    answer = answer_question(loaded.model, loaded.tokenizer, "Where did she fly?", "She flew to Paris.")
    assert answer.answer and answer.answer in "She flew to Paris."

    # The final head: every article, the schedule chosen above, its last weights kept.
    final = tmp_path / "final"
    metrics = qa.main(["--data-dir", str(data_dir), "--output", str(final), "--dev-articles", "0",
                       "--test-articles", "0", "--max-length", "128", "--stride", "32", "--full-blocks", "5", *STEPS])
    assert metrics["test"] is None and metrics["dev_questions"] == 0 and metrics["train_articles"] == 6
    assert metrics["best_step"] == metrics["steps_done"] == 2
    with pytest.raises(SystemExit, match="--selection"):
        export.main(["qa", str(final), "--assets", str(tmp_path / "nowhere"), "--data-dir", str(data_dir)])
    estimate = export.main(["qa", str(final), "--assets", str(assets), "--data-dir", str(data_dir),
                            "--selection", str(run)])["scores"]
    card = (assets / "models" / "qa" / "README.md").read_text()
    # the selection run's head on its held-out articles: with the tab's windows, then the training ones
    selection = json.loads((run / "metrics.json").read_text())
    assert estimate == selection["test_tab_windows"] and f"**{estimate['f1']:.1%}**" in card
    assert f"F1 {selection['test']['f1']:.1%}" in card and "--selection runs/recipe-qa-selection" in card
    assert "encoder blocks 5 trained in full" in card and "--dev-articles 0 --test-articles 0" in card
    assert "--max-length 128 --stride 32" in card  # not the recipe's default windows (the tab's)
    loaded = ModelCache(Settings(offline=True, assets_dir=assets)).get(embedded_ref("qa"))
    assert answer_question(loaded.model, loaded.tokenizer, "Where did she fly?", "She flew to Paris.").answer
