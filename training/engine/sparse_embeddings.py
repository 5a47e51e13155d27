"""Update only the word-embedding rows a batch used (lazy AdamW), instead of all 30,522 every step.

Half of a small BERT's weights are its word embeddings (MiniLM: 11.7M of 22.7M). With a dense
gradient, every step zero-fills a 47 MB gradient, takes its norm for clipping and runs AdamW over
all of it, though a batch of 16 sentences touches a few hundred of the 30,522 rows
(bench/profile_train.py measures the step; bench/README.md). With ``nn.Embedding(sparse=True)``
autograd returns only the used rows; ``LazyAdamW`` updates those rows' moments and weights (as
TF's LazyAdam and torch's SparseAdam do, plus AdamW's decoupled weight decay) and hands every
other parameter to torch's AdamW unchanged. Rows a batch does not use keep their moments and are
not decayed that step: the one difference from dense AdamW, and the usual one for large embeddings.

torch's ``clip_grad_norm_`` refuses sparse gradients: training/engine/grad_clip.py clips the mix.
"""

from __future__ import annotations

import torch
from torch import nn


def sparse_word_embeddings(model: nn.Module) -> nn.Embedding | None:
    """Switch the input word embeddings to sparse gradients when that is safe; returns the module.

    Not when they are frozen, or tied to an output layer (an MLM decoder would add a dense
    gradient to the same weight).
    """
    get = getattr(model, "get_input_embeddings", None)
    embedding = get() if get is not None else None
    if not isinstance(embedding, nn.Embedding) or not embedding.weight.requires_grad:
        return None
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and getattr(output, "weight", None) is embedding.weight:
        return None
    embedding.sparse = True
    return embedding


class LazyAdamW(torch.optim.AdamW):
    """torch's AdamW for dense gradients; a row-wise lazy AdamW for sparse ones.

    After ``scale_next_step(c)``, the next ``step()`` updates as if every gradient had first been
    multiplied by ``c`` (the clipping factor of training/engine/grad_clip.py), without a pass that
    multiplies them: the fused AdamW kernel divides each gradient by ``grad_scale`` as it reads it
    (the hook torch's GradScaler uses to unscale), and the sparse rows are scaled in their own
    update. (A method, not a ``step`` argument: accelerate's optimizer wrapper calls ``step()``.)
    """

    def scale_next_step(self, grad_factor: float) -> None:
        self._grad_factor = float(grad_factor)

    @torch.no_grad()
    def step(self, closure=None):
        grad_factor, self._grad_factor = getattr(self, "_grad_factor", 1.0), 1.0
        lazy = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    lazy.append((group, p))
        for group, p in lazy:
            self._lazy_update(group, p, p.grad.coalesce(), grad_factor)
            p.grad = None  # the dense AdamW below skips parameters without a gradient
        if grad_factor == 1.0:
            return super().step(closure)
        if all(group.get("fused") for group in self.param_groups):
            self.grad_scale = torch.tensor(1.0 / grad_factor)
            try:
                return super().step(closure)
            finally:
                del self.grad_scale
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        torch._foreach_mul_(grads, grad_factor)  # foreach/for-loop AdamW take no grad_scale
        return super().step(closure)

    def _lazy_update(self, group: dict, p: torch.Tensor, grad: torch.Tensor, grad_factor: float = 1.0) -> None:
        state = self.state[p]
        if "step" not in state:  # the names and types torch's AdamW keeps, so its state_dict reloads
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        step = int(state["step"])
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        rows, g = grad._indices()[0], grad._values()  # (n,), (n, dim)
        if grad_factor != 1.0:
            g = g * grad_factor
        m = state["exp_avg"][rows].lerp_(g, 1 - beta1)
        v = state["exp_avg_sq"][rows].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        state["exp_avg"][rows], state["exp_avg_sq"][rows] = m, v
        bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
        w = p[rows].mul_(1 - lr * decay)  # decoupled weight decay, as AdamW
        w.addcdiv_(m, v.div(bias2).sqrt_().add_(eps), value=-lr / bias1)
        p[rows] = w


def lazy_adamw_ok(num_processes: int, device: torch.device) -> bool:
    """Sparse embedding updates pay off on a single CPU process; GPUs and DDP keep dense AdamW
    (DDP would all-reduce sparse gradients, and a GPU's dense update is cheap)."""
    return num_processes == 1 and device.type == "cpu"
