"""What a run will cost, said before it starts: how long it takes and how much memory it adds.

The time is measured, not guessed: two real optimizer steps of the chosen base model on
one batch of the data's typical length, in the precision the run will use. That measurement is
taken in a quiet moment; a shared machine trains slower. So it is scaled by what the workers'
own recent runs took per step against their own measurement (``MachineSpeed``: the machine's
current speed), and the runs ahead in the queue are added (``expected_seconds``).

The memory (``training_bytes``) is the run's peak: the model's gradients and AdamW's two moments
(12 bytes for each trainable weight: the weights themselves are loaded already) plus the
activations the backward pass keeps: per encoder layer and token, a few hidden-sized and
intermediate-sized vectors, and per attention head a row of ``length`` scores. The coefficients are
fitted to the peak resident memory that ``bench/train_memory.py`` measures (fp32, the larger of the
two precisions): the estimate is 1.03-1.10x the measured peak from 8 x 64 to 16 x 512 tokens on
all-MiniLM-L6-v2, never below it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import threading
import time
from collections import deque
from functools import lru_cache

from lab.errors import LabInputError
from lab.i18n import Message, msg
from training.config import TrainConfig

# torch and the loop are imported by the first measurement: a cost said from the run's numbers alone
# (training_bytes, human, check_time) needs neither, as the page that lays out the Fine-tune tab.


def total_steps(n_train: int, config: TrainConfig) -> int:
    return max(1, math.ceil(math.ceil(n_train / config.batch_size) * config.epochs))


def human(seconds: float | None) -> str:
    """A duration as the UI says it: a lab.i18n Message ("30 s", "10.0 min"), "?" when unknown."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return msg("msg.training.estimate.seconds", n=f"{seconds:.0f}")
    return msg("msg.training.estimate.minutes", n=f"{seconds / 60:.1f}")


def _measure_step(source: str, batch_size: int, length: int, precision: str) -> float:
    import torch

    from training.engine.loop import fused_adamw_ok
    from training.engine.models import build_model

    model = build_model(source, ["a", "b"], from_scratch=False, seed=0).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=fused_adamw_ok(trainable))  # as the loop does
    vocab = model.config.vocab_size
    batch = {"input_ids": torch.randint(1000, min(vocab, 20000), (batch_size, length)),
             "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
             "labels": torch.zeros(batch_size, dtype=torch.long)}
    times = []
    for _ in range(3):  # the first step pays for allocation and kernel selection: not counted
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return min(times[1:])


_measure = lru_cache(maxsize=32)(_measure_step)  # the step as first measured, once per model and shape
_MEASURING = threading.Lock()  # a class pressing Train together measures once, not once per student


def _step_key(lab, config: TrainConfig, typical_length: int) -> tuple[str, int, int, str]:
    import torch

    from training.engine.loop import choose_precision
    from training.engine.models import resolve_base_model

    source, _ = resolve_base_model(config, lab.settings, lab.hub.online)
    precision, _ = choose_precision(config.precision, torch.device("cpu"), lab.settings.cpu_bf16)
    # Batches are padded to their longest text; the 95th percentile is a fair typical length.
    return source, config.batch_size, max(8, min(config.max_length, typical_length)), precision


def seconds_per_step(lab, config: TrainConfig, typical_length: int) -> float:
    """Measured seconds for one full-model training step at the data's typical (padded) length."""
    key = _step_key(lab, config, typical_length)
    with _MEASURING:
        per_step = _measure(*key)
    if config.strategy in ("frozen_encoder", "lora"):
        per_step *= 0.6  # no weight gradients for the frozen encoder: roughly the forward + a third
    return per_step


# A forward pass is about a third of a training step (the backward pass costs about twice the forward).
FORWARD_SHARE = 1 / 3


def encoding_seconds(lab, config: TrainConfig, typical_length: int, texts: int) -> float:
    """Measured seconds to encode ``texts`` texts with the frozen encoder (a features run's work)."""
    return seconds_per_step(lab, dataclasses.replace(config, strategy="full"), typical_length) * FORWARD_SHARE * texts / config.batch_size


def check_time(seconds: float, config: TrainConfig, what: Message, fix: Message) -> None:
    """Refuse, before any work, a run estimated to need more than ``config.max_train_minutes``:
    it would be stopped by the limit, holding a training worker all that time."""
    if seconds > config.max_train_minutes * 60:
        raise LabInputError(msg("msg.training.estimate.too_long", time=human(seconds), what=what,
                                minutes=f"{config.max_train_minutes:g}", fix=fix))


class MachineSpeed:
    """How many times slower than their two-step measurement the recent runs trained: the median of
    the last ``keep`` runs' (seconds per step while training) / (measured seconds per step), those
    of the last ``max_age_s`` only (the machine's load changes). 1.0 with none."""

    def __init__(self, keep: int = 5, max_age_s: float = 1800.0, clock=time.monotonic):
        self._ratios: deque[tuple[float, float]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.max_age_s, self._clock = max_age_s, clock

    def record(self, measured_per_step: float, actual_per_step: float) -> None:
        if measured_per_step > 0 and actual_per_step > 0:
            with self._lock:
                self._ratios.append((self._clock(), actual_per_step / measured_per_step))

    def recent(self) -> float | None:
        """The median ratio of the recent runs; None when none finished lately."""
        now = self._clock()
        with self._lock:
            recent = [ratio for at, ratio in self._ratios if now - at <= self.max_age_s]
        return statistics.median(recent) if recent else None

    def factor(self) -> float:
        recent = self.recent()
        return 1.0 if recent is None else recent


SPEED = MachineSpeed()  # this server's: fed by every finished fine-tune (training/runs/session_runs.py)

# With no recent run to tell the machine's speed, the step is measured again, at most this often per
# model and shape (a class pressing Train together measures once), against its first measurement.
REMEASURE_S = 60.0
_remeasured: dict[tuple, tuple[float, float]] = {}  # step key -> (when, seconds)


def speed_now(lab, config: TrainConfig, typical_length: int, speed: MachineSpeed = SPEED,
              clock=time.monotonic) -> float:
    """How many times slower than its cached measurement a step runs now: the recent runs' figure
    (``speed``), or, when none finished lately, the same step measured again (a server measured in
    a quiet moment and loaded since: the first run of a busy class)."""
    recent = speed.recent()
    if recent is not None:
        return recent
    key = _step_key(lab, config, typical_length)
    with _MEASURING:
        first = _measure(*key)
        when, seconds = _remeasured.get(key, (None, 0.0))
        if when is None or clock() - when > REMEASURE_S:
            seconds = _measure_step(*key)
            _remeasured[key] = (clock(), seconds)
    return max(1.0, seconds / first)  # never faster than measured: a quiet moment is what it was


def actual_seconds_per_step(history: list[dict]) -> float | None:
    """Seconds per step between a run's first and last step events (evaluations in between included:
    they are part of what a run costs); None before two steps."""
    steps = [h for h in history if h.get("kind") == "step" and h.get("elapsed_s") is not None]
    if len(steps) < 2 or steps[-1]["step"] <= steps[0]["step"]:
        return None
    return (steps[-1]["elapsed_s"] - steps[0]["elapsed_s"]) / (steps[-1]["step"] - steps[0]["step"])


def expected_seconds(per_step: float, steps: int, factor: float = 1.0, ahead_s: float = 0.0) -> float:
    """The wait for the runs ahead, then ``steps`` steps at the measured ``per_step`` scaled by the
    machine's current speed ``factor``."""
    return ahead_s + steps * per_step * factor


# Values kept per layer and token for the backward pass (fitted, bench/train_memory.py).
HIDDEN_VALUES, INTERMEDIATE_VALUES, SCORE_VALUES = 16, 4, 3
BYTES = 4  # fp32; bf16 autocast keeps some in half the space, so this is an upper bound
OVERHEAD = 100 * 2**20  # the allocator's and autograd's own, whatever the batch (bench: 8 x 64 tokens)


def training_bytes(config, batch: int, length: int, trainable_params: int) -> int:
    """Bytes a training step of ``batch`` texts of ``length`` tokens adds to the process at its peak,
    for a model of ``config`` with ``trainable_params`` weights to train (training.engine.models.count_parameters)."""
    tokens = batch * length
    per_token = (HIDDEN_VALUES * config.hidden_size + INTERMEDIATE_VALUES * config.intermediate_size
                 + SCORE_VALUES * config.num_attention_heads * length)
    activations = config.num_hidden_layers * tokens * per_token * BYTES
    return int(OVERHEAD + 12 * trainable_params + activations)
