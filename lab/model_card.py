"""Model cards measured, not read: size, shape and speed of every loaded model on one input.

So "DistilBERT is smaller and faster than BERT", and where the embedded MiniLM stands, is
something a student sees on the text they typed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from lab.loading import LoadedModel
from lab.tokenization import max_input_length


@dataclass(frozen=True)
class ModelCard:
    name: str
    task: str
    source: str
    architecture: str
    layers: int | None
    hidden: int | None
    heads: int | None
    parameters: int
    vocabulary: int
    max_positions: int | None
    tokens: int  # length of the measured input in this model's tokens
    milliseconds: float  # median forward time on that input


def _config_value(config, *names):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


@torch.inference_mode()
def measure(loaded: LoadedModel, text: str, repeats: int = 5) -> ModelCard:
    """One card: the config's shape, the parameter count, and the median of ``repeats`` forward passes."""
    model, tokenizer = loaded.model, loaded.tokenizer
    config = model.config
    inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_input_length(tokenizer, config))
    model(**inputs)  # warm-up: the first call pays for lazy initialisation
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        model(**inputs)
        times.append(time.perf_counter() - start)
    return ModelCard(
        name=loaded.name,
        task=loaded.ref.task,
        source=loaded.ref.kind,
        architecture=(config.architectures or [type(model).__name__])[0],
        layers=_config_value(config, "num_hidden_layers", "n_layers"),
        hidden=_config_value(config, "hidden_size", "dim"),
        heads=_config_value(config, "num_attention_heads", "n_heads"),
        parameters=sum(p.numel() for p in model.parameters()),
        vocabulary=len(tokenizer),
        max_positions=_config_value(config, "max_position_embeddings"),
        tokens=int(inputs["input_ids"].shape[1]),
        milliseconds=statistics.median(times) * 1000,
    )


@dataclass(frozen=True)
class NextSentence:
    is_next: float  # probability that B follows A
    tokens: list[str]


@torch.inference_mode()
def next_sentence(loaded: LoadedModel, sentence_a: str, sentence_b: str) -> NextSentence:
    """BERT's second pre-training task: does B follow A? (label 0 of the NSP head means "is next")."""
    limit = max_input_length(loaded.tokenizer, loaded.model.config)
    inputs = loaded.tokenizer(sentence_a, sentence_b, return_tensors="pt", truncation=True, max_length=limit)
    logits = loaded.model(**inputs).logits[0]
    return NextSentence(logits.float().softmax(-1)[0].item(),
                        loaded.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0]))
