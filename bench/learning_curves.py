"""The learning curves on the shipped samples as the Transfer tab computes them: each run's accuracy and
seconds, and the time from the request to the whole figure.

    python -m bench.learning_curves [--sample topics|sentiment] [--workers N]

Runs what the tab's first request for the curves runs (tabs/transfer.py): the neural runs as jobs on
the curves' own worker processes (``N`` of them, the cores shared between them; default the
``curves_workers`` setting), started before the clock as ``python app.py`` starts them while it warms
up, the frozen series from the encoder's vectors in this process (not cached yet). Prints one line per point and the total; on a shared machine,
compare totals of one run of this script with each ``--workers``, not across runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from lab.settings import Settings
from training.data import catalog
from training.transfer import learning_curves, transfer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="topics", help="topics or sentiment")
    parser.add_argument("--workers", type=int, default=None, help="curves worker processes (default: the setting's)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as python app.py serves requests
    work_root = Path(tempfile.mkdtemp(prefix="bench-curves-"))
    settings = Settings(offline=True, runs_dir=work_root / "runs", cache_dir=work_root / "cache")
    if args.workers:
        settings = Settings(offline=True, runs_dir=settings.runs_dir, cache_dir=settings.cache_dir,
                            curves_workers=args.workers)
    card = next(c for c in catalog.catalog(settings, False) if c.task == "classification"
                and args.sample in str(c.title).lower())
    data = transfer.card_data(card)
    from lab.context import Lab
    from tabs.transfer import TransferTab

    lab = Lab(settings)
    tab = TransferTab(lab)
    base = learning_curves.base_config(max_train_minutes=settings.max_train_minutes)
    encoder = lab.model("finetune-base")
    from training.runs import backends

    workers = backends.for_curves(settings).workers  # started as app.warm_up starts them
    while not all(w.conn is not None for w in workers):
        time.sleep(0.2)
    started = time.perf_counter()
    work = tab._curves_work(data, base, list(learning_curves.SERIES), encoder, tab.cache, settings)
    points = work(lambda p: print(f"{time.perf_counter() - started:6.1f} s  {p.series:10s} {p.examples:5d} examples: "
                                  f"{p.accuracy:6.1%} (run {p.seconds:5.1f} s)", flush=True), lambda: False)
    total = time.perf_counter() - started
    neural = [p for p in points if p.series != "frozen"]
    print(f"{card.title}: {len(points)} points in {total:.1f} s from the request; "
          f"{sum(p.seconds for p in neural) / len(neural):.1f} s per neural run "
          f"({learning_curves.EXAMPLES_PER_RUN} examples each, {settings.curves_workers} workers x "
          f"{max(1, settings.worker_threads // settings.curves_workers)} threads)")


if __name__ == "__main__":
    main()
