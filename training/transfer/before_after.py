"""Before and after fine-tuning, on the same sentence: the effect of training made visible."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lab.classify import classify
from training.config import TrainConfig
from training.engine.loop import METRICS_FILE
from training.engine.models import build_model, resolve_base_model


def probabilities(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str,
                  max_length: int | None = None) -> dict[str, float]:
    """{label: probability} of a sequence classifier for one text, most likely first: the
    Classification tab's answer (lab/classify.py), cut at ``max_length`` tokens when given."""
    return classify(model, tokenizer, text, explain=False, max_length=max_length).probabilities


def run_config(model_dir: Path) -> TrainConfig:
    """The settings a saved run was trained with (metrics.json beside its best/ folder)."""
    metrics_path = Path(model_dir).parent / METRICS_FILE
    saved = json.loads(metrics_path.read_text()).get("config", {}) if metrics_path.exists() else {}
    return TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})


@torch.inference_mode()
def untrained_prediction(lab, model_dir: Path, text: str) -> dict[str, float]:
    """What the base model with a fresh, untrained head (same labels, same seed) says about ``text``.

    Side by side with the fine-tuned model it shows what fine-tuning changed: before, the head
    is random and the probabilities are near uniform.
    """
    config = AutoConfig.from_pretrained(model_dir)
    labels = [config.id2label[i] for i in range(config.num_labels)]
    train_config = run_config(model_dir)
    source, _ = resolve_base_model(train_config, lab.settings, lab.hub.online)
    model = build_model(source, labels, from_scratch=False, seed=train_config.seed).eval()
    return probabilities(model, AutoTokenizer.from_pretrained(model_dir), text, train_config.max_length)
