"""Shared helpers for the benchmarks: data, models with random heads, timing, tables, results.

Nothing here is imported by the app (the tests check its statistics); the benchmarks are run by hand (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# The benchmarks never touch the network, like the tests.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "LAB_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_offline_env() -> None:
    """Call before importing transformers/gradio (they read some of these at import)."""
    os.environ.update(OFFLINE_ENV)


# ------------------------------------------------------------------------------------------ data


def find_data(name: str) -> Path:
    """A dataset folder under ../shared/data (or $LAB_SHARED_DATA), with a clear error if missing."""
    from lab.settings import Settings

    path = Settings.from_env().shared_data_dir / name
    if not path.exists():
        sys.exit(f"{path} not found: the benchmarks read the shared datasets from ../shared/data "
                 "(or set LAB_SHARED_DATA to the folder that holds sst2/, squad/, ...).")
    return path


def sst2_sample(n_train: int, n_val: int, seed: int = 0, min_words: int = 1):
    """(train, val) ``TextDataset``s drawn at random, without overlap, from SST-2's train.tsv.

    Rows with fewer than ``min_words`` words are skipped (SST-2 holds many tiny phrases).
    Labels are named negative/positive, in that id order.
    """
    from training.data.data import TextDataset

    rows = []
    with open(find_data("sst2") / "train.tsv", encoding="utf-8") as f:
        next(f)  # header: text<TAB>label
        for line in f:
            text, label = line.rstrip("\n").rsplit("\t", 1)
            text = text.strip()
            if len(text.split()) >= min_words:
                rows.append((text, int(label)))
    rng = random.Random(seed)
    picked = rng.sample(rows, n_train + n_val)
    names = ["negative", "positive"]

    def part(items):
        return TextDataset([t for t, _ in items], [y for _, y in items], names)

    return part(picked[:n_train]), part(picked[n_train:])


def squad_contexts(n: int = 3, seed: int = 0) -> list[tuple[str, str]]:
    """(question, context) pairs from the shared SQuAD dev articles, longest contexts first."""
    data = json.loads((find_data("squad") / "squad-v1.1-dev-articles-00-35.json").read_text())
    pairs = [(qa["question"], p["context"]) for article in data["data"] for p in article["paragraphs"]
             for qa in p["qas"][:1]]
    random.Random(seed).shuffle(pairs)
    return sorted(pairs[:50], key=lambda qc: -len(qc[1]))[:n]


# ---------------------------------------------------------------------------------------- models

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
HEADS = {  # task -> (architecture, label names or None)
    "fill-mask": ("BertForMaskedLM", None),
    "classification": ("BertForSequenceClassification", ["negative", "positive"]),
    "ner": ("BertForTokenClassification", NER_LABELS),
    "qa": ("BertForQuestionAnswering", None),
}


def shipped_head(task: str) -> Path | None:
    """The project's trained head for ``task`` under assets/models, if one is shipped now."""
    head = ROOT / "assets" / "models" / task
    return head if (head / "config.json").is_file() else None


def random_head_dir(task: str, root: Path | None = None, seed: int = 0) -> Path:
    """The real embedded encoder plus a randomly initialised ``task`` head, saved once to a folder.

    Speed does not depend on what a head learned, so this stands in for a head the project has
    not shipped yet. The folder is reused across runs (same seed, same weights).
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    from lab.registry import embedded_encoder_dir

    root = root or Path(tempfile.gettempdir()) / "bert-lab-bench-heads"
    target = root / f"minilm-random-{task}"
    if (target / "config.json").is_file():
        return target
    architecture, labels = HEADS[task]
    encoder = embedded_encoder_dir()
    kwargs = {"architectures": [architecture]}
    if labels:
        kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={n: i for i, n in enumerate(labels)})
    config = AutoConfig.from_pretrained(encoder, **kwargs)
    torch.manual_seed(seed)
    model = getattr(transformers, architecture).from_pretrained(encoder, config=config, use_safetensors=True)
    tmp = root / f".{target.name}.tmp-{os.getpid()}"
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def model_overrides(tasks: Sequence[str] = tuple(HEADS)) -> tuple[dict[str, str], list[str]]:
    """{task: local dir} for the tasks with no shipped head, and lines saying so (for the output)."""
    overrides, notes = {}, []
    for task in tasks:
        if shipped_head(task) is not None:
            notes.append(f"{task}: the shipped head under assets/models/{task}")
        else:
            overrides[task] = str(random_head_dir(task))
            notes.append(f"{task}: no shipped head; the embedded encoder + a random {HEADS[task][0]} head "
                         f"({overrides[task]})")
    return overrides, notes


def override_env(overrides: dict[str, str]) -> dict[str, str]:
    """LAB_MODEL_<TASK> variables for ``overrides`` (as a host would set them)."""
    return {"LAB_MODEL_" + task.upper().replace("-", "_"): path for task, path in overrides.items()}


# ---------------------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q% of the values at
    or below it (rank ceil(q/100 * n)); NaN for no values. For 20 values p95 is the 19th."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    # Exact arithmetic for the rank: 95 / 100 * 20 is 19.000000000000004 in floats, and its
    # ceiling would be 20. (An earlier round(x + 0.5) rounded 19.5 to even, also 20: the max.)
    rank = max(1, min(len(ordered), math.ceil(Fraction(str(q)) * len(ordered) / 100)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[], object], calls: int, warmup: int = 2) -> list[float]:
    """Seconds per call of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def time_interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, calling them in turn every round (the order rotating),
    so background load and clock drift hit every contestant alike."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t)
    return times


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(port: int, overrides: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV, **override_env(overrides), "GRADIO_SERVER_PORT": str(port),
            "GRADIO_SERVER_NAME": "127.0.0.1", "PYTHONUNBUFFERED": "1"}


def start_app(port: int, overrides: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``python app.py`` on loopback, offline, as a host would start it."""
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process by stop_app)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=app_env(port, overrides),
                            stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def wait_for_page(url: str, proc: subprocess.Popen, timeout_s: float = 120.0, poll_s: float = 0.05) -> float:
    """perf_counter time when GET ``url`` first answered 200; raises if the process died or timed out."""
    import urllib.error
    import urllib.request

    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before serving a page")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    response.read()
                    return time.perf_counter()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"no page from {url} within {timeout_s:.0f} s")


@contextlib.contextmanager
def served_app(name: str, overrides: dict[str, str], timeout_s: float = 180.0):
    """``python app.py`` on a free loopback port while the block runs, stopped after it.

    Yields (url, process, seconds from start to the first page); the app's output goes to a log
    file in the temp folder, named after the benchmark and printed.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = Path(tempfile.gettempdir()) / f"bench-{name}-app-{port}.log"
    print(f"app log: {log_path}")
    t0 = time.perf_counter()
    proc = start_app(port, overrides, log_path)
    try:
        yield url, proc, wait_for_page(url, proc, timeout_s) - t0
    finally:
        stop_app(proc)


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the app this benchmark started (by its own process id) and close its log."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log.close()  # type: ignore[attr-defined]


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size of a live process (VmHWM), Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/<pid>/status")


# ----------------------------------------------------------------------------------- reporting


def machine() -> dict:
    """What the numbers were measured on: CPU model, cores, load, library versions."""
    import torch

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("transformers", "accelerate", "gradio", "gradio_client", "datasets"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    from lab import machine as lab_machine
    from lab.settings import Settings

    return {
        "cpu": model,
        "cores": lab_machine.cores(),
        "torch_threads": torch.get_num_threads(),
        "native_bf16": lab_machine.native_bf16(Settings.from_env().cpu_bf16),
        "load_avg_at_start": list(os.getloadavg()),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def print_machine(info: dict) -> None:
    v = info["versions"]
    print(f"machine: {info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads), "
          f"native bf16 {info['native_bf16']}, load avg {info['load_avg_at_start'][0]:.2f}; "
          f"torch {v['torch']}, transformers {v['transformers']}, gradio {v['gradio']}")


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring's first paragraph, defaults in the help."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_sst2_training_args(parser: argparse.ArgumentParser, train_size: int, val_size: int) -> None:
    """The flags of a benchmark that fine-tunes on an SST-2 sample (the same for every side it compares)."""
    parser.add_argument("--train-size", type=int, default=train_size, help="SST-2 sentences to train on.")
    parser.add_argument("--val-size", type=int, default=val_size, help="SST-2 sentences to validate on (disjoint).")
    parser.add_argument("--min-words", type=int, default=3,
                        help="Skip SST-2 rows shorter than this many words (the file holds many tiny phrases).")
    parser.add_argument("--epochs", type=int, default=1, help="Passes over the training sentences (every side).")
    parser.add_argument("--batch-size", type=int, default=16, help="Training batch size (every side).")
    parser.add_argument("--max-length", type=int, default=128, help="Truncation length in tokens (every side).")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the head init and data order (every side).")
    parser.add_argument("--data-seed", type=int, default=0, help="Seed of the SST-2 sample.")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="The project's TrainConfig.precision and the tuned Trainer's bf16 (auto: bf16 only on "
                             "CPUs with native bf16).")


def begin(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    """What every benchmark does first: read its command line, keep everything offline, and say
    which machine it measures on. Returns (args, the machine as ``machine()`` reads it)."""
    args = parser.parse_args(argv)
    set_offline_env()
    info = machine()
    print_machine(info)
    return args, info


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table (also valid Markdown), numbers formatted to a few significant digits."""
    def fmt(value: object) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "n/a"
            return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |",
             "| " + " | ".join("-" * w for w in widths) + " |"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def default_out(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def write_results(path: Path, results: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults written to {path}")


# ------------------------------------------------------------------------------------ FLOPs


def matmul_peak(sizes: Sequence[tuple[int, int, int]] = ((1024, 1024, 1024), (2048, 2048, 2048), (512, 384, 1536)),
                dtypes: Sequence[str] = ("float32", "bfloat16"), seconds_per_case: float = 1.5) -> dict:
    """Measured matmul FLOP/s of this CPU, per dtype: the best over ``sizes`` (m, k, n).

    Each case runs for about ``seconds_per_case`` after one warm-up call; the FLOP/s of the
    fastest call counts (a peak, not an average). Uses torch's default threads, as training does.
    """
    import torch

    out: dict = {}
    for name in dtypes:
        dtype = getattr(torch, name)
        cases = []
        for m, k, n in sizes:
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            c = torch.empty(m, n, dtype=dtype)
            torch.mm(a, b, out=c)
            times = []
            stop = time.perf_counter() + seconds_per_case
            while time.perf_counter() < stop or len(times) < 3:
                t = time.perf_counter()
                torch.mm(a, b, out=c)
                times.append(time.perf_counter() - t)
            flops = 2.0 * m * k * n
            cases.append({"m": m, "k": k, "n": n, "calls": len(times),
                          "best_flops": flops / min(times), "median_flops": flops / median(times)})
        out[name] = {"peak_flops": max(c["best_flops"] for c in cases), "cases": cases}
    return out


def bert_forward_flops(config, batch: int, seq: int, first_token_only: bool = False) -> float:
    """Matmul FLOPs of one BERT encoder forward (+ pooler and classifier) on a (batch, seq) input.

    Per layer and token: Q, K, V and the output projection (4 h^2 multiply-adds) and the
    feed-forward (2 h i); per layer and sequence: the attention scores and the weighted sum
    (2 s^2 h). Embedding lookups, LayerNorm, softmax and GELU are not matmuls and left out.
    A training step costs about 3x this (the backward pass is two matmuls per forward one).
    ``first_token_only``: the last layer as ``training.engine.first_token`` runs it (K and V for every
    token; Q, the output projection, the feed-forward and the attention for position 0 only).
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    labels = getattr(config, "num_labels", 2)
    full = layers - 1 if first_token_only else layers
    macs = batch * seq * full * (4 * h * h + 2 * h * i) + batch * full * 2 * seq * seq * h
    if first_token_only:
        macs += batch * seq * 2 * h * h + batch * (2 * h * h + 2 * h * i) + batch * 2 * seq * h
    macs += batch * (h * h + h * labels)
    return 2.0 * macs


class TrainingFlopCounter:
    """A forward pre-hook that adds up the FLOPs of every training-mode forward of a model.

    Counts the padded shapes the CPU actually multiplies (``flops``) and, for reference, the
    FLOPs the real (unpadded) tokens would need (``useful_flops``).
    """

    def __init__(self):
        self.flops = self.useful_flops = 0.0
        self.tokens = self.real_tokens = self.forwards = 0
        self.shapes: list[tuple[int, int]] = []

    def attach(self, model) -> None:
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        if not module.training:
            return None
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return None
        batch, seq = ids.shape
        mask = kwargs.get("attention_mask")
        lengths = mask.sum(-1).tolist() if mask is not None else [seq] * batch
        self.forwards += 1
        self.tokens += batch * seq
        self.real_tokens += int(sum(lengths))
        self.shapes.append((batch, seq))
        from training.engine.first_token import is_active

        first = is_active(module)  # the project's loop runs the last layer at [CLS] only
        self.flops += 3 * bert_forward_flops(module.config, batch, seq, first)
        self.useful_flops += 3 * sum(bert_forward_flops(module.config, 1, int(n), first) for n in lengths)
        return None
