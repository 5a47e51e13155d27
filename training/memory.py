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


def training_bytes(config, batch: int, length: int, trainable_params: int) -> int:
    """Bytes a training step of ``batch`` texts of ``length`` tokens adds to the process at its peak,
    for a model of ``config`` with ``trainable_params`` weights to train (training.models.count_parameters)."""
    tokens = batch * length
    per_token = (HIDDEN_VALUES * config.hidden_size + INTERMEDIATE_VALUES * config.intermediate_size
                 + SCORE_VALUES * config.num_attention_heads * length)
    activations = config.num_hidden_layers * tokens * per_token * BYTES
    return int(OVERHEAD + 12 * trainable_params + activations)
