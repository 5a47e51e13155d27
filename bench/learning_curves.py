"""The learning curves on the shipped samples: each run's accuracy and seconds, and the whole figure's time.

    python -m bench.learning_curves [--sample topics|sentiment] [--threads N]

Runs as the Transfer tab does (training/learning_curves.py), in this process, with N torch threads.
Prints one line per run and the total; on a shared machine, compare the seconds per run, not totals.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from lab.settings import Settings
from training import catalog, learning_curves, transfer
from training.tasks import train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="topics", help="topics or sentiment")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings(offline=True)
    card = next(c for c in catalog.catalog(settings, False) if c.task == "classification"
                and args.sample in str(c.title).lower())
    data = transfer.file_data(catalog.materialize(card, None), str(card.title))
    from lab.context import Lab

    lab = Lab(settings)
    encoder = lab.model("finetune-base")
    cache_dir = Path(tempfile.mkdtemp(prefix="bench-curves-"))

    def train_run(config, train, val, out_dir):
        return train_classifier(config, train, val, out_dir, settings=settings, cache_dir=cache_dir / "tok",
                                hub_online=False)

    def last_layer():
        from training import features

        return learning_curves.frozen_vectors(features.FeatureCache(None), encoder, data)

    started = time.perf_counter()
    points = learning_curves.learning_curves(
        data, learning_curves.base_config(), cache_dir / "work", list(learning_curves.SERIES), train_run, last_layer,
        lambda p: print(f"{p.series:10s} {p.examples:5d} examples: {p.accuracy:6.1%} in {p.seconds:5.1f} s", flush=True))
    total = time.perf_counter() - started
    neural = [p for p in points if p.series != "frozen"]
    print(f"{card.title}: {len(points)} points in {total:.1f} s; "
          f"{sum(p.seconds for p in neural) / len(neural):.1f} s per neural run "
          f"({learning_curves.EXAMPLES_PER_RUN} examples each, {args.threads} threads)")


if __name__ == "__main__":
    main()
