"""A benchmark's ratios here against the same benchmark in another revision, in one run.

    python -m bench.against main --bench train_throughput -- --repeats 3
    python -m bench.against main --bench inference -- --rounds 30

A change that moves code must not lose speed: this checks out REV (a git worktree beside this
checkout, so it reads the same ../shared), runs the benchmark there and here
in turn, ``--rounds`` times each, and compares the ratios each run measured against its own
baseline (a tuned Trainer, the transformers pipeline). Those ratios, not absolute times, are
what a 2-core machine keeps steady between runs. Writes ``bench/results/against_<bench>.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import OFFLINE_ENV, ROOT, begin, bench_parser, default_out, table, write_results

# Where each benchmark keeps its headline ratios in its results file (smaller is better for
# inference's time ratios, larger for training's throughput ratio).
RATIOS = {
    "train_throughput": lambda r: {"examples/s vs tuned Trainer": r["ratios"]["trainer_tuned"]["examples_per_s"],
                                   "examples/s vs default Trainer": r["ratios"]["trainer"]["examples_per_s"]},
    "inference": lambda r: {k: v for k, v in r["headline_ratios"].items() if isinstance(v, float)},
}


def run_bench(tree: Path, bench: str, extra: list[str], out: Path) -> dict:
    env = {**os.environ, **OFFLINE_ENV}
    subprocess.run([sys.executable, "-m", f"bench.{bench}", *extra, "--out", str(out)], cwd=tree, env=env, check=True)
    return RATIOS[bench](json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("rev", help="The revision to compare with (a branch, tag or commit).")
    parser.add_argument("--bench", required=True, choices=sorted(RATIOS))
    parser.add_argument("--rounds", type=int, default=1, help="Runs of the benchmark on each side, alternating.")
    parser.add_argument("--out", type=Path, default=None)
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)  # what follows -- goes to the benchmark
    args, info = begin(parser, argv[:cut])
    args.bench_args = argv[cut + 1:]
    commit = subprocess.run(["git", "rev-parse", args.rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    here = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bench-against-"))
    other = ROOT.parent / f".bench-against-{commit[:12]}"  # beside this checkout: the same ../shared
    subprocess.run(["git", "worktree", "add", "--detach", str(other), commit], cwd=ROOT, check=True)
    try:
        runs: dict[str, list[dict]] = {"here": [], "rev": []}
        for i in range(args.rounds):
            for side, tree in (("rev", other), ("here", ROOT)) if i % 2 == 0 else (("here", ROOT), ("rev", other)):
                print(f"\n== round {i + 1}: {side} ({tree})", flush=True)
                runs[side].append(run_bench(tree, args.bench, args.bench_args, work / f"{side}-{i}.json"))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)

    names = list(runs["here"][0])
    medians = {side: {n: statistics.median(r[n] for r in runs[side]) for n in names} for side in runs}
    rows = [[n, medians["here"][n], medians["rev"][n], medians["here"][n] / medians["rev"][n]] for n in names]
    print("\n" + table(rows, ["ratio", f"here ({here[:7]})", f"{args.rev} ({commit[:7]})", "here / rev"]))
    result = {"benchmark": f"against_{args.bench}", "machine": info, "args": vars(args) | {"out": str(args.out)},
              "here": here, "rev": commit, "medians": medians, "runs": runs,
              "change": {n: medians["here"][n] / medians["rev"][n] for n in names}}
    write_results(args.out or default_out(f"against_{args.bench}"), result)
    return result


if __name__ == "__main__":
    main()
