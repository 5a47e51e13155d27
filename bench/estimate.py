"""The Fine-tune tab's time estimate against the real time, on a quiet and on a shared machine.

Each round prepares a shipped sample as the tab does (the task's reader: ``read`` then ``split``), asks for the estimate
the tab shows (``training.engine.estimate``: two measured steps, scaled by the machine's current speed
``SPEED``, which every finished run feeds as ``session_runs`` does), trains the run
(``training.runs.jobs.train``) and compares. ``--load N`` keeps N other busy processes on the cores during
the runs (a class server with other work on it); the measured step stays the quiet one, so the
first run under load shows what the scaling has to correct, and the later ones whether it does.

    python -m bench.estimate --load 0 --runs 3
    python -m bench.estimate --load 2 --runs 3
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from pathlib import Path

from bench.common import begin, bench_parser, default_out, table, write_results


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--sample", default="sentiment-sample", help="A catalogue sample to fine-tune on.")
    parser.add_argument("--load", type=int, default=0, help="Busy processes beside the runs.")
    parser.add_argument("--runs", type=int, default=3, help="Runs in a row (the later ones use the measured speed).")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help="Where to write the JSON.")
    args, info = begin(parser, argv)
    import torch

    from lab.context import Lab
    from lab.settings import Settings
    from training.config import TrainConfig
    from training.data import catalog
    from training.engine import estimate
    from training.runs import jobs
    from training.tasks import registry

    settings = Settings(offline=True)
    torch.set_num_threads(settings.worker_threads)
    lab = Lab(settings)
    card = next(c for c in catalog.catalog(settings, False) if c.name == args.sample)
    path = str(catalog.materialize(card, None))
    config = TrainConfig(epochs=args.epochs)
    reader = registry.reader("classification", settings.data_limits)
    data = reader.split(reader.read(path), config)
    per_step = estimate.seconds_per_step(lab, config, data.typical_length)  # measured before any load
    steps = estimate.total_steps(data.items, config)
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    rows, results = [], []
    try:
        with tempfile.TemporaryDirectory() as work:
            for i in range(args.runs):
                factor = estimate.speed_now(lab, config, data.typical_length)
                expected = estimate.expected_seconds(per_step, steps, factor)
                started = time.perf_counter()
                result = jobs.train(data, config, Path(work) / f"run-{i}", settings=settings, hub_online=False)
                real = time.perf_counter() - started
                estimate.SPEED.record(per_step, estimate.actual_seconds_per_step(result.history) or 0.0)
                results.append({"run": i + 1, "factor": factor, "expected_s": expected, "real_s": real,
                                "real_over_expected": real / expected})
                rows.append([i + 1, f"{factor:.2f}", f"{expected:.1f}", f"{real:.1f}", f"{real / expected:.2f}"])
    finally:
        stop.set()
        for p in spinners:
            p.join()
    print(table(rows, ["run", "speed factor", "estimate s", "real s", "real / estimate"]))
    out = args.out or default_out(f"estimate_load{args.load}")
    write_results(out, {"machine": info, "sample": args.sample, "load": args.load, "steps": steps,
                        "measured_per_step_s": per_step, "runs": results})


if __name__ == "__main__":
    main()
