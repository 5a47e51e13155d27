"""Dropout from numpy's generator (training/fast_dropout.py): nn.Dropout's statistics, repeatable."""

import torch
from torch import nn
from transformers import BertForSequenceClassification

from tests.tiny import tiny_config
from training.fast_dropout import FastDropout


def test_keeps_one_minus_p_scales_the_kept_and_passes_gradients_through_the_mask():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
    dropout = model[1]
    x = (torch.rand(200_000) + 0.5).requires_grad_()  # all positive: dropped == exactly 0
    with FastDropout(model, seed=0):
        y = dropout(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.7)


def test_the_same_seed_gives_the_same_masks_another_seed_other_masks():
    model = nn.Sequential(nn.Dropout(0.1))
    x = torch.ones(1000)

    def masks(seed):
        with FastDropout(model, seed) as d:
            return [d.modules[0](x) for _ in range(3)]

    first, again, other = masks(1), masks(1), masks(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0]) and not torch.equal(first[0], first[1])


def test_eval_mode_is_the_identity_and_the_model_is_restored_after():
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=2))
    n_dropouts = sum(type(m) is nn.Dropout and m.p > 0 for m in model.modules())
    ids = torch.randint(1000, 2000, (2, 7))
    with FastDropout(model, seed=0) as d:
        assert len(d.modules) == n_dropouts > 0
        model.eval()
        inside = model(input_ids=ids).logits
        model.train()
        noisy = model(input_ids=ids).logits
    model.eval()
    torch.testing.assert_close(inside, model(input_ids=ids).logits)
    assert not torch.allclose(noisy, inside)
    assert not any("forward" in vars(m) for m in model.modules())
