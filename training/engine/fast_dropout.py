"""Dropout with masks from numpy's PCG64 generator: the same dropout, cheaper on a CPU.

torch's CPU ``bernoulli_`` (behind ``nn.Dropout``) draws from a scalar Mersenne Twister, and a
BERT step has 14 dropouts (the embeddings, two per block, the classifier): a visible share of a
fine-tuning step on a CPU (bench/profile_train.py; the figures are in bench/README.md). numpy's
PCG64 is faster, and each of its 64-bit draws gives four 16-bit draws: an element is dropped when
its draw is below round(p * 65536), so the drop probability is p to within 2**-17 (0.1 ->
0.100006; a float32 uniform already rounds it to 2**-24). The mask is made in numpy as torch's own
CPU dropout makes its noise (0 or the scale, float32), so the dropout is one multiply forward and
one backward.

It is the same operation: each element kept with probability 1 - p and scaled by 1 / (1 - p)
(inverted dropout, as ``nn.Dropout``, p to 16 bits), only the random stream differs. Seeded
from the run's seed (and the process index), so a run repeats exactly. The attention
probabilities' dropout, which SDPA's CPU kernel draws with torch's generator, gets its masks from
here too for models on ``lab_sdpa`` attention (lab/attn_impl.py). On a GPU nothing changes
(torch's generator is on the device there and the masks would have to be copied to it).

Use ``FastDropout(model, seed)`` as a context manager around each training forward: it swaps the
``forward`` of the model's ``nn.Dropout`` modules and puts them back afterwards, so a saved or
evaluated model is untouched.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lab import attn_impl


class FastDropout:
    def __init__(self, model: nn.Module, seed: int, enabled: bool = True):
        model = getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
        self.enabled = enabled
        self.modules = [m for m in model.modules() if type(m) is nn.Dropout and m.p > 0] if enabled else []
        self.rng = np.random.default_rng(seed)
        self.forwards = [(m, self._forward(m)) for m in self.modules]
        self._attention = None

    def state_dict(self) -> dict:
        """The generator's position: part of a resumable checkpoint (accelerate's save_state)."""
        return self.rng.bit_generator.state

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def mask(self, shape: torch.Size, p: float) -> torch.Tensor:
        """A float32 mask of ``shape``: each element 0 with probability ``p`` (rounded to 16 bits),
        else the scale that keeps the expectation, 1 / (1 - p) (nn.Dropout's noise)."""
        n = int(np.prod(shape))
        cut = min(round(p * 65536), 65535)  # P(drop) = cut / 65536, within 2**-17 of p
        draws = self.rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]  # 4 per raw draw
        mask = np.empty(n, dtype=np.float32)
        np.multiply(draws >= cut, np.float32(65536 / (65536 - cut)), out=mask)
        return torch.from_numpy(mask).view(shape)

    def drop(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """``x`` times a fresh mask: one multiply forward, one backward (the gradient is masked the same)."""
        if p >= 1:
            return x * 0.0
        return x * self.mask(x.shape, p).to(x.dtype)

    def _forward(self, module: nn.Dropout):
        def forward(x: torch.Tensor) -> torch.Tensor:
            if not module.training or x.device.type != "cpu":
                return nn.Dropout.forward(module, x)
            return self.drop(x, module.p)

        return forward

    def __enter__(self) -> FastDropout:
        for module, forward in self.forwards:
            module.forward = forward  # an instance attribute shadows the class's
        if self.enabled:  # the attention probabilities too, for models on lab_sdpa attention
            self._attention = attn_impl.attention_dropout(self._drop_attention)
            self._attention.__enter__()
        return self

    def _drop_attention(self, probs: torch.Tensor, p: float) -> torch.Tensor:
        return self.drop(probs, p) if probs.device.type == "cpu" else nn.functional.dropout(probs, p)

    def __exit__(self, *exc) -> None:
        for module in self.modules:
            vars(module).pop("forward", None)
        if self._attention is not None:
            self._attention.__exit__(*exc)
            self._attention = None
