"""How much memory a fine-tuning run adds at its peak, said (and checked) before it starts.

A run's peak is the model's gradients and AdamW's two moments (12 bytes for each trainable
weight: the weights themselves are loaded already) plus the activations the backward pass keeps:
per encoder layer and token, a few hidden-sized and intermediate-sized vectors, and per attention
head a row of ``length`` scores. The coefficients below are fitted to the peak resident memory that
``bench/train_memory.py`` measures (fp32, the larger of the two precisions): the estimate is
1.03-1.10x the measured peak from 8 x 64 to 16 x 512 tokens on all-MiniLM-L6-v2, never below it.
"""

from __future__ import annotations

# Values kept per layer and token for the backward pass (fitted, bench/train_memory.py).
HIDDEN_VALUES, INTERMEDIATE_VALUES, SCORE_VALUES = 16, 4, 3
BYTES = 4  # fp32; bf16 autocast keeps some in half the space, so this is an upper bound
OVERHEAD = 100 * 2**20  # the allocator's and autograd's own, whatever the batch (bench: 8 x 64 tokens)


def parameters(config, classes: int) -> int:
    """Weights of a BERT-style encoder of ``config`` with a ``classes``-way head."""
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size + 2) * h
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
    return embeddings + n * layer + (h * h + h) + (h * classes + classes)


def training_bytes(config, batch: int, length: int, classes: int, trainable_share: float = 1.0) -> int:
    """Bytes a training step of ``batch`` texts of ``length`` tokens adds to the process at its peak."""
    tokens = batch * length
    per_token = (HIDDEN_VALUES * config.hidden_size + INTERMEDIATE_VALUES * config.intermediate_size
                 + SCORE_VALUES * config.num_attention_heads * length)
    activations = config.num_hidden_layers * tokens * per_token * BYTES
    state = 12 * parameters(config, classes) * trainable_share
    return int(OVERHEAD + state + activations)
