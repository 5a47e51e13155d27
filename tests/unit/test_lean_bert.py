"""lab/lean_bert.py: the lean inference pass gives the model's own answers, and steps aside when it can't."""

from types import SimpleNamespace

import pytest
import torch
import transformers
from transformers import (
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)

from lab import lean_bert
from lab.attn_impl import attention_weights, register
from lab.classify import classify
from lab.fill_mask import fill_mask
from lab.ner import tag_entities
from lab.qa import answer_question
from tests.tiny import tiny_config
from training.config import TrainConfig
from training.engine.strategies import apply_strategy

HEADS = {"qa": BertForQuestionAnswering, "token": BertForTokenClassification,
         "sequence": BertForSequenceClassification}


def tiny(kind: str, attn: str = "lab_sdpa", **config) -> torch.nn.Module:
    register()
    torch.manual_seed(0)
    return HEADS[kind](tiny_config(num_labels=2 if kind == "qa" else 3, num_hidden_layers=3, type_vocab_size=2,
                                   attn_implementation=attn, **config)).eval()


def padded_pair_batch() -> dict:
    """Two rows of different lengths with segment ids, as a tokenizer pads a question and a context."""
    torch.manual_seed(1)
    ids = torch.randint(1000, 3000, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[mask == 0] = 0
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def outputs(out) -> dict[str, torch.Tensor]:
    return {k: getattr(out, k) for k in ("logits", "start_logits", "end_logits") if getattr(out, k, None) is not None}


@pytest.mark.parametrize("kind", list(HEADS))
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("attn", ["lab_sdpa", "eager"])
def test_same_logits_as_the_models_forward(kind, act, attn):
    model = tiny(kind, attn, hidden_act=act)
    batch = padded_pair_batch()
    with torch.inference_mode():
        expected = outputs(model(**batch))
        got = lean_bert.forward(model, batch)
    assert isinstance(got, SimpleNamespace)  # the lean pass ran
    got = outputs(got)
    assert got.keys() == expected.keys() and got
    for name, value in expected.items():
        # Padding rows are never read; compare the real tokens (all of [CLS]-level outputs).
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-5, msg=name)


def test_without_mask_or_segments_as_a_single_sentence():
    model = tiny("token")
    ids = torch.randint(1000, 3000, (1, 6))
    with torch.inference_mode():
        torch.testing.assert_close(lean_bert.forward(model, {"input_ids": ids}).logits,
                                   model(input_ids=ids).logits, rtol=1e-5, atol=1e-5)


def test_hidden_states_at_some_rows_are_those_of_the_whole_pass():
    register()
    torch.manual_seed(0)
    base = BertForMaskedLM(tiny_config(num_hidden_layers=3, attn_implementation="lab_sdpa")).eval().bert
    batch = padded_pair_batch()
    with torch.inference_mode():
        full = base(**batch).last_hidden_state
        every = lean_bert.hidden_states(base, batch)
        some = lean_bert.hidden_states(base, batch, rows=[1, 5])
    torch.testing.assert_close(every, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(some, full[:, [1, 5]], rtol=1e-5, atol=1e-5)
    assert some.shape == (2, 2, 32)


def fallback_cases():
    def hooked(model):
        model.bert.encoder.layer[0].output.register_forward_hook(lambda m, i, o: o * 2)
        return model

    def lora(model):
        apply_strategy(model, TrainConfig(strategy="lora", lora_r=4))
        return model.eval()

    def head_hooked(model):
        model.qa_outputs.register_forward_hook(lambda m, i, o: o * 2)
        return model

    return {
        "training mode": (lambda m: m.train(), torch.inference_mode, 0.0),
        "a hook on the head": (head_hooked, torch.inference_mode, None),
        "gradients on": (lambda m: m, torch.enable_grad, None),
        "attention weights wanted": (lambda m: m, lambda: _both(torch.inference_mode(), attention_weights()), None),
        "a forward hook": (hooked, torch.inference_mode, None),
        "LoRA layers": (lora, torch.inference_mode, None),
        "relative positions": (lambda m: m, torch.inference_mode, "relative_key"),
    }


class _both:
    def __init__(self, *contexts):
        self.contexts = contexts

    def __enter__(self):
        for c in self.contexts:
            c.__enter__()

    def __exit__(self, *exc):
        for c in reversed(self.contexts):
            c.__exit__(*exc)


@pytest.mark.parametrize("case", list(fallback_cases()))
def test_what_it_cannot_reproduce_runs_the_models_own_forward(case):
    change, context, option = fallback_cases()[case]
    # training mode without dropout, so that two passes are comparable
    config = {"hidden_dropout_prob": option, "attention_probs_dropout_prob": option} if isinstance(option, float) else {}
    if isinstance(option, str):
        config["position_embedding_type"] = option
    model = change(tiny("qa", **config))
    batch = padded_pair_batch()
    with context():
        got = lean_bert.forward(model, batch)
        expected = model(**batch)
    assert not isinstance(got, SimpleNamespace) and type(got) is type(expected)
    torch.testing.assert_close(got.start_logits, expected.start_logits)


def test_other_architectures_run_their_own_forward():
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
                                           max_position_embeddings=128, num_labels=2)
    model = transformers.DistilBertForSequenceClassification(config).eval()
    ids = torch.randint(1000, 3000, (1, 6))
    with torch.inference_mode():
        got = lean_bert.forward(model, {"input_ids": ids})
    assert type(got).__name__ == "SequenceClassifierOutput" and got.logits.shape == (1, 2)


@pytest.fixture
def lean_calls(monkeypatch):
    calls = []
    encode = lean_bert._encode
    monkeypatch.setattr(lean_bert, "_encode", lambda *a, **k: calls.append(k.get("rows")) or encode(*a, **k))
    return calls


def task_answers(tiny_cls_dir, tiny_ner_dir, tiny_qa_dir, tiny_mlm_dir, tokenizer) -> list:
    load = {d: getattr(transformers, f"AutoModelFor{c}").from_pretrained(d, attn_implementation="lab_sdpa").eval()
            for d, c in ((tiny_cls_dir, "SequenceClassification"), (tiny_ner_dir, "TokenClassification"),
                         (tiny_qa_dir, "QuestionAnswering"), (tiny_mlm_dir, "MaskedLM"))}
    return [
        {k: round(v, 5) for k, v in classify(load[tiny_cls_dir], tokenizer, "A fine film.",
                                             explain=False).probabilities.items()},
        [(p.token, p.tag, round(p.score, 5)) for p in tag_entities(load[tiny_ner_dir], tokenizer,
                                                                   "Ada Lovelace met Babbage.", "simple").pieces],
        [(c.text, round(c.score, 5)) for c in answer_question(load[tiny_qa_dir], tokenizer, "Who met her?",
                                                             "Ada Lovelace met Charles Babbage in London.").candidates],
        [(c.token, round(c.score, 5)) for c in fill_mask(load[tiny_mlm_dir], tokenizer, "I [MASK] dogs.", 5).masks[0].candidates],
    ]


def test_the_tasks_take_the_lean_pass_and_answer_as_the_models_forward(
        lean_calls, monkeypatch, tiny_cls_dir, tiny_ner_dir, tiny_qa_dir, tiny_mlm_dir, bert_tokenizer):
    register()
    dirs = (tiny_cls_dir, tiny_ner_dir, tiny_qa_dir, tiny_mlm_dir)
    lean = task_answers(*dirs, bert_tokenizer)
    # classification reads [CLS] alone, NER and QA every token, fill-mask the mask (position 2)
    rows = [r.tolist() if isinstance(r, torch.Tensor) else r for r in lean_calls]
    assert rows == [[0], None, None, [[2]]]  # fill-mask's rows are per request (lab/batching.py)
    monkeypatch.setattr(lean_bert, "_plain_encoder", lambda model: None)
    assert task_answers(*dirs, bert_tokenizer) == lean
    assert len(lean_calls) == 4
