"""Learning curves by data size: how many labelled examples each way of training needs.

The lecture's claim ("deep learning needs tens of thousands of examples; transfer learning does
not") as one chart: the same task trained on 16, 64, 256, 1,024 examples (up to what the data
has), scored on the same validation rows, three ways:

- *pretrained*: full fine-tuning of the pretrained encoder (the usual way);
- *from scratch*: the same architecture from random weights, the same budget;
- *frozen encoder + head*: a logistic regression on the pretrained encoder's last-layer [CLS]
  vectors (training/transfer/features.py), which costs milliseconds once the vectors are cached.

Runs are short on purpose (the same 60 steps of 8 examples for every size, not a full schedule): a
curve is a comparison under one budget, not the best each way could do, and a class's whole figure
is ready in under a minute (training/transfer/shared_curves.py computes it once for everyone; bench/README.md
has the time).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lab.errors import LabInputError
from lab.i18n import msg
from training.config import TrainConfig
from training.data import catalog
from training.data.data import TextDataset
from training.transfer.transfer import ViewData, layer_vectors, probe_accuracy

SIZES = (16, 64, 256, 1024)
# The series' names as the chart and its checkboxes show them (lab.i18n Messages: English, said in the
# student's language by the tab).
SERIES = {"pretrained": msg("msg.training.learning_curves.series.pretrained"),
          "scratch": msg("msg.training.learning_curves.series.scratch"),
          "frozen": msg("msg.training.learning_curves.series.frozen")}
# Each run takes the same number of optimizer steps: its rows repeated until it has seen this many
# examples (60 steps of 8), then scored once. One score at the end, not the best of many
# evaluations, so a small validation set's luck is not picked as the result. Batches of 8: as many
# updates as 60 steps of 16 (what a few examples need), at about half the compute.
EXAMPLES_PER_RUN = 480
BATCH_SIZE = 8
# The embedded MiniLM's weights are small in scale and 60 steps are few: 1e-4 learns where the Fine-tune
# tab's 5e-5 barely moves (0.60-0.68 against 0.50-0.57 on the sentiment sample); from scratch gets the same.
LEARNING_RATE = 1e-4
# The frozen series reads the [CLS] vector, as the head a BERT classifier puts on a frozen encoder does
# (the Fine-tune tab's frozen_encoder). The embedded MiniLM was trained as a sentence encoder with mean
# pooling, and a head on its mean vectors matches or beats fine-tuning on the topics sample: true of that
# model, but not the lecture's frozen-encoder strategy (bench/README.md has both).
FROZEN_POOLING = "cls"
# The shipped samples' sentences are under 40 pieces; a batch is padded to its longest row anyway.
MAX_LENGTH = 64


def base_config(**overrides) -> TrainConfig:
    """The settings every curve run starts from (``run_config`` sets the rest): part of the shared cache's key."""
    return TrainConfig(max_length=MAX_LENGTH, batch_size=BATCH_SIZE, **overrides)


def sizes_for(n_train: int, sizes: tuple[int, ...] = SIZES) -> list[int]:
    """The sizes that fit the data, plus all of it when it falls between two of them."""
    if n_train < sizes[0]:
        raise LabInputError(msg("msg.training.learning_curves.too_few", n=n_train, least=sizes[0]))
    chosen = [s for s in sizes if s < n_train]
    return chosen + [n_train] if n_train <= max(sizes) else chosen


def repeats_for(size: int) -> int:
    return max(1, math.ceil(EXAMPLES_PER_RUN / size))


def frozen_vectors(cache, encoder, data: ViewData) -> tuple[np.ndarray, np.ndarray]:
    """The frozen series' inputs: the pretrained encoder's last-layer vectors of (data.train, data.val),
    through the class's feature cache."""
    return tuple(layer_vectors(cache, encoder, part.texts, FROZEN_POOLING)[-1] for part in (data.train, data.val))


def run_config(base: TrainConfig, from_scratch: bool) -> TrainConfig:
    """One pass over the repeated rows, one evaluation at its end, the curves' learning rate."""
    return dataclasses.replace(base, epochs=1, from_scratch=from_scratch, evals_per_epoch=1, test_fraction=0.0,
                               strategy="full", learning_rate=LEARNING_RATE)


def subset_indices(train: TextDataset, size: int, seed: int) -> list[int]:
    """``size`` training rows, stratified, the same for every series (so only the way of training differs)."""
    return sorted(catalog.stratified_indices([train.label_names[i] for i in train.labels], size, seed))


def planned_examples(sizes: list[int], series: list[str]) -> int:
    """Training examples the neural runs will process (the time estimate multiplies this by a measured rate)."""
    neural = sum(1 for s in series if s != "frozen")
    return neural * sum(size * repeats_for(size) for size in sizes)


@dataclass
class CurvePoint:
    series: str
    examples: int
    accuracy: float
    seconds: float


def learning_curves(data: ViewData, base: TrainConfig, work_dir: Path, series: list[str],
                    train_run: Callable[[TrainConfig, TextDataset, TextDataset, Path], object],
                    last_layer: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
                    on_point: Callable[[CurvePoint], None] | None = None,
                    should_stop: Callable[[], bool] | None = None, parallel: int = 1) -> list[CurvePoint]:
    """Train each series at each size and score it on ``data.val``.

    ``train_run(config, train, val, out_dir)`` is the one training loop (training.tasks.tasks.train_classifier
    bound to its settings, or a job on a backend) and returns its TrainResult; ``last_layer()`` gives the
    pretrained encoder's last-layer vectors of (data.train, data.val) for the frozen series. Each run's
    folder goes as soon as its score is read. ``should_stop`` ends the curves between runs (and inside a
    run, through the loop).

    ``parallel`` neural runs train at once (a backend with that many workers): runs of 8 short rows use
    one core about as well as two, so two single-threaded runs side by side finish a figure sooner than
    one two-threaded run after another. Points still arrive in the order of sizes and series.
    """
    unknown = [s for s in series if s not in SERIES]
    if unknown or not series:
        raise LabInputError(msg("msg.training.learning_curves.pick_series", series=", ".join(SERIES)))
    halted = threading.Event()  # a run was cancelled or failed: the runs not started yet never start
    stopped = lambda: halted.is_set() or (should_stop is not None and should_stop())  # noqa: E731
    plan = [(size, subset_indices(data.train, size, base.seed)) for size in sizes_for(len(data.train))]

    def neural(name: str, size: int, index: list[int]) -> CurvePoint | None:
        if stopped():
            return None
        started = time.perf_counter()
        out_dir = Path(work_dir) / f"{name}-{size}"
        try:
            result = train_run(run_config(base, name == "scratch"), data.train.subset(index * repeats_for(size)),
                               data.val, out_dir)
        except BaseException:
            halted.set()
            raise
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        if result.stopped_early == "cancelled":
            halted.set()
            return None
        return CurvePoint(name, size, float(result.best_metrics.get("accuracy", 0.0)), time.perf_counter() - started)

    points: list[CurvePoint] = []
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="curve-run") as pool:
        # submitted first, so the runs train while the frozen series' vectors are computed here
        runs = {(size, name): pool.submit(neural, name, size, index)
                for size, index in plan for name in series if name != "frozen"}
        try:
            vectors = last_layer() if "frozen" in series and last_layer is not None else None
            for size, index in plan:
                for name in series:
                    if name != "frozen":
                        point = runs[(size, name)].result()
                    elif stopped():
                        point = None
                    elif vectors is None:
                        raise LabInputError(msg("msg.training.learning_curves.no_vectors"))
                    else:
                        started = time.perf_counter()
                        accuracy = probe_accuracy(vectors[0][index], [data.train.labels[i] for i in index],
                                                  vectors[1], data.val.labels, base.seed)
                        point = CurvePoint(name, size, accuracy, time.perf_counter() - started)
                    if point is None:
                        return points
                    points.append(point)
                    if on_point is not None:
                        on_point(point)
        finally:
            halted.set()  # returned or failed: the runs not started yet never start
            for run in runs.values():
                run.cancel()
    return points


def curves_frame(points: list[CurvePoint]) -> pd.DataFrame:
    return pd.DataFrame({"examples": [p.examples for p in points], "accuracy": [round(p.accuracy, 4) for p in points],
                         "series": [SERIES[p.series] for p in points]})
