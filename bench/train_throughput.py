"""Training throughput: the project's ``train_classifier`` vs ``transformers.Trainer``, in one run.

Same model (the embedded all-MiniLM-L6-v2 with a new 2-label head, full fine-tuning), the same
SST-2 sentences from ../shared/data, the same batch size, epochs and seed. Two Trainers:

- the tuned Trainer, what a skilled user runs: length-grouped batches
  (``train_sampling_strategy="group_by_length"``) and, on a CPU with native bf16 (lab/machine.py),
  ``bf16=True, use_cpu=True``. The ratio that counts is against this one.
- the default Trainer: ``TrainingArguments`` with only output_dir, batch size, epochs and seed.

Both use ``DataCollatorWithPadding``; the project runs with ``TrainConfig`` defaults. Each side's
own hyper-parameter defaults are kept and printed (warm-up, weight decay, optimizer differ).

Throughput is examples/s of the *training phase*: data loading and collation, forward, backward,
clipping, optimizer and scheduler steps, per-step logging; not model loading, tokenization,
evaluation or checkpoint saving (the project's loop evaluates and saves during training: that
time is subtracted, and reported). The achieved FLOP/s is compared with this CPU's matmul peak,
measured in the same run, in fp32 and bf16.

    python -m bench.train_throughput                  # 2,000 train / 500 validation, 1 epoch, batch 16, 2 repeats
    python -m bench.train_throughput --repeats 3 --train-size 2000
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    TrainingFlopCounter,
    add_sst2_training_args,
    begin,
    bench_parser,
    default_out,
    matmul_peak,
    median,
    sst2_sample,
    table,
    write_results,
)


def run_project(train, val, args, workdir: Path) -> dict:
    """One ``train_classifier`` run; the training phase timed from its own progress events."""
    from lab.settings import Settings
    from training.config import TrainConfig
    from training.tasks import tasks

    counter = TrainingFlopCounter()
    original_build = tasks.build_model

    def build_and_count(*a, **kw):  # attach the FLOP counter to the model the loop builds
        model = original_build(*a, **kw)
        counter.attach(model)
        return model

    stamps: list[tuple[str, int, float]] = []  # (kind, step, perf_counter) as each event arrives

    def on_event(event) -> None:
        stamps.append((event.kind, event.step, time.perf_counter()))

    config = TrainConfig(batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                         max_length=args.max_length, precision=args.precision)
    tasks.build_model = build_and_count
    try:
        t0 = time.perf_counter()
        result = tasks.train_classifier(config, train, val, workdir / "project", on_event=on_event,
                                        settings=Settings(offline=True), cache_dir=workdir / "cache",
                                        hub_online=False)
        total_s = time.perf_counter() - t0
    finally:
        tasks.build_model = original_build

    # An eval event arrives after the evaluation (and any checkpoint save) that followed the step
    # event of the same step: the gap between the two is time spent outside training.
    step_time = {step: t for kind, step, t in stamps if kind == "step"}
    evals_inside = [t - step_time[step] for kind, step, t in stamps
                    if kind == "eval" and step in step_time and step < max(step_time)]
    last_step = [e for e in result.history if e["kind"] == "step"][-1]
    train_phase_s = last_step["elapsed_s"] - sum(evals_inside)
    evals = [e for e in result.history if e["kind"] == "eval"]
    timings = result.extra["timings"]
    return {
        "precision": result.precision,
        "precision_note": result.precision_note,
        "examples": len(train) * args.epochs,
        "train_phase_s": train_phase_s,
        "examples_per_s": len(train) * args.epochs / train_phase_s,
        "loop_reported_examples_per_s": result.examples_per_second,  # step compute only, no data loading
        "end_to_end_s": total_s,
        "timings": timings,
        "accuracy_best": result.best_metrics["accuracy"],
        "accuracy_last": evals[-1]["metrics"]["accuracy"],
        "evaluations": len(evals),
        "flops": counter.flops,
        "useful_flops": counter.useful_flops,
        "padded_tokens": counter.tokens,
        "real_tokens": counter.real_tokens,
        "steps": counter.forwards,
        "hyperparameters": {"learning_rate": config.learning_rate, "warmup": config.warmup_ratio,
                            "weight_decay": config.weight_decay, "optimizer": "torch.optim.AdamW (default impl)",
                            "padding": "dynamic, pad_to_multiple_of=8, length-grouped batches",
                            "max_length": config.max_length},
    }


def run_tuned_trainer(train, val, args, workdir: Path) -> dict:
    """The Trainer as a skilled user sets it up: length-grouped batches, bf16 where the CPU has it."""
    import torch

    from lab import machine as lab_machine
    from lab.settings import Settings

    bf16 = lab_machine.native_bf16(Settings.from_env().cpu_bf16) if args.precision == "auto" else args.precision == "bf16"
    return run_trainer(train, val, args, workdir, train_sampling_strategy="group_by_length", bf16=bf16,
                       use_cpu=not torch.cuda.is_available())


def run_trainer(train, val, args, workdir: Path, **tuning) -> dict:
    """One ``Trainer.train()`` with default TrainingArguments (plus ``tuning``), then ``evaluate()``."""
    import numpy as np
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from lab.registry import embedded_encoder_dir

    t0 = time.perf_counter()
    source = embedded_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(source)
    names = train.label_names
    set_seed(args.seed)  # the new head's initialisation, as the project's build_model does
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, use_safetensors=True)
    counter = TrainingFlopCounter()
    counter.attach(model)

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=args.max_length)

    def dataset(part):
        raw = Dataset.from_dict({"text": part.texts, "labels": part.labels})
        return raw.map(encode, batched=True, remove_columns=["text"])

    train_ds, val_ds = dataset(train), dataset(val)

    def accuracy(prediction):
        return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}

    # Defaults but for the run's shape and ``tuning``; disable_tqdm only keeps the progress bar out of the table.
    training_args = TrainingArguments(output_dir=str(workdir / "trainer"), per_device_train_batch_size=args.batch_size,
                                      num_train_epochs=args.epochs, seed=args.seed, disable_tqdm=True, **tuning)
    trainer = Trainer(model=model, args=training_args, train_dataset=train_ds, eval_dataset=val_ds,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_metrics=accuracy)
    output = trainer.train()
    metrics = trainer.evaluate()
    total_s = time.perf_counter() - t0
    runtime = output.metrics["train_runtime"]
    return {
        "precision": "bf16" if training_args.bf16 else ("fp16" if training_args.fp16 else "fp32"),
        "examples": len(train) * args.epochs,
        "train_phase_s": runtime,
        "examples_per_s": output.metrics["train_samples_per_second"],
        "end_to_end_s": total_s,
        "accuracy_best": metrics["eval_accuracy"],
        "accuracy_last": metrics["eval_accuracy"],
        "evaluations": 1,
        "flops": counter.flops,
        "useful_flops": counter.useful_flops,
        "padded_tokens": counter.tokens,
        "real_tokens": counter.real_tokens,
        "steps": counter.forwards,
        "hyperparameters": {"learning_rate": training_args.learning_rate,
                            "warmup": getattr(training_args, "warmup_ratio", None) or training_args.warmup_steps,
                            "weight_decay": training_args.weight_decay, "optimizer": str(training_args.optim),
                            "padding": "dynamic (DataCollatorWithPadding defaults), "
                                       + ("length-grouped" if tuning.get("train_sampling_strategy") else "random")
                                       + " batches",
                            "max_length": args.max_length},
    }


# Each side of the comparison; runs alternate their order between repeats.
SIDES = {"project": run_project, "trainer_tuned": run_tuned_trainer, "trainer": run_trainer}


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    add_sst2_training_args(parser, train_size=2000, val_size=500)
    parser.add_argument("--warmup", type=int, default=96,
                        help="Sentences of an untimed warm-up run of each side first (0: none). The first "
                             "training in a process runs up to 2x slower (allocator growth, oneDNN kernel "
                             "caches): without a warm-up whichever side goes first loses.")
    parser.add_argument("--repeats", type=int, default=2,
                        help="Runs of each side, alternating which goes first; medians are reported.")
    parser.add_argument("--peak-seconds", type=float, default=1.5, help="Seconds per matmul-peak case.")
    parser.add_argument("--out", type=Path, default=default_out("train_throughput"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()

    train, val = sst2_sample(args.train_size, args.val_size, seed=args.data_seed, min_words=args.min_words)
    print(f"data: {len(train)} train / {len(val)} validation SST-2 sentences (>= {args.min_words} words), "
          f"{args.epochs} epoch(s), batch {args.batch_size}, seed {args.seed}")

    print("measuring the matmul peak (fp32, bf16) ...", flush=True)
    peaks = matmul_peak(seconds_per_case=args.peak_seconds)
    peak_name = max(peaks, key=lambda k: peaks[k]["peak_flops"])
    peak = peaks[peak_name]["peak_flops"]

    if args.warmup:
        print(f"warm-up: both sides on {args.warmup} sentences (not timed) ...", flush=True)
        small_train, small_val = train.subset(list(range(args.warmup))), val.subset(list(range(32)))
        for fn in SIDES.values():
            with tempfile.TemporaryDirectory(prefix="bench-warmup-") as tmp:
                fn(small_train, small_val, args, Path(tmp))

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for r in range(args.repeats):
        order = list(SIDES) if r % 2 == 0 else list(SIDES)[::-1]  # alternate who goes first
        for side in order:
            print(f"run {r + 1}/{args.repeats}: {side} ...", flush=True)
            torch.manual_seed(args.seed)
            with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
                runs[side].append(SIDES[side](train, val, args, Path(tmp)))

    def med(side: str, key: str) -> float:
        return median([run[key] for run in runs[side]])

    summary = {}
    for side in runs:
        s = {key: med(side, key) for key in ("examples_per_s", "train_phase_s", "end_to_end_s",
                                              "accuracy_best", "accuracy_last")}
        first = runs[side][0]
        s["precision"] = first["precision"]
        s["flops_per_s"] = first["flops"] / first["train_phase_s"]
        s["useful_flops_per_s"] = first["useful_flops"] / first["train_phase_s"]
        s["fraction_of_peak"] = s["flops_per_s"] / peak
        s["padded_tokens"], s["real_tokens"] = first["padded_tokens"], first["real_tokens"]
        summary[side] = s
    p = summary["project"]
    ratios = {}
    for side in ("trainer_tuned", "trainer"):
        t = summary[side]
        ratios[side] = {
            "examples_per_s": p["examples_per_s"] / t["examples_per_s"],
            "end_to_end": t["end_to_end_s"] / p["end_to_end_s"],
            "accuracy_points_best": 100 * (p["accuracy_best"] - t["accuracy_best"]),
            "accuracy_points_last": 100 * (p["accuracy_last"] - t["accuracy_last"]),
            "padded_tokens": p["padded_tokens"] / t["padded_tokens"],
        }

    print("\nmatmul peak of this CPU (best call, GFLOP/s):")
    print(table([[name, f"{c['m']}x{c['k']}x{c['n']}", c["best_flops"] / 1e9, c["median_flops"] / 1e9]
                 for name, d in peaks.items() for c in d["cases"]],
                ["dtype", "m x k x n", "best GFLOP/s", "median GFLOP/s"]))
    print(f"peak used: {peak_name} {peak / 1e9:.1f} GFLOP/s "
          f"(fp32 {peaks['float32']['peak_flops'] / 1e9:.1f}, bf16 {peaks['bfloat16']['peak_flops'] / 1e9:.1f})")

    print(f"\ntraining ({args.repeats} run(s) each, medians):")
    rows = []
    for side, label in (("project", "project train_classifier"), ("trainer_tuned", "Trainer, tuned"),
                        ("trainer", "Trainer, defaults")):
        s = summary[side]
        rows.append([label, s["precision"], s["examples_per_s"], s["train_phase_s"], s["end_to_end_s"],
                     100 * s["accuracy_best"], 100 * s["accuracy_last"], s["padded_tokens"],
                     s["flops_per_s"] / 1e9, 100 * s["fraction_of_peak"]])
    print(table(rows, ["side", "precision", "examples/s", "train s", "end-to-end s", "val acc % (kept)",
                       "val acc % (last)", "padded tokens", "GFLOP/s", "% of peak"]))
    for side, label in (("trainer_tuned", "the tuned Trainer"), ("trainer", "the default Trainer")):
        r = ratios[side]
        print(f"\nagainst {label}: examples/s {r['examples_per_s']:.2f}x, end-to-end time {r['end_to_end']:.2f}x, "
              f"accuracy {r['accuracy_points_best']:+.1f} points (kept checkpoint), "
              f"{r['accuracy_points_last']:+.1f} (last weights); 1 point = {len(val) // 100} validation sentences")
    pt = runs["project"][0]["timings"]
    print(f"project outside the training phase: load {pt['load_s']:.1f} s, tokenize {pt['tokenize_s']:.1f} s, "
          f"eval {pt['eval_s']:.1f} s, save {pt['save_s']:.1f} s; loop-reported examples/s (step compute only) "
          f"{median([r['loop_reported_examples_per_s'] for r in runs['project']]):.1f}")

    results = {"benchmark": "train_throughput", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
               "matmul_peak": peaks, "peak_dtype": peak_name, "peak_flops": peak, "summary": summary,
               "ratios": ratios, "runs": runs}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
