"""Gradient-norm clipping without two extra passes over the gradients.

``clip_grad_norm_(params, 1.0)`` reads every gradient once for its norm and writes every one once
more to scale it: for a small BERT that is twice its size in memory traffic per step, and most
steps of a fine-tuning are clipped (bench/profile_train.py; bench/README.md). Here:

- each gradient's squared norm is taken by a post-accumulate-grad hook, the moment backward has
  written it and while it is still in the cache (a dot product, cheaper than reading it back from
  memory afterwards);
- the clipping factor is handed to the optimizer (``LazyAdamW.scale_next_step``), which scales
  each gradient inside its own update instead of in a separate pass.

The result is clipping's: the joint L2 norm of all gradients (a sparse embedding gradient counted
once per row), and every gradient multiplied by ``min(1, max_norm / (norm + 1e-6))``, as torch's
``clip_grad_norm_``. Tested against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class GradClipper:
    """Sums the squared norms of ``params``' gradients as backward produces them."""

    def __init__(self, params: Iterable[torch.Tensor], max_norm: float):
        self.max_norm = float(max_norm)
        self.params = [p for p in params if p.requires_grad]
        self._squares: list[torch.Tensor] = []
        self._handles = [p.register_post_accumulate_grad_hook(self._record) for p in self.params]

    def _record(self, p: torch.Tensor) -> None:
        grad = p.grad
        if grad.is_sparse:
            # Repeated tokens: one row each, so the norm counts them once (and the optimizer
            # updates each row once).
            grad = p.grad = grad.coalesce()
            grad = grad._values()
        flat = grad.reshape(-1)
        if flat.dtype not in (torch.float32, torch.float64):
            flat = flat.float()
        self._squares.append(torch.dot(flat, flat))

    def factor(self) -> tuple[float, float]:
        """(norm of this step's gradients, the factor that clips them); starts the next step."""
        total = math.sqrt(sum(float(s) for s in self._squares))
        self._squares.clear()
        return total, min(1.0, self.max_norm / (total + 1e-6))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
