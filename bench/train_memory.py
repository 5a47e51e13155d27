"""Training memory: the peak resident memory of fine-tuning steps, measured against the estimate
that refuses a run before it starts (``training/engine/estimate.py``).

Each case runs in a fresh process: the embedded all-MiniLM-L6-v2 with a new head of ``--classes``
labels, the optimizer the loop uses, three full training steps on one batch of ``batch x length``
tokens in the precision ``--precision auto`` picks on this CPU. The process's peak RSS (VmHWM) after
the steps, less its RSS once torch and the model were loaded, is what training added; the estimate
is printed beside it.

    python -m bench.train_memory
    python -m bench.train_memory --cases 16x128,128x512
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, begin, bench_parser, default_out, table, write_results

CASES = "8x64,16x128,32x128,16x256,32x256,16x512"

# One case, in a child process so that its peak memory is its own.
CHILD = r"""
import json, sys, time
import torch
from lab.registry import embedded_encoder_dir
from training.engine import estimate
from training.engine.loop import choose_precision, fused_adamw_ok
from lab.settings import Settings
from training.engine.models import build_model

batch, length, classes = (int(x) for x in sys.argv[1:4])
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
model = build_model(str(embedded_encoder_dir()), [f"c{i}" for i in range(classes)], from_scratch=False, seed=0).train()
precision, _ = choose_precision("auto", torch.device("cpu"), Settings.from_env().cpu_bf16)
trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=fused_adamw_ok(trainable))
inputs = {"input_ids": torch.randint(1000, 20000, (batch, length)),
          "attention_mask": torch.ones(batch, length, dtype=torch.long),
          "labels": torch.zeros(batch, dtype=torch.long)}
loaded = rss("VmRSS:")
start = time.perf_counter()
for _ in range(3):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
print(json.dumps({"batch": batch, "length": length, "classes": classes, "precision": precision,
                  "loaded_bytes": loaded, "peak_bytes": rss("VmHWM:"), "step_s": (time.perf_counter() - start) / 3,
                  "estimate_bytes": estimate.training_bytes(model.config, batch, length, sum(p.numel() for p in trainable))}))
"""


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--cases", default=CASES, help="Comma-separated BATCHxLENGTH cases.")
    parser.add_argument("--classes", type=int, default=100, help="Labels of the new head (the default class cap).")
    parser.add_argument("--out", type=Path, default=default_out("train_memory"), help="Where to write the JSON.")
    args, info = begin(parser, argv)
    rows, runs = [], []
    for case in args.cases.split(","):
        batch, length = (int(x) for x in case.lower().split("x"))
        print(f"batch {batch} x length {length} ...", flush=True)
        done = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(length), str(args.classes)],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        run["added_bytes"] = run["peak_bytes"] - run["loaded_bytes"]
        runs.append(run)
        rows.append([f"{batch} x {length}", run["precision"], run["step_s"], run["loaded_bytes"] / 2**20,
                     run["added_bytes"] / 2**20, run["estimate_bytes"] / 2**20,
                     run["estimate_bytes"] / max(1, run["added_bytes"])])
    print(table(rows, ["batch x length", "precision", "s/step", "loaded MiB", "training added MiB",
                       "estimate MiB", "estimate / measured"]))
    results = {"benchmark": "train_memory", "machine": info, "args": vars(args) | {"out": str(args.out)},
               "runs": runs}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
