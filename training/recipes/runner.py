"""How a recipe runs the one training loop (``training.engine.loop.run_task``) for an hour in the background.

A recipe builds its model and chooses what trains (``training.engine.strategies.train_in_part``), then
hands it to the loop with a ``LongRun``: a resumable checkpoint every few minutes (accelerate's
``save_state``; ``--resume`` goes on from it with the same batches, masks and schedule), a wall
time limit counted across resumes, fp32 on every CPU (a head and its card reproduce on whichever
machine runs the recipe), and log lines instead of the tab's live curves. The run folder holds
what a run from the tab or the CLI holds (``best/``, ``metrics.json``, the checkpoint), and the
recipe adds its own scores to ``metrics.json``. What the recipes share besides the loop lives here
too: where their data is (``DEFAULT_DATA_DIR``) and the hardware line of a model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from lab.settings import Settings
from training.config import TrainConfig
from training.engine.loop import (
    METRICS_FILE,
    LongRun,
    ProgressEvent,
    TrainResult,
    _eval_loader,
    run_task,
    write_run_metrics,
)

NO_LIMIT_MINUTES = 24 * 60  # TrainConfig's longest limit: "no limit" for a recipe
DEFAULT_DATA_DIR = Settings.shared_data_dir  # ../shared/data beside the checkout


def hardware() -> str:
    """A one-line description of where a run trained, for the model card."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads, at nice {os.nice(0)}")


def add_run_args(p: argparse.ArgumentParser, *, threads: int = 1) -> None:
    """The flags of every long recipe run: where it writes, resuming, checkpoints, time and threads."""
    p.add_argument("--output", type=Path, required=True, help="Run folder: checkpoint/, best/, metrics.json.")
    p.add_argument("--resume", action="store_true", help="Continue from OUTPUT/checkpoint if it exists.")
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


def setup(args: argparse.Namespace) -> None:
    """What every runner recipe does first: log lines with times, its thread count, its run folder."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    args.output.mkdir(parents=True, exist_ok=True)


def run_recipe(task, model, train_data, val_data, args: argparse.Namespace, log: logging.Logger, *,
          describe: Callable[[dict], str] | None = None, log_every: int = 50, **long_run) -> TrainResult:
    """``model`` (its trainable parts chosen) trained on ``train_data`` by the loop, resumably.

    Keeps the weights of the best score on ``val_data`` (``task.is_better``) in OUTPUT/best;
    without ``val_data`` (None: a final run on all the data, its schedule chosen by an earlier
    run that held some out) the last weights. ``long_run`` are ``LongRun``'s other fields.
    """
    config = TrainConfig(
        learning_rate=args.lr, batch_size=args.batch_size, epochs=getattr(args, "epochs", 50.0),
        max_length=getattr(args, "max_length", getattr(args, "block", 128)), warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, seed=args.seed, evals_per_epoch=getattr(args, "evals_per_epoch", 1),
        precision="fp32", max_train_minutes=args.max_minutes or NO_LIMIT_MINUTES)
    log.info("trainable parameters: %d of %d", sum(p.numel() for p in model.parameters() if p.requires_grad),
             sum(p.numel() for p in model.parameters()))
    return run_task(task, config, train_data, val_data, args.output, on_event=event_logger(log, describe, log_every),
                    settings=Settings.from_env(), hub_online=False, long_run=LongRun(
                        model=model, max_steps=args.max_steps, checkpoint_minutes=args.checkpoint_minutes,
                        resume=args.resume, **long_run))


def event_logger(log: logging.Logger, describe: Callable[[dict], str] | None, every: int):
    """The loop's events as log lines: the mean loss every ``every`` steps, each evaluation."""
    losses: list[float] = []

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "step":
            losses.append(event.loss)
            if event.step % every == 0:
                log.info("step %d/%d loss %.4f lr %.2e | ~%.0f min left", event.step, event.total_steps,
                         np.mean(losses), event.lr, (event.eta_s or 0) / 60)
                losses.clear()
        elif event.kind == "eval":
            row = {k: v for k, v in event.metrics.items() if k != "is_best"}
            text = describe(row) if describe else ", ".join(f"{k} {v:.4f}" for k, v in row.items())
            log.info("eval step %d: %s%s", event.step, text or "no held-out data", " | best so far"
                     if event.metrics["is_best"] else "")

    return on_event


def evaluations(result: TrainResult) -> list[dict]:
    """The run's evaluations as rows: step, epoch, the task's metrics, seconds."""
    return [{"step": e["step"], "epoch": e["epoch"], **{k: v for k, v in e["metrics"].items() if k != "is_best"},
             "seconds": e["elapsed_s"]} for e in result.history if e["kind"] == "eval"]


def write_metrics(result: TrainResult, args: argparse.Namespace, recipe: dict) -> dict:
    """metrics.json: the loop's, the recipe's own scores, and what the model card quotes."""
    history = evaluations(result)
    best = next(h for h in history if h["step"] == result.best_metrics["step"])
    metrics = {
        **recipe, "best": best, "best_step": best["step"], "steps_done": result.extra["steps_done"],
        "total_steps": result.extra["total_steps"], "stopped_early": result.stopped_early,
        "trainable_params": result.trainable_params, "total_params": result.total_params,
        "lora_r": getattr(args, "lora_r", None), "seconds": result.seconds, "hardware": hardware(),
        "args": vars(args) | {k: str(v) for k, v in vars(args).items() if isinstance(v, Path)},
        "history": history,
    }
    loop_metrics = json.loads((args.output / METRICS_FILE).read_text())
    loop_metrics["events"] = loop_metrics.pop("history")  # every step's loss; "history" is the evaluations
    write_run_metrics(args.output, {**loop_metrics, **metrics})
    return metrics


def evaluate_split(task, model, tokenizer, data, max_length: int, batch_size: int):
    """``task.evaluate`` of ``model`` on ``data`` in one process: the scoring the loop runs."""
    feats = task.features(data, tokenizer, max_length, None, training=False)
    loader, order = _eval_loader(feats.dataset, task.collator(tokenizer), batch_size)
    return task.evaluate(model, loader, order, feats, data, Accelerator(mixed_precision="no"))
