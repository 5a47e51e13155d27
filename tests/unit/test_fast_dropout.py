"""Dropout from numpy's generator (training/engine/fast_dropout.py): nn.Dropout's statistics, repeatable."""

import copy

import torch
from torch import nn
from transformers import BertForSequenceClassification

from tests.tiny import tiny_config
from training.engine.fast_dropout import FastDropout


def test_keeps_one_minus_p_scales_the_kept_and_passes_gradients_through_the_mask():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
    dropout = model[1]
    x = (torch.rand(200_000) + 0.5).requires_grad_()  # all positive: dropped == exactly 0
    with FastDropout(model, seed=0):
        y = dropout(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    scale = 65536 / (65536 - round(0.3 * 65536))  # p to 16 bits: 0.3 -> 0.300003
    assert abs(scale - 1 / 0.7) < 1e-5
    torch.testing.assert_close(y[kept], x[kept] * scale)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() * scale)


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


def _tiny_pair(attention_dropout: float):
    """The same tiny BERT twice, on lab_sdpa and on eager attention; only the attention drops."""
    from lab import attn_impl

    config = tiny_config(num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=attention_dropout)
    torch.manual_seed(0)
    ours = BertForSequenceClassification._from_config(config, attn_implementation=attn_impl.register())
    eager = BertForSequenceClassification._from_config(copy.deepcopy(config), attn_implementation="eager")
    eager.load_state_dict(ours.state_dict())
    ids = torch.randint(1000, 2000, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding, so the mask path is exercised
    return ours.train(), eager.train(), ids, mask


def test_attention_dropout_through_the_hook_is_eager_attention_with_the_same_masks(monkeypatch):
    from lab import attn_impl

    ours, eager, ids, mask = _tiny_pair(0.25)
    masks = []  # recorded by our hook, replayed into eager's functional dropout

    def drop(probs, p):
        m = (torch.rand(probs.shape, generator=torch.Generator().manual_seed(len(masks))) >= p) / (1 - p)
        masks.append(m)
        return probs * m

    with attn_impl.attention_dropout(drop):
        logits = ours(input_ids=ids, attention_mask=mask).logits
    logits.sum().backward()
    assert len(masks) == 2  # one per layer: the hook ran instead of SDPA's own dropout

    replay = iter(masks)
    monkeypatch.setattr(torch.nn.functional, "dropout", lambda x, p=0.5, training=True, inplace=False:
                        x * next(replay) if training and p > 0 else x)
    expected = eager(input_ids=ids, attention_mask=mask).logits
    expected.sum().backward()
    torch.testing.assert_close(logits, expected)
    for (name, a), b in zip(ours.named_parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_fast_dropout_draws_the_attention_masks_from_its_own_generator():
    ours, _, ids, mask = _tiny_pair(0.3)

    def logits(seed, torch_seed):
        torch.manual_seed(torch_seed)  # SDPA's own dropout would follow this one
        with FastDropout(ours, seed):
            return ours(input_ids=ids, attention_mask=mask).logits

    first = logits(seed=1, torch_seed=0)
    torch.testing.assert_close(first, logits(seed=1, torch_seed=123))  # torch's generator plays no part
    assert not torch.allclose(first, logits(seed=2, torch_seed=0))
    ours.eval()
    with FastDropout(ours, 1):  # no dropout in eval mode, hook or not
        clean = ours(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(clean, ours(input_ids=ids, attention_mask=mask).logits)
    assert not torch.allclose(first, clean)
