"""Tiny random BERTs for unit tests: the real WordPiece vocabulary, 2 layers of width 32.

Random weights mean outputs are noise: tests on these check shapes and plumbing only;
tests that need real behaviour use the embedded MiniLM.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from transformers import AutoTokenizer, BertConfig

from lab.registry import embedded_encoder_dir


def tiny_config(**kwargs) -> BertConfig:
    base = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=37, max_position_embeddings=128)
    base.update(kwargs)
    return BertConfig(**base)


def save_tiny(directory: Path, architecture: str = "BertForMaskedLM", seed: int = 0, **config_kwargs) -> Path:
    """Build a tiny random model of ``architecture``, save it with the real tokenizer."""
    torch.manual_seed(seed)
    config = tiny_config(architectures=[architecture], **config_kwargs)
    model = getattr(transformers, architecture)(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)  # safetensors by default
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_dir())
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(directory)
    return directory
