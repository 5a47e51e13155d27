"""Model cards are template files (assets/model_cards/<task>.md) the exporter fills in with a run's numbers."""

import json
import string

import pytest

from training.recipes import export
from training.recipes.cloze_eval import EVERYDAY


def _run(lora: bool) -> tuple[dict, dict, dict]:
    metrics = {"args": {"epochs": 2.0, "lr": 3e-5, "lora_r": 8 if lora else None, "seed": 7, "batch_size": 16,
                        "warmup_ratio": 0.1},
               "trainable_params": 1234567, "total_params": 22713216, "train_examples": 60000,
               "selection_examples": 400, "heldout_examples": 400, "history": [1, 2, 3], "best_step": 900,
               "best": {"accuracy": 0.8765}, "steps_done": 1000, "stopped_early": "time limit" if lora else None,
               "total_steps": 2000, "hardware": "2 CPU cores", "seconds": 3725.0}
    scores = {"examples": 400, "accuracy": 0.85, "macro_f1": 0.849}
    shipped = {"size_kb": 812.4, "full": ["a", "b"], "int8_diffs": ["c"], "low_rank": ["d", "e", "f"],
               "max_logit_diff": 1.5e-6}
    return metrics, scores, shipped


def test_the_sentiment_card_is_its_template_filled_in():
    template = (export.CARD_TEMPLATES / "classification.md").read_text(encoding="utf-8")
    blanks = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    assert {"accuracy", "command", "how", "attribution"} <= blanks
    for lora in (False, True):
        card = export.card_classification(*_run(lora))
        fixed = [line for line in template.splitlines() if "{" not in line]
        assert [line for line in card.splitlines() if line in set(fixed)] == fixed  # every fixed line, in order
        assert "{" not in card and "}" not in card  # every blank filled
        assert "| **85.0%** (macro F1 0.849) |" in card and "--lr 3e-05" in card
        assert ("--lora-r 8" in card and "stopped by its time limit at step 1000 of 2000" in card) is lora


# ------------------------------------------------------------------ the NER, QA and fill-mask cards


def _ner(label_all_pieces=True, compare=True, stopped=False):
    history = [{"step": 100, "epoch": 0.5, "precision": 0.8, "recall": 0.7, "f1": 0.75},
               {"step": 200, "epoch": 1.0, "precision": 0.85, "recall": 0.8, "f1": 0.82}]
    per = {"PER": {"precision": 0.9, "recall": 0.91, "f1": 0.905, "support": 1200},
           "LOC": {"precision": 0.88, "recall": 0.87, "f1": 0.875, "support": 900}}
    metrics = {"args": {"epochs": 3.0, "lr": 5e-5, "batch_size": 32, "seed": 13, "warmup_ratio": 0.1, "max_length": 128},
               "word_shape": True, "label_all_pieces": label_all_pieces, "best": {"step": 200, "f1": 0.82},
               "trainable_params": 21000000, "total_params": 22700000, "hardware": "2 CPU cores", "seconds": 5400.0,
               "train_sentences": 14041, "dev_sentences_scored": 1625, "history": history, "steps_done": 200,
               "total_steps": 1300, "stopped_early": "time limit" if stopped else None}
    if compare:
        metrics["compare"] = {"word_shape": False, "held_out": {"f1": 0.80, "per_type": {k: {"f1": 0.8} for k in per}}}
        metrics["held_out"] = {"f1": 0.86, "per_type": {k: {"f1": v["f1"]} for k, v in per.items()}}
    scores = {"per_type": per, "sentences": 1625, "support": 2100, "precision": 0.89, "recall": 0.9, "f1": 0.895,
              "accuracy": 0.975}
    export = {"size_kb": 4321.7, "full": ["a", "b"], "int8_diffs": ["c"] * 36, "max_logit_diff": 2.5e-6}
    return metrics, scores, export


def _qa(final=True):
    history = [{"step": 50, "epoch": 0.5, "exact_match": 0.3, "f1": 0.4}, {"step": 100, "epoch": 1.0, "exact_match": 0.4, "f1": 0.5}]
    args = {"epochs": 2.0, "lr": 1e-4, "max_length": 384, "stride": 128, "full_blocks": "4-5", "test_articles": 6,
            "dev_articles": 2, "batch_size": 16, "warmup_ratio": 0.1, "lora_r": 16}
    selection = {"args": dict(args), "best": {"step": 100, "exact_match": 0.4, "f1": 0.5}, "train_questions": 7000,
                 "dev_titles": ["Super_Bowl_50", "Warsaw"], "dev_questions": 500,
                 "test": {"exact_match": 0.41, "f1": 0.52}, "history": history}
    per = {"Normans": {"questions": 90, "exact_match": 0.45, "f1": 0.55}, "Amazon_rainforest": {"questions": 80, "exact_match": 0.5, "f1": 0.6}}
    scores = {"questions": 170, "exact_match": 0.47, "f1": 0.57, "per_article": per}
    export = {"size_kb": 3000.2, "dtype": "fp16", "params": 900000, "full": ["q"], "low_rank": ["x"] * 72,
              "max_logit_diff": 3e-6}
    if final:
        metrics = {"args": {**args, "test_articles": 0, "dev_articles": 0}, "selection": selection,
                   "trainable_params": 900000, "total_params": 22700000, "hardware": "2 CPU cores", "seconds": 7200.0,
                   "train_questions": 10570, "train_windows": 10800, "steps_done": 1300, "total_steps": 1300,
                   "history": history}
    else:
        metrics = {**selection, "trainable_params": 900000, "total_params": 22700000, "hardware": "2 CPU cores",
                   "seconds": 3600.0, "train_windows": 7200, "steps_done": 900, "total_steps": 1000,
                   "stopped_early": "time limit", "args": {**args, "stride": 96}}
    return metrics, scores, export


def _fill_mask(init=True, whole_word=True):
    sentences = json.loads(EVERYDAY.read_text(encoding="utf-8"))["sentences"][:3]
    rows = [{"sentence": s["text"], "guesses": ["table", "floor", "a|b", "desk", "bed"], "top1": i == 0, "top5": i < 2}
            for i, s in enumerate(sentences)]
    args = {"full_layers": "4-5", "lora_layers": "0-3", "lora_r": 8, "encoder_lr": 5e-5, "lr": 1e-3,
            "mask_prob": 0.15, "batch_size": 32, "block": 128, "whole_word": whole_word, "max_steps": 3000,
            "init": "assets/models/fill-mask" if init else None, "resume": True, "max_minutes": 120.0}
    history = [{"step": 0, "accuracy": 0.1, "perplexity": 900.0, "cloze_top1": 0.1, "cloze_top5": 0.2},
               {"step": 1000, "accuracy": 0.3, "perplexity": 90.0, "cloze_top1": 0.3, "cloze_top5": 0.5}]
    metrics = {"args": args, "step0": {"accuracy": 0.1, "perplexity": 900.0, "cloze_top1": 0.1, "cloze_top5": 0.2},
               "history": history, "sources": {"wikitext2": 36000, "squad_contexts": 2000, "sst2": 5000},
               "trainable_params": 3000000, "train_sequences": 20000, "train_tokens": 2500000, "tokens_seen": 4000000,
               "steps_done": 1000, "best_step": 1000, "hardware": "2 CPU cores", "seconds": 6000.0,
               "init_commit": "abc1234" if init else None}
    if not init:
        del metrics["init_commit"]
    scores = {"cloze": {"sentences": 40, "top1": 0.3, "top5": 0.55},
              "heldout": {"masked_tokens": 12000, "accuracy": 0.31, "top5_accuracy": 0.5, "perplexity": 88.2},
              "everyday": {"sentences": 3, "top1": 1 / 3, "top5": 2 / 3, "rows": rows}}
    export = {"size_kb": 5000.4, "dtype": "fp16", "params": 3000000, "full": ["h"] * 4, "low_rank": ["l"] * 24,
              "int8_diffs": ["d"] * 12, "max_logit_diff": 1e-6}
    return metrics, scores, export


def _filled_in(task: str, card: str) -> None:
    """Every fixed line of ``task``'s template is in ``card``, in order, and no blank is left."""
    template = (export.CARD_TEMPLATES / f"{task}.md").read_text(encoding="utf-8")
    lines = iter(card.splitlines())
    for fixed in (line for line in template.splitlines() if line and "{" not in line):
        assert fixed in lines, fixed  # found after the previous fixed line (the iterator moves on)
    assert "{" not in card and "}" not in card


@pytest.mark.parametrize("compare", [True, False])
def test_the_ner_card_is_its_template_filled_in(compare):
    card = export.card_ner(*_ner(label_all_pieces=compare, compare=compare, stopped=not compare))
    _filled_in("ner", card)
    assert "| **all types (micro)** | 0.890 | 0.900 | **0.895** | 2,100 |" in card
    assert "| PER | 0.900 | 0.910 | **0.905** | 1,200 |" in card and "Word-level tag accuracy: 97.5%." in card
    assert ("entity F1 **0.860** with them, 0.800 without" in card) is compare
    assert ("stopped by its time limit at step 200 of 1300" in card) is not compare


@pytest.mark.parametrize("final", [True, False])
def test_the_qa_card_is_its_template_filled_in(final):
    card = export.card_qa(*_qa(final))
    _filled_in("qa", card)
    assert "| **all held-out articles** | 170 | **47.0%** | **57.0%** |" in card
    assert "| Amazon rainforest | 80 | 50.0% | 60.0% |" in card
    assert ("# 2. train on every article with it" in card and "Dev scores during the selection run:" in card) is final
    assert ("--max-length 384 --stride 96" in card and "stride 96) the same articles score EM" in card) is not final


@pytest.mark.parametrize("init", [True, False])
def test_the_fill_mask_card_is_its_template_filled_in(init):
    card = export.card_fill_mask(*_fill_mask(init=init, whole_word=init))
    _filled_in("fill-mask", card)
    assert "| **everyday cloze, top-5** (`assets/eval/cloze-everyday.json`, 3 sentences) | **66.7%** | |" in card
    assert "table, floor, a&#124;b, desk, bed" in card and "1 of the 3 everyday sentences get no" in card
    assert ("runs/recipe-mlm --init-commit abc1234" in card and "git archive abc1234" in card) is init
    assert ("masked as training masked it (whole words) at BERT's 15%" in card) is init
