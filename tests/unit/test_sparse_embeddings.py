"""Lazy AdamW for the word embeddings: exact where every row is used, and only used rows move.
Clipping as torch's (training/engine/grad_clip.py): the norm summed during backward, the factor applied
inside the optimizer's update."""

import copy

import pytest
import torch
from torch import nn

from training.engine.grad_clip import GradClipper
from training.engine.sparse_embeddings import LazyAdamW, sparse_word_embeddings


class Tiny(nn.Module):
    def __init__(self, vocab=12, dim=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, 3)

    def get_input_embeddings(self):
        return self.emb

    def get_output_embeddings(self):
        return None

    def forward(self, ids):
        return self.out(self.emb(ids)).mean()


def _train(model, opt_cls, ids_per_step, sparse, clip=None, fused=None):
    if sparse:
        assert sparse_word_embeddings(model) is model.emb and model.emb.sparse
    opt = opt_cls(model.parameters(), lr=0.05, weight_decay=0.1, fused=fused)
    clipper = GradClipper(model.parameters(), clip) if sparse and clip is not None else None
    factors = []
    for ids in ids_per_step:
        model(ids).backward()
        if clipper is not None:
            factors.append(clipper.factor()[1])
            opt.scale_next_step(factors[-1])
        elif clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad()
    if clipper is not None:
        clipper.remove()
    return model, factors


@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
@pytest.mark.parametrize("clip", [0.05, 100.0], ids=["clipped", "unclipped"])
def test_equals_dense_adamw_when_every_row_is_used_every_step(fused, clip):
    torch.manual_seed(0)
    base = Tiny()
    steps = [torch.randperm(12).repeat(2) for _ in range(5)]  # every row, some twice
    dense, _ = _train(copy.deepcopy(base), torch.optim.AdamW, steps, sparse=False, clip=clip, fused=fused)
    lazy, factors = _train(copy.deepcopy(base), LazyAdamW, steps, sparse=True, clip=clip, fused=fused)
    # clipped: every step's factor < 1 goes through the optimizer; unclipped: the plain step runs
    assert all(f < 1 for f in factors) if clip < 1 else all(f == 1 for f in factors)
    for (name, a), b in zip(dense.named_parameters(), lazy.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_rows_a_batch_never_used_do_not_move():
    torch.manual_seed(0)
    base = Tiny()
    lazy, _ = _train(copy.deepcopy(base), LazyAdamW, [torch.tensor([1, 2, 2, 5])] * 3, sparse=True)
    moved = (lazy.emb.weight != base.emb.weight).any(dim=1)
    assert moved.nonzero().flatten().tolist() == [1, 2, 5]
    assert not torch.equal(lazy.out.weight, base.out.weight)  # dense parameters train as usual


def test_clip_counts_repeated_rows_once_like_the_dense_norm():
    torch.manual_seed(0)
    a, b = Tiny(), Tiny()
    b.load_state_dict(a.state_dict())
    sparse_word_embeddings(b)
    ids = torch.tensor([3, 3, 3, 7])
    a(ids).backward()
    clipper = GradClipper(b.parameters(), 1e-3)
    b(ids).backward()
    dense_norm = torch.nn.utils.clip_grad_norm_(a.parameters(), 1e-3)
    sparse_norm, factor = clipper.factor()
    assert sparse_norm == pytest.approx(float(dense_norm), rel=1e-6)
    assert factor == pytest.approx(1e-3 / (float(dense_norm) + 1e-6), rel=1e-6)
    assert b.emb.weight.grad.is_sparse and b.emb.weight.grad.is_coalesced()  # each row once
    torch.testing.assert_close(a.emb.weight.grad, b.emb.weight.grad.to_dense() * factor)


def test_tied_or_frozen_embeddings_stay_dense():
    frozen = Tiny()
    frozen.emb.weight.requires_grad_(False)
    assert sparse_word_embeddings(frozen) is None and not frozen.emb.sparse
    tied = Tiny()
    tied.get_output_embeddings = lambda: tied.emb  # an MLM decoder sharing the weight
    assert sparse_word_embeddings(tied) is None and not tied.emb.sparse
