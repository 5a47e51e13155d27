"""Where the project's training time goes: forward, backward, optimizer, collation, tokenization, eval.

Runs the same training as ``bench.train_throughput`` (the project's ``train_classifier``, and by
default ``transformers.Trainer`` too, for contrast) with timers wrapped around each phase:

- forward: ``BertForSequenceClassification.forward`` in training mode;
- backward / clip: ``Accelerator.backward`` / ``Accelerator.clip_grad_norm_`` (both sides use them);
- optimizer: ``AcceleratedOptimizer.step`` and ``zero_grad``; scheduler: ``AcceleratedScheduler.step``;
- collation: ``DataCollatorWithPadding.__call__``;
- the project only: tokenization (``training.tasks.tasks.tokenize``), evaluation (``_predict``), checkpoint
  saving (``save_atomically``), model loading (``build_model``).

The rest of the training phase (Arrow row fetching, per-step events and logging, the loss, Python
overhead) is reported as "other". With ``--torch-profiler`` it also prints torch.profiler's top
operators by self CPU time for each side (the profiler slows the run down a little).

    python -m bench.profile_train
    python -m bench.profile_train --sides project --torch-profiler --train-size 320
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import add_sst2_training_args, begin, bench_parser, default_out, sst2_sample, table, write_results

TIMERS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(name: str, fn, only_training: bool = False):
    """``fn`` wrapped to add its wall time to TIMERS[name] (and mark it in torch.profiler)."""
    import torch

    def wrapper(*args, **kwargs):
        if only_training and not args[0].training:
            return fn(*args, **kwargs)
        t = time.perf_counter()
        with torch.profiler.record_function(f"bench::{name}"):
            try:
                return fn(*args, **kwargs)
            finally:
                TIMERS[name] += time.perf_counter() - t
                COUNTS[name] += 1

    wrapper.__wrapped__ = fn
    return wrapper


def install_timers() -> None:
    """Wrap the phases of a training step at class/module level (affects this process only)."""
    import accelerate
    import transformers
    from accelerate.optimizer import AcceleratedOptimizer
    from accelerate.scheduler import AcceleratedScheduler

    from training.engine import loop
    from training.tasks import tasks

    patches = [
        (transformers.BertForSequenceClassification, "forward", "forward", True),
        (accelerate.Accelerator, "backward", "backward", False),
        (accelerate.Accelerator, "clip_grad_norm_", "clip_grad_norm", False),
        (AcceleratedOptimizer, "step", "optimizer.step", False),
        (AcceleratedOptimizer, "zero_grad", "zero_grad", False),
        (AcceleratedScheduler, "step", "scheduler.step", False),
        (transformers.DataCollatorWithPadding, "__call__", "collation", False),
        (tasks, "tokenize", "tokenization (project)", False),
        (tasks, "_predict", "evaluation (project)", False),
        (loop, "save_atomically", "checkpoint save (project)", False),
        (tasks, "build_model", "model load (project)", False),
    ]
    for owner, attr, name, only_training in patches:
        setattr(owner, attr, timed(name, getattr(owner, attr), only_training))


STEP_PHASES = ["forward", "backward", "clip_grad_norm", "optimizer.step", "zero_grad", "scheduler.step", "collation"]
OUTSIDE = ["tokenization (project)", "evaluation (project)", "checkpoint save (project)", "model load (project)"]


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    add_sst2_training_args(parser, train_size=640, val_size=200)
    parser.add_argument("--sides", default="project,trainer",
                        help="Comma-separated: project (train_classifier) and/or trainer (transformers.Trainer).")
    parser.add_argument("--torch-profiler", action="store_true",
                        help="Also record torch.profiler and print the top operators by self CPU time.")
    parser.add_argument("--top", type=int, default=12, help="Operators to list with --torch-profiler.")
    parser.add_argument("--out", type=Path, default=default_out("profile_train"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    import datasets
    import torch
    import transformers

    from bench.train_throughput import run_project, run_trainer

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    install_timers()
    train, val = sst2_sample(args.train_size, args.val_size, seed=args.data_seed, min_words=args.min_words)
    print(f"data: {len(train)} train / {len(val)} validation SST-2 sentences, {args.epochs} epoch(s), "
          f"batch {args.batch_size}")

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    results: dict = {"benchmark": "profile_train", "machine": info,
                     "args": {k: str(v) for k, v in vars(args).items()}, "sides": {}}
    for side in sides:
        TIMERS.clear()
        COUNTS.clear()
        print(f"profiling {side} ...", flush=True)
        profiler = (torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                    if args.torch_profiler else contextlib.nullcontext())
        torch.manual_seed(args.seed)
        with tempfile.TemporaryDirectory(prefix=f"bench-profile-{side}-") as tmp, profiler:
            run = (run_project if side == "project" else run_trainer)(train, val, args, Path(tmp))
        phase_s = run["train_phase_s"]
        measured = sum(TIMERS[p] for p in STEP_PHASES)
        rows = [[p, TIMERS[p], 100 * TIMERS[p] / phase_s, COUNTS[p]] for p in STEP_PHASES]
        rows.append(["other (row fetch, events, loss, python)", phase_s - measured,
                     100 * (phase_s - measured) / phase_s, ""])
        rows.append(["= training phase", phase_s, 100.0, run["steps"]])
        outside = [[p, TIMERS[p], COUNTS[p]] for p in OUTSIDE if COUNTS[p]]
        print(f"\n{side}: {run['examples_per_s']:.1f} examples/s, precision {run['precision']}, "
              f"{run['padded_tokens']:,} padded tokens ({run['real_tokens']:,} real)")
        print(table(rows, ["phase", "seconds", "% of training phase", "calls"]))
        if outside:
            print(table(outside, ["outside the training phase", "seconds", "calls"]))
        top = []
        if args.torch_profiler:
            averages = profiler.key_averages()
            ops = sorted((e for e in averages if not e.key.startswith(("bench::", "ProfilerStep"))),
                         key=lambda e: -e.self_cpu_time_total)[:args.top]
            total_self = sum(e.self_cpu_time_total for e in averages) or 1
            top = [[e.key[:60], e.self_cpu_time_total / 1e6, 100 * e.self_cpu_time_total / total_self, e.count]
                   for e in ops]
            print(table(top, ["operator (self CPU)", "seconds", "% of all self CPU", "calls"]))
        results["sides"][side] = {
            "examples_per_s": run["examples_per_s"], "train_phase_s": phase_s, "precision": run["precision"],
            "phases_s": {p: TIMERS[p] for p in STEP_PHASES}, "other_s": phase_s - measured,
            "outside_s": {p: TIMERS[p] for p in OUTSIDE if COUNTS[p]}, "calls": dict(COUNTS),
            "padded_tokens": run["padded_tokens"], "real_tokens": run["real_tokens"], "steps": run["steps"],
            "top_ops": [{"op": r[0], "self_s": r[1], "share": r[2], "calls": r[3]} for r in top],
        }
    if {"project", "trainer"} <= set(results["sides"]):
        p, t = results["sides"]["project"], results["sides"]["trainer"]
        print("\nper-step seconds, project vs Trainer:")
        # The Trainer steps its raw scheduler and zeroes grads through the model: not timed there.
        rows = [[ph, p["phases_s"][ph] / p["steps"], t["phases_s"][ph] / t["steps"],
                 (p["phases_s"][ph] / t["phases_s"][ph]) * (t["steps"] / p["steps"]) if t["calls"].get(ph)
                 else "n/a (not timed)"]
                for ph in STEP_PHASES]
        rows.append(["other", p["other_s"] / p["steps"], t["other_s"] / t["steps"],
                     (p["other_s"] / p["steps"]) / max(t["other_s"] / t["steps"], 1e-9)])
        print(table(rows, ["phase", "project s/step", "Trainer s/step", "ratio"]))
        print(f"padded tokens per step: project {p['padded_tokens'] / p['steps']:.0f}, "
              f"Trainer {t['padded_tokens'] / t['steps']:.0f}")
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
