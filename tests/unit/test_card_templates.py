"""Model cards are template files (assets/model_cards/<task>.md) the exporter fills in with a run's numbers."""

import string

from training.recipes import export


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
