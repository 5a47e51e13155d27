"""Dropout with masks from numpy's PCG64 generator: the same dropout, half the cost on a CPU.

torch's CPU ``bernoulli_`` (behind ``nn.Dropout``) draws from a scalar Mersenne Twister: ~1.4 ms
for one (16 x 24 x 384) activation here, and a BERT step has 14 of them (the embeddings, two
per block, the classifier): ~8% of a fine-tuning step in the profile (bench/README.md).
numpy's PCG64 fills the same float32 buffer ~3.4x faster. The mask is made in numpy as torch's
own CPU dropout makes its noise (0 or 1 / (1 - p), float32), so the dropout is one multiply
forward and one backward; comparing and selecting in torch (``ge`` + ``where``) had cost ~0.5 ms
more per dropout than the draw itself.

It is the same operation: each element kept with probability 1 - p and scaled by 1 / (1 - p)
(inverted dropout, as ``nn.Dropout``), only the random stream differs. Seeded from the run's
seed (and the process index), so a run repeats exactly. The attention probabilities' dropout,
which SDPA's CPU kernel draws with torch's generator (1.4 ms per layer), gets its masks from here
too for models on ``lab_sdpa`` attention (lab/attn_impl.py). On a GPU nothing changes (torch's
generator is on the device there and the masks would have to be copied to it).

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

    def mask(self, shape: torch.Size, p: float) -> torch.Tensor:
        """A float32 mask of ``shape``: 1 / (1 - p) with probability 1 - p, else 0 (nn.Dropout's noise)."""
        u = np.empty(int(np.prod(shape)), dtype=np.float32)
        self.rng.random(out=u, dtype=np.float32)  # uniform in [0, 1)
        np.multiply(u >= p, np.float32(1.0 / (1.0 - p)), out=u)  # P(keep) = 1 - p
        return torch.from_numpy(u).view(shape)

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
