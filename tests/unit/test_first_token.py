"""The last layer at [CLS] only (training/engine/first_token.py): same logits, same gradients."""

import pytest
import torch
import transformers
from transformers import BertForSequenceClassification

from lab.attn_impl import register
from tests.tiny import tiny_config
from training.config import TrainConfig
from training.engine.first_token import first_token_only
from training.engine.strategies import apply_strategy


def tiny_classifier(attn: str, strategy: str = "full") -> BertForSequenceClassification:
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=3, num_hidden_layers=3,
                                                      attn_implementation=attn))
    apply_strategy(model, TrainConfig(strategy=strategy, lora_r=4, freeze_layers=1))
    return model


def padded_batch() -> dict:
    torch.manual_seed(1)
    ids = torch.randint(1000, 3000, (4, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # rows of different lengths: the padding must stay masked for [CLS]
    mask[3, 2:] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2, 1, 2])}


def logits_and_grads(model, batch, fast: bool):
    model.zero_grad()
    with first_token_only(model) if fast else torch.enable_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    torch.nn.functional.cross_entropy(out.logits, batch["labels"]).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.logits.detach(), grads


@pytest.mark.parametrize("attn", ["eager", "sdpa", "lab_sdpa"])
@pytest.mark.parametrize("strategy", ["full", "lora", "freeze_lower"])
def test_same_logits_and_gradients_as_the_whole_last_layer(attn, strategy):
    register()
    model = tiny_classifier(attn, strategy).eval()  # no dropout: the two runs must be comparable
    batch = padded_batch()
    slow_logits, slow_grads = logits_and_grads(model, batch, fast=False)
    fast_logits, fast_grads = logits_and_grads(model, batch, fast=True)
    torch.testing.assert_close(fast_logits, slow_logits, rtol=1e-5, atol=1e-5)
    assert fast_grads.keys() == slow_grads.keys() and len(slow_grads) > 0
    for name, grad in slow_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_last_layer_really_computes_one_position_and_is_restored_after():
    model = tiny_classifier("sdpa").eval()
    batch = padded_batch()
    seen = []
    hook = model.bert.encoder.layer[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with first_token_only(model) as active:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hook.remove()
    assert active is True
    assert seen == [torch.Size([4, 1, 32]), torch.Size([4, 9, 32])]
    assert "forward" not in vars(model.bert.encoder.layer[-1])


def test_models_it_does_not_know_run_unchanged():
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(tiny_config(num_labels=3)).eval()  # reads every position
    batch = padded_batch()
    with first_token_only(model) as active:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert active is False and out.shape == (4, 9, 3)
