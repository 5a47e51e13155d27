"""What the recipes share: data location, resumable checkpoints, timing."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import torch
from torch import nn

from lab.settings import ROOT
from training.loop import LengthGroupedSampler

DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"

CHECKPOINT = "checkpoint.pt"

# Parameters AdamW does not decay (as transformers' no_trainer examples).
NO_DECAY = ("bias", "LayerNorm.weight")


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_checkpoint(output: Path, state: dict) -> None:
    """Write ``state`` so a kill mid-write never leaves a broken checkpoint (temp + rename)."""
    output.mkdir(parents=True, exist_ok=True)
    tmp = output / f".{CHECKPOINT}.tmp-{uuid.uuid4().hex[:8]}"
    torch.save(state, tmp)
    os.replace(tmp, output / CHECKPOINT)


def load_checkpoint(output: Path) -> dict | None:
    path = output / CHECKPOINT
    return torch.load(path, weights_only=True) if path.is_file() else None


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


class Clock:
    """Wall time across resumed runs: ``elapsed`` counts the earlier runs' seconds too."""

    def __init__(self, before: float = 0.0):
        self.before, self.start = before, time.perf_counter()

    @property
    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start


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
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__} with {torch.get_num_threads()} threads"


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch: length-grouped, shuffled, a function of (seed, epoch) only."""
    sampler = LengthGroupedSampler(lengths, batch_size, seed)
    sampler.epoch = epoch
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
