"""What the recipes share besides the loop: where the data is and the hardware line."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lab.settings import Settings

__all__ = ["DEFAULT_DATA_DIR", "hardware"]

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
