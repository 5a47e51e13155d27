"""Feature extraction, the lectures' third way: encode the data once with the frozen encoder, then
train only a new linear head on the vectors.

The vectors are what BERT's sequence classifier feeds its head: the pooler's output (dense + tanh
on the [CLS] vector). They are cached per (texts, base model, max length) in training/transfer/features.py,
so a class training on the same sample encodes it once. The head is scikit-learn's logistic
regression on standardised vectors, fitted in well under a second; the standardisation is folded
into its weights, which become the ``classifier`` layer of a plain ``BertForSequenceClassification``,
saved like any other run's best checkpoint. So the model the Classification tab loads gives the
head's answers (to float rounding: the cached vectors are float16), with no code of ours at inference.

A run obeys Cancel and ``config.max_train_minutes`` as a fine-tuning run does, checked between
encoding batches and between rounds of the regression's solver. It keeps nothing until its head is
fitted, so a stopped run raises ``RunStopped`` (saying where it stopped) and leaves no model behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import Settings
from training.config import TrainConfig
from training.data.data import TextDataset
from training.engine.loop import BEST, METRICS_FILE, ProgressEvent, TrainResult, save_atomically, write_run_metrics
from training.engine.models import build_model, resolve_base_model
from training.tasks.metrics import classification_report
from training.tasks.tasks import misclassified
from training.transfer import features
from training.transfer.transfer import fit_probe


class RunStopped(LabInputError):
    """A features run stopped by Cancel or the time limit before its head was fitted: nothing was kept."""

    def __init__(self, message, reason: str):
        super().__init__(message)
        self.reason = reason  # "cancelled" | "time limit", as TrainResult.stopped_early says it

    def __reduce__(self):  # to the server from a training worker, message and reason intact
        return RunStopped, (self.args[0], self.reason)


def fit_head(train_x: np.ndarray, train_y: list[int], num_labels: int, class_weights: bool, seed: int,
             check: Callable[[], None] | None = None):
    """(weight (num_labels, hidden), bias (num_labels,)) giving the probe's logits on raw vectors: the
    transfer views' logistic regression (training.transfer.transfer.fit_probe), its scaler folded into the weights.

    ``check()`` is called between rounds of the solver (it raises to stop the fit)."""
    scaler, probe = fit_probe(train_x, train_y, seed, class_weights, check or (lambda: None)).steps
    scaler, probe = scaler[1], probe[1]
    coef, intercept = probe.coef_, probe.intercept_  # (k or 1, hidden), (k or 1,)
    # w·((x - mean) / scale) + b == (w / scale)·x + (b - w·(mean / scale))
    weight = coef / scaler.scale_
    bias = intercept - coef @ (scaler.mean_ / scaler.scale_)
    full_w = np.zeros((num_labels, train_x.shape[1]))
    full_b = np.zeros(num_labels)
    present = probe.classes_
    if len(present) == 2 and coef.shape[0] == 1:  # binary: one score s, softmax([0, s]) == sigmoid(s)
        full_w[present[1]], full_b[present[1]] = weight[0], bias[0]
    else:
        full_w[present], full_b[present] = weight, bias
    # a class missing from the training rows never wins
    missing = [c for c in range(num_labels) if c not in set(present)]
    full_b[missing] = -1e4
    return full_w, full_b


def train_feature_head(config: TrainConfig, train: TextDataset, val: TextDataset, output_dir: str | Path,
                       test: TextDataset | None = None, on_event: Callable | None = None,
                       should_stop: Callable[[], bool] | None = None, settings: Settings | None = None,
                       hub_online: bool | None = None) -> TrainResult:
    """Frozen encoder + logistic-regression head; the same files and result as a fine-tuning run.

    ``should_stop`` (Cancel) and ``config.max_train_minutes`` are checked between encoding batches
    and solver rounds; a stopped run raises ``RunStopped`` before anything is saved."""
    started = time.perf_counter()
    deadline = started + config.max_train_minutes * 60
    stage = [msg("msg.training.feature_head.stage.fitting")]

    def check() -> None:
        if should_stop is not None and should_stop():
            raise RunStopped(msg("msg.training.feature_head.cancelled", stage=stage[0]), "cancelled")
        if time.perf_counter() > deadline:
            raise RunStopped(msg("msg.training.feature_head.time_limit", stage=stage[0],
                                 minutes=f"{config.max_train_minutes:g}"), "time limit")

    def on_batch(done: int, total: int) -> None:
        stage[0] = msg("msg.training.feature_head.stage.encoding", done=f"{done:,}", total=f"{total:,}")
        check()

    settings = settings or Settings()  # the host's come from the caller; these are the defaults
    output_dir = Path(output_dir)
    source, display = resolve_base_model(config, settings, hub_online)
    model = build_model(source, train.label_names, from_scratch=False, seed=config.seed).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    cache = features.FeatureCache(Path(settings.cache_dir) / "features")

    def encode(part: TextDataset) -> tuple[np.ndarray, bool]:
        vectors, hit = features.vectors(cache, model, tokenizer, f"pooler:{source}", source, part.texts,
                                        config.max_length, "pooler", on_batch=on_batch)
        return vectors[-1].astype(np.float32), hit

    (train_x, train_hit), (val_x, val_hit) = encode(train), encode(val)
    test_x = encode(test)[0] if test is not None else None  # before the head: a stop after it would waste it
    encoded = time.perf_counter()
    k = len(train.label_names)
    stage[0] = msg("msg.training.feature_head.stage.fitting")
    weight, bias = fit_head(train_x, train.labels, k, config.class_weights, config.seed, check)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=model.classifier.weight.dtype))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=model.classifier.bias.dtype))

    def probabilities(x: np.ndarray) -> np.ndarray:
        logits = x @ weight.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    val_probs = probabilities(val_x)
    report = classification_report(val.labels, val_probs.argmax(1).tolist(), train.label_names)
    eps = 1e-12
    val_loss = float(-np.mean(np.log(val_probs[np.arange(len(val)), val.labels] + eps)))
    best = {"step": 1, "epoch": 1.0, "val_loss": val_loss, "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"]}
    history = [asdict(ProgressEvent("eval", 1, 1, 1.0, elapsed_s=time.perf_counter() - started, eta_s=0.0,
                                    metrics={**best, "is_best": True}))]
    if on_event is not None:
        on_event(ProgressEvent(**history[0]))
    best_dir = save_atomically(model, tokenizer, output_dir / BEST)
    test_report = None
    if test is not None:
        test_probs = probabilities(test_x)
        test_report = classification_report(test.labels, test_probs.argmax(1).tolist(), train.label_names)
    seconds = time.perf_counter() - started
    total = sum(p.numel() for p in model.parameters())
    trainable = model.classifier.weight.numel() + model.classifier.bias.numel()
    extra = {"task": "classification", "base_model": display, "base_model_source": source, "strategy": "features",
             "feature_cache": {"train": "hit" if train_hit else "miss", "validation": "hit" if val_hit else "miss"},
             "timings": {"encode_s": encoded - started, "total_s": seconds}}
    mistakes = misclassified(val, val_probs)
    result = TrainResult(output_dir, best_dir, history, best, {**report, "val_loss": val_loss}, test_report,
                         mistakes, None, trainable, total, seconds, len(train) / max(seconds, 1e-9), "fp32",
                         None, "the head is fitted in fp32", output_dir / METRICS_FILE, extra)
    write_run_metrics(output_dir, {
        "config": asdict(config), "labels": train.label_names, "best_metrics": best, "val_report": result.val_report,
        "test_report": test_report, "misclassified": mistakes, "trainable_params": trainable,
        "total_params": total, "precision": "fp32", "seconds": seconds, **extra, "history": history,
    })
    done = {**best, **({"test_accuracy": test_report["accuracy"]} if test_report else {})}
    if on_event is not None:
        on_event(ProgressEvent("done", 1, 1, 1.0, elapsed_s=seconds, eta_s=0.0, metrics=done))
    return result
