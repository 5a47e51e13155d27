"""The resumable LoRA loop the NER and QA recipes share.

It drives a ``training.tasks`` task adapter (features, collator, loss, evaluate, is_better: the
same code the Fine-tune tab trains with) in one process, with what a long background run on a
shared CPU needs and the tab's loop does not: a checkpoint every few minutes that a killed run
resumes from exactly (same batches, same step), and a wall-time limit counted across resumes.
Batches are length-grouped and a function of (seed, epoch) only, so resuming needs no sampler
state.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from transformers import get_scheduler

from training.loop import Features, _eval_loader
from training.recipes.common import (
    NO_DECAY,
    Clock,
    count_trainable,
    epoch_batches,
    hardware,
    load_checkpoint,
    save_checkpoint,
    trainable_state,
)
from training.strategies import ALL_LINEAR_TARGETS, add_lora, merged_copy


def add_run_args(p: argparse.ArgumentParser, *, threads: int = 1) -> None:
    """The flags of every long recipe run: where it writes, resuming, checkpoints, time and threads."""
    p.add_argument("--output", type=Path, required=True, help="Run folder: checkpoint, best/, metrics.json.")
    p.add_argument("--resume", action="store_true", help="Continue from OUTPUT/checkpoint.pt if it exists.")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0, help="Write a resumable checkpoint this often.")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="Stop after this much wall time in all (resumed runs included), keep the best; 0 = no limit.")
    p.add_argument("--threads", type=int, default=threads,
                   help="torch CPU threads. 1 is fastest on a busy 2-core machine (measured 5x faster than 2 under "
                        "load: no spinning OpenMP barriers); raise it on an idle one.")


def add_loop_args(p: argparse.ArgumentParser, *, epochs: float, batch_size: int, lr: float, lora_r: int,
                  max_length: int, evals_per_epoch: int) -> None:
    """The flags every runner recipe has, with the recipe's own defaults."""
    add_run_args(p)
    p.add_argument("--epochs", type=float, default=epochs, help="Passes over the training split.")
    p.add_argument("--batch-size", type=int, default=batch_size, help="Examples (QA: windows) per optimizer step.")
    p.add_argument("--lr", type=float, default=lr, help="Peak AdamW learning rate (LoRA likes ~10x full FT's).")
    p.add_argument("--warmup-ratio", type=float, default=0.06, help="Share of steps with a rising learning rate.")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (not on biases/LayerNorm).")
    p.add_argument("--lora-r", type=int, default=lora_r,
                   help="Rank of the LoRA adapters (every linear layer); 0 trains the blocks in full.")
    p.add_argument("--max-length", type=int, default=max_length, help="Tokens per example (QA: per window).")
    p.add_argument("--seed", type=int, default=42, help="Seed of the split, the head's init, LoRA's and the data order.")
    p.add_argument("--evals-per-epoch", type=int, default=evals_per_epoch,
                   help="Validation scores (and best-so-far kept) per epoch.")
    p.add_argument("--max-steps", type=int, default=0, help="Stop after N steps (timing); 0 = no limit.")


@dataclass
class RunOutcome:
    """What the recipe writes into metrics.json and the model card."""

    best: dict  # the best evaluation: step, epoch, the task's metrics, seconds
    history: list[dict]
    steps_done: int
    total_steps: int
    stopped_early: str | None
    seconds: float
    trainable_params: int
    total_params: int
    merged: object = field(repr=False, default=None)  # the best weights, LoRA merged: a plain model


def setup(args: argparse.Namespace) -> None:
    """What every runner recipe does first: log lines with times, its thread count, its run folder."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    args.output.mkdir(parents=True, exist_ok=True)


def evaluate_split(task, model, tokenizer, data, max_length: int, batch_size: int):
    """``task.evaluate`` of ``model`` on ``data`` in one process: the scoring the tab's loop runs."""
    feats = task.features(data, tokenizer, max_length, None, training=False)
    loader, order = _eval_loader(feats.dataset, task.collator(tokenizer), batch_size)
    return task.evaluate(model, loader, order, feats, data, Accelerator(mixed_precision="no"))


def outcome_metrics(outcome: RunOutcome, args: argparse.Namespace) -> dict:
    """The metrics.json entries every runner recipe writes (the task's own scores come first)."""
    return {
        "best": outcome.best, "best_step": outcome.best["step"], "steps_done": outcome.steps_done,
        "total_steps": outcome.total_steps, "stopped_early": outcome.stopped_early,
        "trainable_params": outcome.trainable_params, "total_params": outcome.total_params,
        "lora_r": args.lora_r, "seconds": outcome.seconds, "hardware": hardware(),
        "args": vars(args) | {"data_dir": str(args.data_dir), "output": str(args.output)},
        "history": outcome.history,
    }


def _rows(features: Features) -> list[dict]:
    return features.dataset.to_list()


def train_lora(task, model, tokenizer, train_feats: Features, val_feats: Features | None, val_data, head: list[str],
               args: argparse.Namespace, log: logging.Logger) -> RunOutcome:
    """Train ``model`` with LoRA on every block (+ the modules named in ``head`` in full), resumably;
    with ``--lora-r 0``, only the modules in ``head``, in full.

    Keeps the weights of the best validation score (``task.is_better``) and returns them merged.
    Without validation data (``val_feats`` None: a final run on all the data, its schedule chosen
    by an earlier run that held some out) it keeps the last weights.
    """
    if args.lora_r:
        add_lora(model, args.lora_r, targets=ALL_LINEAR_TARGETS)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
    for name in head:  # the new head trains in full
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    log.info("trainable parameters: %d of %d", count_trainable(model), sum(p.numel() for p in model.parameters()))

    rows = _rows(train_feats)
    lengths = [len(r["input_ids"]) for r in rows]
    steps_per_epoch = math.ceil(len(rows) / args.batch_size)
    total_steps = max(1, math.ceil(args.epochs * steps_per_epoch))
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    model, optimizer, scheduler, accelerator = prepare(model, args, total_steps)
    collator = task.collator(tokenizer)
    if val_feats is not None:
        val_loader, val_order = _eval_loader(val_feats.dataset, collator, 2 * args.batch_size)

    def loss(batch_rows: list[int], step: int) -> torch.Tensor:
        batch = {k: v.to(accelerator.device) for k, v in collator([rows[i] for i in batch_rows]).items()}
        return task.loss(model, batch, None)[0]

    def evaluate() -> dict:
        if val_feats is None:
            return {}
        evaluation = task.evaluate(model, val_loader, val_order, val_feats, val_data, accelerator)
        return {"val_loss": evaluation.loss, **evaluation.metrics}

    return resumable_loop(
        model, optimizer, scheduler, accelerator, args, log, total_steps=total_steps,
        steps_per_epoch=steps_per_epoch, epoch_batches=lambda epoch: epoch_batches(
            lengths, args.batch_size, args.seed, epoch), loss=loss, evaluate=evaluate,
        is_better=task.is_better if val_feats is not None else lambda row, best: True,
        describe=lambda row: ", ".join(f"{k} {row[k]:.4f}" for k in row if k not in ("step", "epoch", "seconds")),
        eval_every=max(1, steps_per_epoch // args.evals_per_epoch))


def prepare(model, args: argparse.Namespace, total_steps: int, param_groups: list[dict] | None = None):
    """AdamW (no decay on biases and LayerNorm, as transformers' examples), a linear schedule with
    warm-up, all through accelerate: ``(model, optimizer, scheduler, accelerator)``."""
    if param_groups is None:
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        param_groups = [
            {"params": [p for n, p in params if not any(nd in n for nd in NO_DECAY)],
             "weight_decay": args.weight_decay},
            {"params": [p for n, p in params if any(nd in n for nd in NO_DECAY)], "weight_decay": 0.0},
        ]
    optimizer = torch.optim.AdamW(param_groups, lr=args.lr)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=round(args.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    # fp32 on every CPU: a shipped head and its card reproduce whichever machine runs the recipe.
    accelerator = Accelerator(mixed_precision="no")
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    return model, optimizer, scheduler, accelerator


def resumable_loop(model, optimizer, scheduler, accelerator, args: argparse.Namespace, log: logging.Logger, *,
                   total_steps: int, steps_per_epoch: int, epoch_batches: Callable[[int], Sequence],
                   loss: Callable[[object, int], torch.Tensor], evaluate: Callable[[], dict],
                   is_better: Callable[[dict, dict | None], bool], describe: Callable[[dict], str],
                   eval_every: int, log_every: int = 50, evaluate_first: bool = False) -> RunOutcome:
    """The training loop every recipe runs: resumable from ``args.output``, best weights kept.

    ``epoch_batches(epoch)`` lists an epoch's batches, a function of (seed, epoch) only, so a
    resumed run skips straight to its step; ``loss(batch, step)`` is one batch's training loss;
    ``evaluate()`` scores the model on held-out data (a dict, kept in the history with the step,
    epoch and seconds); ``is_better(row, best)`` decides which weights are kept; ``describe(row)``
    is its log line. Stops at ``total_steps`` or ``args.max_minutes`` of wall time counted across
    resumes, writes a checkpoint every ``args.checkpoint_minutes`` and at the end, and returns
    the best weights with LoRA merged.
    """
    output: Path = args.output
    step, best, history, before, best_state = 0, None, [], 0.0, None
    ckpt = load_checkpoint(output) if args.resume else None
    if ckpt is not None:
        model.load_state_dict(ckpt["trainable"], strict=False)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, best, history, before, best_state = (ckpt[k] for k in ("step", "best", "history", "seconds",
                                                                     "best_state"))
        if "rng" in ckpt:  # a checkpoint written without RNG state resumes with fresh RNGs
            torch.set_rng_state(ckpt["rng"])
        log.info("resumed at step %d of %d (%.0f s already spent)", step, total_steps, before)
    clock = Clock(before)
    last_ckpt = clock.elapsed

    def checkpoint() -> None:
        save_checkpoint(output, {
            "trainable": trainable_state(accelerator.unwrap_model(model)), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "step": step, "best": best, "best_state": best_state,
            "history": history, "seconds": clock.elapsed, "rng": torch.get_rng_state(),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}})

    def run_evaluation() -> None:
        nonlocal best, best_state
        history.append({"step": step, "epoch": step / steps_per_epoch, **evaluate(), "seconds": clock.elapsed})
        if is_better(history[-1], best):
            best, best_state = history[-1], trainable_state(accelerator.unwrap_model(model))
        model.train()
        log.info("eval step %d: %s | best at step %d", step, describe(history[-1]), best["step"])

    if evaluate_first and step == 0:
        run_evaluation()  # the starting point, e.g. a fresh head over the pre-trained encoder
    model.train()
    running, stop = [], None
    while step < total_steps and stop is None:
        epoch, skip = divmod(step, steps_per_epoch)
        for batch in epoch_batches(epoch)[skip:]:
            batch_loss = loss(batch, step)
            accelerator.backward(batch_loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            running.append(batch_loss.item())
            if step % log_every == 0:
                rate = clock.elapsed / max(1, step)
                log.info("step %d/%d loss %.4f lr %.2e | %.2f s/step, ~%.0f min left", step, total_steps,
                         np.mean(running), scheduler.get_last_lr()[0], rate, rate * (total_steps - step) / 60)
                running = []
            if step % eval_every == 0 or step == total_steps:
                run_evaluation()
            if clock.elapsed - last_ckpt > args.checkpoint_minutes * 60:
                checkpoint()
                last_ckpt = clock.elapsed
            if args.max_minutes and clock.elapsed > args.max_minutes * 60:
                stop = "time limit"
            if step >= total_steps or stop:
                break
    if not history or history[-1]["step"] != step:
        run_evaluation()
    checkpoint()

    final = accelerator.unwrap_model(model)
    final.load_state_dict(best_state, strict=False)
    return RunOutcome(best, history, step, total_steps, stop, clock.elapsed, count_trainable(final),
                      sum(p.numel() for p in final.parameters()), merged_copy(final))
