"""Lazy AdamW for the word embeddings: exact where every row is used, and only used rows move."""

import copy

import torch
from torch import nn

from training.sparse_embeddings import LazyAdamW, clip_grad_norm, sparse_word_embeddings


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


def _train(model, opt_cls, ids_per_step, sparse, clip=None):
    if sparse:
        assert sparse_word_embeddings(model) is model.emb and model.emb.sparse
    opt = opt_cls(model.parameters(), lr=0.05, weight_decay=0.1)
    for ids in ids_per_step:
        model(ids).backward()
        if clip is not None:
            (clip_grad_norm if sparse else torch.nn.utils.clip_grad_norm_)(model.parameters(), clip)
        opt.step()
        opt.zero_grad()
    return model


def test_equals_dense_adamw_when_every_row_is_used_every_step():
    torch.manual_seed(0)
    base = Tiny()
    steps = [torch.randperm(12).repeat(2) for _ in range(5)]  # every row, some twice
    dense = _train(copy.deepcopy(base), torch.optim.AdamW, steps, sparse=False, clip=0.05)
    lazy = _train(copy.deepcopy(base), LazyAdamW, steps, sparse=True, clip=0.05)
    for (name, a), b in zip(dense.named_parameters(), lazy.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_rows_a_batch_never_used_do_not_move():
    torch.manual_seed(0)
    base = Tiny()
    lazy = _train(copy.deepcopy(base), LazyAdamW, [torch.tensor([1, 2, 2, 5])] * 3, sparse=True)
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
    b(ids).backward()
    dense_norm = torch.nn.utils.clip_grad_norm_(a.parameters(), 1e-3)
    sparse_norm = clip_grad_norm(b.parameters(), 1e-3)
    assert torch.allclose(dense_norm, sparse_norm)
    assert torch.allclose(a.emb.weight.grad, b.emb.weight.grad.to_dense(), atol=1e-9)


def test_tied_or_frozen_embeddings_stay_dense():
    frozen = Tiny()
    frozen.emb.weight.requires_grad_(False)
    assert sparse_word_embeddings(frozen) is None and not frozen.emb.sparse
    tied = Tiny()
    tied.get_output_embeddings = lambda: tied.emb  # an MLM decoder sharing the weight
    assert sparse_word_embeddings(tied) is None and not tied.emb.sparse
