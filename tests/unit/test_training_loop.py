"""The accelerate training loop on a tiny random BERT and a task it can learn in a few steps.

The task: does the sentence contain "good" (label good) or "bad" (label bad)? Random filler
words around it. A 2-layer width-32 BERT with the real vocabulary learns it in ~20 steps.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from lab.errors import LabInputError
from training.config import TrainConfig
from training.data.data import TextDataset
from training.engine import loop
from training.engine.cache import tokenize, tokenizer_fingerprint
from training.engine.loop import LengthGroupedSampler, choose_precision, evals_per_epoch, save_atomically
from training.engine.models import build_model, count_parameters
from training.engine.strategies import apply_strategy, merged_copy
from training.tasks.tasks import compute_class_weights, train_classifier

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

FILLER = "the movie was a film plot actor scene story long short it really quite very".split()


def synthetic(n: int, seed: int) -> TextDataset:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        words = rng.sample(FILLER, rng.randint(1, 4))
        label = i % 2
        words.insert(rng.randint(0, len(words)), "good" if label else "bad")
        texts.append(" ".join(words))
        labels.append(label)
    return TextDataset(texts, labels, ["bad", "good"], rows=[r + 10 for r in range(n)])


# Tiny random weights learn slowly at BERT's usual 5e-5: a larger step makes a few steps enough.
FAST = dict(learning_rate=1e-2, warmup_ratio=0.0, batch_size=8, evals_per_epoch=2, precision="fp32")


@pytest.fixture(scope="module")
def data():
    return synthetic(64, seed=1), synthetic(32, seed=2), synthetic(16, seed=3)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tokenized")


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings, data, cache_dir):
    """One full fine-tuning run shared by the tests that only read its results."""
    train, val, test = data
    events = []
    out = tmp_path_factory.mktemp("run") / "out"
    result = train_classifier(TrainConfig(epochs=4, **FAST), train, val, out, test=test,
                              on_event=events.append, settings=settings, cache_dir=cache_dir)
    return result, events


def test_loss_goes_down_and_validation_beats_chance(run):
    result, _ = run
    losses = [h["loss"] for h in result.history if h["kind"] == "step"]
    assert len(losses) == 32  # 64 examples / 8 per batch * 4 epochs
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.1
    assert result.best_metrics["accuracy"] >= 0.8
    assert result.test_report["accuracy"] >= 0.7
    assert result.stopped_early is None
    assert result.precision == "fp32"
    assert result.trainable_params == result.total_params  # strategy "full"
    assert result.examples_per_second > 0


def test_events_report_steps_evaluations_and_done(run):
    result, events = run
    steps = [e for e in events if e.kind == "step"]
    evals = [e for e in events if e.kind == "eval"]
    assert [e.step for e in steps] == list(range(1, 33))
    assert all(e.total_steps == 32 and e.lr is not None and e.eta_s is not None for e in steps)
    assert steps[-1].epoch == pytest.approx(4.0) and steps[-1].eta_s == pytest.approx(0.0)
    assert [e.step for e in evals] == list(range(4, 33, 4))  # two evaluations per epoch
    assert set(evals[0].metrics) >= {"val_loss", "accuracy", "macro_f1"}
    assert events[-1].kind == "done" and events[-1].metrics["step"] == result.best_metrics["step"]
    assert len(result.history) == len(steps) + len(evals)
    json.dumps(result.history)


def test_metrics_json_and_best_checkpoint_reload(run, data):
    result, _ = run
    _, val, test = data
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["best_metrics"] == pytest.approx(result.best_metrics)
    assert metrics["id2label"] == {"0": "bad", "1": "good"}
    assert metrics["config"]["learning_rate"] == 1e-2
    assert metrics["test_report"]["accuracy"] == result.test_report["accuracy"]
    assert metrics["trainable_params"] == result.trainable_params and metrics["precision"] == "fp32"
    assert len(metrics["history"]) == len(result.history)
    assert {"train_s", "tokenize_s", "total_s"} <= set(metrics["timings"])

    best = result.best_dir
    assert sorted(p.name for p in result.output_dir.iterdir()) == ["best", "metrics.json"]
    assert (best / "model.safetensors").is_file() and (best / "tokenizer.json").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(best).eval()
    assert model.config.id2label == {0: "bad", 1: "good"}
    assert model.config.label2id == {"bad": 0, "good": 1}
    tokenizer = AutoTokenizer.from_pretrained(best)
    with torch.no_grad():
        logits = model(**tokenizer(val.texts, padding=True, return_tensors="pt")).logits
    accuracy = (logits.argmax(-1) == torch.tensor(val.labels)).float().mean().item()
    # the saved model is the one that scored best on validation
    assert accuracy == pytest.approx(result.best_metrics["accuracy"])


def test_validation_report_and_misclassified_rows(run, data):
    result, _ = run
    _, val, _ = data
    report = result.val_report
    assert report["labels"] == ["bad", "good"]
    assert sum(map(sum, report["confusion"])) == len(val)
    assert set(report["per_class"]) == {"bad", "good"}
    assert report["per_class"]["good"]["support"] == 16
    wrong = len(val) - round(report["accuracy"] * len(val))
    assert len(result.misclassified) == wrong
    for item in result.misclassified:
        i = val.rows.index(item["row"])
        assert item["text"] == val.texts[i] and item["true"] == val.label_names[val.labels[i]]
        assert item["predicted"] != item["true"] and 0.5 <= item["confidence"] <= 1.0


def test_strategies_train_the_right_parameters(base_dir):
    def fresh():
        return build_model(str(base_dir), ["a", "b", "c"], from_scratch=False, seed=0)

    full_model = fresh()
    full = apply_strategy(full_model, TrainConfig(strategy="full"))
    assert full[0] == full[1] == sum(p.numel() for p in full_model.parameters())

    frozen = fresh()
    trainable, total = apply_strategy(frozen, TrainConfig(strategy="frozen_encoder"))
    assert trainable == 32 * 3 + 3  # the new classifier only: hidden 32 -> 3 labels
    assert total == full[1]
    assert {n for n, p in frozen.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}

    lower = fresh()
    apply_strategy(lower, TrainConfig(strategy="freeze_lower", freeze_layers=1))
    grads = {n: p.requires_grad for n, p in lower.named_parameters()}
    assert not any(v for n, v in grads.items() if n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")))
    assert all(v for n, v in grads.items() if n.startswith(("bert.encoder.layer.1.", "classifier.")))

    lora = fresh()
    trainable, total = apply_strategy(lora, TrainConfig(strategy="lora", lora_r=4))
    names = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert names and all("lora_" in n or n.startswith("classifier.") for n in names)
    assert any("query" in n for n in names) and any("value" in n for n in names)
    assert not any(".key." in n for n in names)
    # 2 layers x (query, value) x (A: 4x32 + B: 32x4) + the head
    assert trainable == 2 * 2 * (4 * 32 + 32 * 4) + 32 * 3 + 3
    assert trainable < full[1] / 100 and total == full[1] + 2 * 2 * 256


def test_count_parameters_without_training_matches_real_model(settings, base_dir):
    for strategy in ("full", "freeze_lower", "frozen_encoder", "lora"):
        config = TrainConfig(strategy=strategy, freeze_layers=1)
        real = apply_strategy(build_model(str(base_dir), ["a", "b"], False, 0), config)
        assert count_parameters(config, 2, settings) == real, strategy


def test_merged_lora_copy_computes_what_the_adapters_did(base_dir):
    model = build_model(str(base_dir), ["a", "b"], from_scratch=False, seed=0)
    apply_strategy(model, TrainConfig(strategy="lora", lora_r=4))
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero (adapter = no-op): give it a value to merge
            torch.nn.init.normal_(p, std=0.5)
    model.eval()
    merged = merged_copy(model).eval()
    ids = torch.tensor([[101, 2204, 3185, 102]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, merged(ids).logits, atol=1e-5)
    assert not any("lora" in k or "base_layer" in k for k in merged.state_dict())
    assert any("lora" in k for k in model.state_dict())  # the training model is left as it was


def test_lora_run_saves_a_merged_plain_model(tmp_path, settings, data, cache_dir, base_dir):
    train, val, _ = data
    result = train_classifier(TrainConfig(strategy="lora", lora_r=4, epochs=1, **FAST), train, val,
                              tmp_path / "lora", settings=settings, cache_dir=cache_dir)
    assert result.trainable_params < result.total_params / 100
    assert result.extra["tokenize_cache"] == {"train": "hit", "validation": "hit"}  # the shared run filled it
    saved = load_file(result.best_dir / "model.safetensors")
    assert not any("lora" in k for k in saved)
    base = load_file(base_dir / "model.safetensors")
    prefix = "bert." if "bert.encoder.layer.0.attention.self.query.weight" in saved else ""

    def key(name):
        return prefix + f"encoder.layer.0.attention.self.{name}.weight"

    # query/value carry the merged adapters; key was frozen and never adapted
    assert not torch.equal(saved[key("query")], base[key("query").removeprefix(prefix)])
    assert torch.equal(saved[key("key")], base[key("key").removeprefix(prefix)])
    model = AutoModelForSequenceClassification.from_pretrained(result.best_dir)
    assert type(model).__name__ == "BertForSequenceClassification"


def test_cancel_stops_cleanly_and_keeps_a_best_checkpoint(tmp_path, settings, cache_dir):
    mixed = synthetic(48, seed=5)
    train = mixed.subset([i for i in range(48) if mixed.labels[i] == 0 or i % 6 == 1])  # 24 bad, 8 good
    steps = []

    def on_event(event):
        if event.kind == "step":
            steps.append(event.step)

    result = train_classifier(TrainConfig(epochs=5, class_weights=True, **FAST), train, synthetic(8, 6),
                              tmp_path / "c", on_event=on_event, should_stop=lambda: len(steps) >= 3,
                              settings=settings, cache_dir=cache_dir)
    assert result.stopped_early == "cancelled"
    assert steps == [1, 2, 3]
    assert (result.best_dir / "model.safetensors").is_file()
    # 4 steps per epoch, scored every 2: Cancel keeps the checkpoint of step 2 and doesn't wait to score step 3
    assert result.best_metrics["step"] == 2 and result.extra["steps_done"] == 3
    # inverse frequency 1/24, 1/8 normalised to mean 1: the rare class weighs 3x
    assert result.class_weights == pytest.approx([0.5, 1.5])
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert metrics["stopped_early"] == "cancelled" and metrics["class_weights"] == pytest.approx([0.5, 1.5])


def test_time_limit_stops_like_cancel(tmp_path, settings, data, cache_dir, monkeypatch):
    train, val, _ = data
    clock = iter(range(0, 10_000, 5))  # every reading of the clock is 5 s later
    monkeypatch.setattr(loop, "_now", lambda: float(next(clock)))
    result = train_classifier(TrainConfig(epochs=5, max_train_minutes=0.5, **FAST), train, val, tmp_path / "t",
                              settings=settings, cache_dir=cache_dir)
    monkeypatch.undo()
    assert result.stopped_early == "time limit"
    assert 0 < result.extra["steps_done"] < 40
    assert (result.best_dir / "config.json").is_file()


def test_class_weights_are_inverse_frequency_with_mean_one():
    assert compute_class_weights([0, 0, 0, 1], 2) == pytest.approx([0.5, 1.5])
    weights = compute_class_weights([0] * 6 + [1] * 3 + [2], 3)
    # inverse counts 1/6, 1/3, 1 -> mean 0.5 -> divided: 1/3, 2/3, 2
    assert weights == pytest.approx([1 / 3, 2 / 3, 2.0])
    assert sum(weights) / 3 == pytest.approx(1.0)
    assert compute_class_weights([0, 0, 2, 2], 3) == pytest.approx([1.0, 0.0, 1.0])  # absent class: unused


def test_from_scratch_uses_random_weights_of_the_same_shape(base_dir):
    base = load_file(base_dir / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    pretrained = build_model(str(base_dir), ["a", "b"], from_scratch=False, seed=0)
    scratch = build_model(str(base_dir), ["a", "b"], from_scratch=True, seed=7)
    assert torch.equal(pretrained.bert.state_dict()[name], base[name])
    assert scratch.bert.state_dict()[name].shape == base[name].shape
    assert not torch.equal(scratch.bert.state_dict()[name], base[name])
    assert scratch.config.id2label == {0: "a", 1: "b"} and scratch.config.num_hidden_layers == 2


def test_from_scratch_run_with_bf16_autocast(tmp_path, settings, data, cache_dir):
    train, val, _ = data
    config = TrainConfig(epochs=0.25, from_scratch=True, **{**FAST, "precision": "bf16"})
    result = train_classifier(config, train, val, tmp_path / "s", settings=settings, cache_dir=cache_dir)
    assert result.extra["steps_done"] == 2
    assert result.precision == "bf16" and result.precision_note
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["config"]["from_scratch"] is True and metrics["precision"] == "bf16"
    saved = load_file(result.best_dir / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in saved.values())  # autocast: the weights stay fp32


def test_auto_precision_follows_the_cpu_and_learns_on_both(tmp_path, settings, data, cache_dir, cpu_bf16):
    """The default --precision auto: bf16 autocast with native bf16, fp32 without; both learn the task,
    and the checkpoint is fp32 either way (autocast rounds the matmuls, not the weights)."""
    train, val, _ = data
    config = TrainConfig(epochs=4, **{**FAST, "precision": "auto"})
    result = train_classifier(config, train, val, tmp_path / "auto", settings=replace(settings, cpu_bf16="auto"),
                              cache_dir=cache_dir)
    assert result.precision == ("bf16" if cpu_bf16 else "fp32")
    assert ("no native bf16" in result.precision_note) != cpu_bf16
    assert result.best_metrics["accuracy"] >= 0.8
    assert json.loads((tmp_path / "auto" / "metrics.json").read_text())["precision"] == result.precision
    saved = load_file(result.best_dir / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in saved.values())


def test_precision_choice_and_fallback(monkeypatch):
    cpu = torch.device("cpu")
    assert choose_precision("fp32", cpu)[0] == "fp32"
    precision, reason = choose_precision("auto", cpu, cpu_bf16="no")
    assert precision == "fp32" and "no native bf16" in reason
    assert choose_precision("bf16", cpu, cpu_bf16="no")[0] == "bf16"  # asked for explicitly: honoured, with a note
    assert choose_precision("auto", cpu, cpu_bf16="yes")[0] == "bf16"
    monkeypatch.setenv("LAB_CPU_BF16", "yes")  # the host's setting reaches the loop through Settings only
    assert choose_precision("auto", cpu, cpu_bf16="no")[0] == "fp32"


def test_atomic_save_keeps_the_previous_best_when_saving_fails(tmp_path, base_dir):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = build_model(str(base_dir), ["a", "b"], from_scratch=False, seed=0)
    target = tmp_path / "best"
    save_atomically(model, tokenizer, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    other = build_model(str(base_dir), ["a", "b"], from_scratch=False, seed=1)

    def broken_save(directory, **kwargs):  # dies half-way through writing the weights
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "model.safetensors").write_bytes(b"half a file")
        raise OSError("disk full")

    other.save_pretrained = broken_save
    with pytest.raises(OSError, match="disk full"):
        save_atomically(other, tokenizer, target)
    assert [p.name for p in tmp_path.iterdir()] == ["best"]  # no partial directory left beside it
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before

    del other.save_pretrained  # the disk has room again: a good save replaces it whole
    save_atomically(other, tokenizer, target)
    assert [p.name for p in tmp_path.iterdir()] == ["best"]
    assert (target / "model.safetensors").read_bytes() != before["model.safetensors"]


def test_tokenization_cache_is_hit_the_second_time(tmp_path, base_dir, data):
    train, _, _ = data
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    first, hit1 = tokenize(train, tokenizer, 32, tmp_path)
    second, hit2 = tokenize(train, tokenizer, 32, tmp_path)
    assert (hit1, hit2) == (False, True)
    assert second["input_ids"] == first["input_ids"] and second["labels"] == train.labels
    assert tokenize(train, tokenizer, 16, tmp_path)[1] is False  # another max_length: another entry
    changed = TextDataset(train.texts[:-1] + ["something else"], train.labels, train.label_names)
    assert tokenize(changed, tokenizer, 32, tmp_path)[1] is False
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 3


def test_the_tokenizer_fingerprint_ignores_truncation_and_padding_but_not_the_vocabulary(base_dir):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    plain = tokenizer_fingerprint(tokenizer)
    tokenizer(["a b c", "a"], truncation=True, max_length=4, padding=True)  # sets both on the backend
    assert tokenizer.backend_tokenizer.truncation is not None
    assert tokenizer_fingerprint(tokenizer) == plain
    tokenizer.add_tokens(["zzyzx"])
    assert tokenizer_fingerprint(tokenizer) != plain


def test_evaluations_per_epoch_follow_the_model_depth_unless_set():
    six, twelve = (SimpleNamespace(config=SimpleNamespace(num_hidden_layers=n)) for n in (6, 12))
    assert (evals_per_epoch(0, six), evals_per_epoch(0, twelve), evals_per_epoch(3, twelve)) == (2, 1, 3)


def test_tokenization_without_a_cache_folder_writes_nothing(tmp_path, base_dir, data, monkeypatch):
    train, _, _ = data
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))  # the caller's folder or none: never the environment's
    plain, hit = tokenize(train, tokenizer, 32, None)
    assert hit is False and plain["input_ids"] == tokenize(train, tokenizer, 32, tmp_path / "cache")[0]["input_ids"]
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_shared_run_missed_the_cache_then_others_hit(run):
    result, _ = run
    assert result.extra["tokenize_cache"] == {"train": "miss", "validation": "miss"}


def test_length_grouped_sampler_shuffles_and_groups():
    lengths = [random.Random(i).randint(3, 60) for i in range(400)]
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=0)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(400)) and first != second  # a new order every epoch
    assert list(LengthGroupedSampler(lengths, 8, seed=0)) == first  # same seed, same order
    batches = [first[i:i + 8] for i in range(0, 400, 8)]
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    random_spread = 57 * 7 / 9  # expected range of 8 uniform draws from 3..60
    assert spread < random_spread / 3


def test_bad_inputs_are_refused(tmp_path, settings, data):
    train, val, _ = data
    other_labels = TextDataset(val.texts, val.labels, ["neg", "pos"])
    with pytest.raises(LabInputError, match="labels"):
        train_classifier(TrainConfig(**FAST), train, other_labels, tmp_path / "x", settings=settings)
    with pytest.raises(LabInputError, match="log_with"):
        train_classifier(TrainConfig(**FAST), train, val, tmp_path / "x", settings=settings, log_with="wandb")
    one_class = TextDataset(["a", "b"], [0, 0], ["only"])
    with pytest.raises(LabInputError, match="two labels"):
        train_classifier(TrainConfig(**FAST), one_class, one_class, tmp_path / "x", settings=settings)
    assert not (tmp_path / "x").exists()


def test_overlapping_runs_share_one_precision(tmp_path):
    first, precision, _ = loop._acquire_accelerator("fp32", "fp32 as requested", None, tmp_path)
    try:
        second, precision2, note = loop._acquire_accelerator("bf16", "bf16 as requested", None, tmp_path)
        loop._release_accelerator(second)
    finally:
        loop._release_accelerator(first)
    assert (precision, precision2) == ("fp32", "fp32") and "another training run" in note
    alone, precision3, _ = loop._acquire_accelerator("bf16", "bf16 as requested", None, tmp_path)
    loop._release_accelerator(alone)
    assert precision3 == "bf16" and alone.mixed_precision == "bf16"  # no run active: the state was reset


def test_without_the_state_reset_a_later_run_keeps_the_first_precision_and_says_so(tmp_path, monkeypatch):
    import patches

    first, _, _ = loop._acquire_accelerator("bf16", "bf16 as requested", None, tmp_path)
    loop._release_accelerator(first)
    monkeypatch.setitem(patches.WRITTEN_FOR, "accelerate", ("0.1",))  # an accelerate the reset doesn't know
    later, precision, note = loop._acquire_accelerator("fp32", "fp32 as requested", None, tmp_path)
    loop._release_accelerator(later)
    assert precision == "bf16" and later.mixed_precision == "bf16" and "one precision per process" in note


def test_fused_adamw_gives_the_same_update_as_the_default():
    import torch

    from training.engine.loop import fused_adamw_ok

    torch.manual_seed(0)
    start = [torch.randn(50, 8), torch.randn(8)]
    grads = [torch.randn_like(t) for t in start]
    results = []
    for fused in (False, True):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=fused)
        for _ in range(3):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            optimizer.step()
        results.append([p.detach() for p in params])
    for plain, fused in zip(*results):
        assert torch.allclose(plain, fused, atol=1e-6)
    assert fused_adamw_ok(start) and not fused_adamw_ok([]) and not fused_adamw_ok([torch.zeros(2, dtype=torch.long)])


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, settings, data, cache_dir):
    """accelerate's save_state/load_state + the sampler's epoch + skip_first_batches: a run cancelled
    mid-epoch and resumed trains on the same batches with the same dropout masks as one that never
    stopped. Without held-out data each run keeps its last weights."""
    train, _, _ = data
    config = TrainConfig(epochs=2, **FAST)  # 8 steps an epoch
    whole = train_classifier(config, train, None, tmp_path / "whole", settings=settings, cache_dir=cache_dir,
                             long_run=loop.LongRun(checkpoint_minutes=60))
    assert whole.best_metrics["step"] == whole.extra["steps_done"] == 16 and whole.val_report == {}

    steps = []
    stopped = train_classifier(config, train, None, tmp_path / "split", settings=settings, cache_dir=cache_dir,
                               on_event=lambda e: steps.append(e.step) if e.kind == "step" else None,
                               should_stop=lambda: len(steps) >= 11, long_run=loop.LongRun(checkpoint_minutes=60))
    assert stopped.stopped_early == "cancelled" and stopped.extra["steps_done"] == 11
    assert (tmp_path / "split" / loop.CHECKPOINT / loop.LOOP_STATE).is_file()
    resumed = train_classifier(config, train, None, tmp_path / "split", settings=settings, cache_dir=cache_dir,
                               on_event=lambda e: steps.append(e.step) if e.kind == "step" else None,
                               long_run=loop.LongRun(checkpoint_minutes=60, resume=True))
    assert steps == list(range(1, 17)) and resumed.extra["steps_done"] == 16
    assert [h["step"] for h in resumed.history if h["kind"] == "eval"] == [11, 16]
    a, b = load_file(whole.best_dir / "model.safetensors"), load_file(resumed.best_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the checkpoint written at the end holds those last weights: a longer --resume goes on from them
    end = load_file(tmp_path / "whole" / loop.CHECKPOINT / "model.safetensors")
    assert end.keys() & a.keys() and all(torch.equal(end[k], a[k]) for k in end.keys() & a.keys())


def _ev(accuracy: float, val_loss: float, macro_f1: float | None = None) -> dict:
    return {"accuracy": accuracy, "macro_f1": accuracy if macro_f1 is None else macro_f1, "val_loss": val_loss}


def test_near_ties_within_one_validation_example_go_to_the_lower_validation_loss():
    from training.tasks.tasks import ClassificationTask

    task, n = ClassificationTask(["ham", "spam"]), 200  # one row: 0.005
    confident = _ev(0.975, 0.07)
    # one row better but unsure of everything (the class-weights run's epoch 0.5): the confident one is kept
    assert not loop.keeps(task, _ev(0.980, 0.52), confident, 0.975, n)
    assert loop.keeps(task, confident, _ev(0.980, 0.52), 0.980, n)
    # an exact tie: the lower loss
    assert loop.keeps(task, _ev(0.975, 0.05), confident, 0.975, n)
    assert not loop.keeps(task, _ev(0.975, 0.09), confident, 0.975, n)
    # two rows better is not luck: the task's rule (macro F1, then accuracy) decides, whatever the loss
    assert loop.keeps(task, _ev(0.985, 0.60), confident, 0.975, n)
    assert not loop.keeps(task, _ev(0.965, 0.01), confident, 0.975, n)
    # near the kept one but more than one row under the best score seen: no drifting down tie by tie
    assert not loop.keeps(task, _ev(0.970, 0.01, macro_f1=0.5), _ev(0.975, 0.07), 0.980, n)
    assert loop.keeps(task, _ev(0.9, 0.5), None, None, n)  # the first evaluation is kept


def test_a_task_without_a_tie_metric_keeps_its_own_rule():
    class LossOnly:
        tie_metric = None

        def is_better(self, metrics, best):
            return metrics["val_loss"] < best["val_loss"]

    assert loop.keeps(LossOnly(), {"val_loss": 1.0}, {"val_loss": 2.0}, None, 10)
    assert not loop.keeps(LossOnly(), {"val_loss": 3.0}, {"val_loss": 2.0}, None, 10)
