"""Classroom: N students press Train at the same moment while M explorers use the quick tabs.

Starts ``python app.py`` as a host would (offline, loopback, ``LAB_MAX_TRAININGS`` workers), gives
each student a session of their own that loads a sample (``/load_dataset``), then, at one
instant, every student calls ``/finetune`` with the chosen way of training while the explorers
call /fill_mask, /classify and /tokenize for ``--duration`` seconds, reading each answer for
``--think`` seconds before the next call (as a person does; 0 makes it a closed loop). Prints
when each student got a model (seconds after pressing Train), the queue positions they were
shown, which worker trained each run, the explorers' p50/p95 per endpoint, every error, and the
peak RSS of the server and its training workers.

With ``--ray`` it first starts a Ray head on loopback and ``--ray-workers`` extra local worker
nodes (one CPU each), points the app at it (``LAB_RAY_ADDRESS``), and shows how the runs spread
over the nodes. Targets on 2 cores: with ``--strategy features`` every student has a model
within 60 s; with ``--strategy full`` the runs finish in queue order, none lost; the explorers'
p95 under 1 s for fill-mask and classify; 0 errors.

    python -m bench.classroom                                  # 30 students, features, 50 explorers
    python -m bench.classroom --strategy full --students 6 --explorers 20
    python -m bench.classroom --ray --students 6 --strategy full --explorers 10 --workers 2
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import (
    begin,
    bench_parser,
    default_out,
    free_port,
    percentile,
    served_app,
    table,
    write_results,
)

SAMPLE = "Sentiment (the lab's own sample)"
EXPLORE = {  # endpoint -> positional arguments
    "/fill_mask": ("I [MASK] dogs and cats.", 5),
    "/classify": ("I expected to hate it, but I loved every minute.",),
    "/tokenize": ("Unbelievably, the gardeners watered 1,000 tomatoes!",),
}
TARGETS = {"/fill_mask": 1.0, "/classify": 1.0}


def _tree_peak_rss(pid: int) -> tuple[int, int]:
    """(the process's peak RSS, the sum of its descendants' peak RSS), from /proc (Linux)."""
    def peak(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def children(p: int) -> list[int]:
        out = []
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            out += [int(c) for c in task.read_text().split()]
        return out

    total, stack = 0, children(pid)
    while stack:
        child = stack.pop()
        total += peak(child)
        stack += children(child)
    return peak(pid), total


def _start_ray(extra_workers: int, env: dict) -> tuple[str, str]:
    ray = shutil.which("ray")
    if ray is None:
        raise SystemExit("--ray needs ray: pip install -r requirements-optional.txt")
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats", "--object-store-memory=200000000"]
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--include-dashboard=false", *common], check=True, capture_output=True, env=env)
    for _ in range(extra_workers):
        subprocess.run([ray, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common],
                       check=True, capture_output=True, env=env)
    return address, ray


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--students", type=int, default=30, help="Students pressing Train at the same instant.")
    parser.add_argument("--explorers", type=int, default=50, help="Clients making quick calls meanwhile.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds the explorers keep calling.")
    parser.add_argument("--think", type=float, default=3.0,
                        help="Seconds an explorer reads an answer before the next call (0: a closed loop).")
    parser.add_argument("--strategy", default="features", help="What the students train: features, full, ...")
    parser.add_argument("--dataset", default=SAMPLE, help="The catalogue title every student loads.")
    parser.add_argument("--size", default="all 300 rows", help="The size the students pick.")
    parser.add_argument("--epochs", type=float, default=3.0, help="Epochs of each run (not used by features).")
    parser.add_argument("--workers", type=int, default=1, help="LAB_MAX_TRAININGS: training worker processes.")
    parser.add_argument("--ray", action="store_true", help="Train on a local Ray head plus --ray-workers nodes.")
    parser.add_argument("--ray-workers", type=int, default=1, help="Extra local Ray worker nodes (1 CPU each).")
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds a student waits at most.")
    parser.add_argument("--out", type=Path, default=default_out("classroom"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    from gradio_client import Client, handle_file

    env_extra = {"LAB_MAX_TRAININGS": str(args.workers), "LAB_CACHE_DIR": tempfile.mkdtemp(prefix="bench-class-")}
    ray_cli = None
    if args.ray:
        address, ray_cli = _start_ray(args.ray_workers, {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        env_extra["LAB_RAY_ADDRESS"] = address
        print(f"Ray head at {address} with {args.ray_workers} extra worker node(s)")
    os.environ.update(env_extra)  # start_app passes this process's environment on
    students: list[dict] = []
    calls: list[tuple[str, float, str | None]] = []
    lock = threading.Lock()
    try:
        with served_app("classroom", {}) as (url, proc, _):
            warm = Client(url, verbose=False, ssl_verify=False)
            for endpoint, arguments in EXPLORE.items():
                warm.predict(*arguments, api_name=endpoint)
            warm.close()
            # download_files=False: a student's browser shows the model's zip as a link, it does not fetch 90 MB
            clients = [Client(url, verbose=False, ssl_verify=False, download_files=False) for _ in range(args.students)]
            # the sample as each student's session holds it (a path on this machine: the app runs on loopback)
            files = [c.predict(args.dataset, args.size, api_name="/load_dataset")[0]["path"] for c in clients]
            explorers = [Client(url, verbose=False, ssl_verify=False) for _ in range(args.explorers)]
            go = threading.Barrier(args.students + args.explorers + 1)
            stop_at = [0.0]

            def student(index: int) -> None:
                record = {"student": index, "positions": [], "error": None}
                go.wait()
                pressed = time.perf_counter()
                try:
                    job = clients[index].submit(handle_file(files[index]), strategy=args.strategy, epochs=args.epochs,
                                                api_name="/finetune")
                    while not job.done() and time.perf_counter() - pressed < args.timeout:
                        rank = job.status().rank
                        if rank is not None and (not record["positions"] or record["positions"][-1] != rank):
                            record["positions"].append(rank)
                        time.sleep(0.5)
                    final = job.result(timeout=5)[0]
                    record.update(seconds=time.perf_counter() - pressed, score=final.get("accuracy"),
                                  trained_on=final.get("trained_on"), status=final.get("status"))
                except Exception as exc:  # a result here: counted and shown
                    record.update(seconds=time.perf_counter() - pressed, error=f"{type(exc).__name__}: {str(exc)[:200]}")
                with lock:
                    students.append(record)

            def explorer(index: int) -> None:
                go.wait()
                n = index
                while time.perf_counter() < stop_at[0]:
                    endpoint = list(EXPLORE)[n % len(EXPLORE)]
                    n += 1
                    t0, error = time.perf_counter(), None
                    try:
                        explorers[index].predict(*EXPLORE[endpoint], api_name=endpoint)
                    except Exception as exc:
                        error = f"{type(exc).__name__}: {str(exc)[:200]}"
                    with lock:
                        calls.append((endpoint, time.perf_counter() - t0, error))
                    time.sleep(args.think)

            threads = ([threading.Thread(target=student, args=(i,), daemon=True) for i in range(args.students)]
                       + [threading.Thread(target=explorer, args=(i,), daemon=True) for i in range(args.explorers)])
            for thread in threads:
                thread.start()
            stop_at[0] = time.perf_counter() + args.duration
            go.wait()
            for thread in threads:
                thread.join(args.timeout + 60)
            server_rss, workers_rss = _tree_peak_rss(proc.pid)
            for client in clients + explorers:
                client.close()
    finally:
        if ray_cli:
            subprocess.run([ray_cli, "stop", "--force"], capture_output=True)

    students.sort(key=lambda r: r["student"])
    done = [r for r in students if r["error"] is None]
    finish = sorted(r["seconds"] for r in done)
    print(f"\n{args.students} students pressed Train at once ({args.strategy}, {args.dataset}, {args.size}); "
          f"{args.workers if not args.ray else 'Ray'} worker(s)")
    print(f"models after (s): {', '.join(f'{s:.0f}' for s in finish)}")
    print(f"last model after {finish[-1]:.1f} s" if finish else "no model", f"; {len(students) - len(done)} failed")
    spread = Counter(r.get("trained_on") for r in done)
    print("trained on: " + ", ".join(f"{k}: {v}" for k, v in spread.items()))
    shown = [r["positions"] for r in students if r["positions"]]
    print(f"queue positions shown to {len(shown)} students (e.g. {shown[-1] if shown else '-'})")
    rows, per_endpoint = [], {}
    for endpoint in EXPLORE:
        ok = [s for e, s, err in calls if e == endpoint and err is None]
        errors = [err for e, _, err in calls if e == endpoint and err is not None]
        target = TARGETS.get(endpoint)
        p95 = percentile(ok, 95)
        verdict = "" if target is None else ("ok" if p95 < target and not errors else f"target p95 < {target:g} s")
        per_endpoint[endpoint] = {"calls": len(ok) + len(errors), "errors": len(errors), "p50_s": percentile(ok, 50),
                                  "p95_s": p95, "error_samples": errors[:3]}
        rows.append([endpoint, len(ok) + len(errors), len(errors), percentile(ok, 50), p95, verdict])
    print(table(rows, ["endpoint", "calls", "errors", "p50 s", "p95 s", "target"]))
    for r in students:
        if r["error"]:
            print(f"  student {r['student']}: {r['error']}")
    print(f"peak RSS: server {server_rss / 2**20:.0f} MiB, training workers {workers_rss / 2**20:.0f} MiB (sum)")
    results = {"benchmark": "classroom", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
               "students": students, "last_model_s": finish[-1] if finish else None, "failed": len(students) - len(done),
               "trained_on": dict(spread), "explorers": per_endpoint, "server_peak_rss_bytes": server_rss,
               "workers_peak_rss_bytes": workers_rss}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
