"""Load: N concurrent gradio_client clients against ``python app.py`` on loopback, mixing the tabs.

Starts the app as a host would (a subprocess, offline, on a free port), lets every endpoint answer
once (model loading is a cold-start cost, not a load one: see bench/cold_start.py), then N client
threads, each with its own ``gradio_client.Client`` (its own session), call /tokenize, /fill_mask,
/classify, /ner and /qa in turn (each client starting at a different one), bounded by
``--calls-per-client`` and ``--duration``. Latency is the client's wall time for ``predict``:
queueing in the app included. Prints p50/p95 (nearest rank: of 20 calls, p95 is the 19th) and the
max per endpoint, the clients' first calls (all sent at the same instant) apart from the later
ones, and the errors.

Tasks without a shipped head run on the embedded encoder with a random head
(``LAB_MODEL_<TASK>`` pointed at a local folder); the output says which.

The clients share this process and the machine with the app. By default they are made with
``ssl_verify=False``: the URL is plain HTTP on loopback, so no certificate is ever checked, but
with gradio_client's default (True) httpx loads the system's CA bundle into a new SSL context
for every request (~80 ms of CPU here, twice per call), and 20 clients doing that in one
process on 2 cores measure mostly themselves. ``--ssl-verify`` restores the default.

A client's first call also makes Gradio set up its session on the server (a config for every
component of the page: ~33 ms each here, on the event loop), so 20 new clients calling at the
same instant wait for 20 of those first. ``--open-sessions`` lets each client make one
/tokenize call before the timed calls, to measure the load without that setup.

    python -m bench.load                      # 20 clients x 5 calls
    python -m bench.load --clients 40 --calls-per-client 10 --duration 300
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.common import (
    begin,
    bench_parser,
    default_out,
    median,
    model_overrides,
    peak_rss_bytes,
    percentile,
    served_app,
    table,
    write_results,
)

LIGHTHOUSE_Q = "Who was the last keeper?"
CALLS = {  # endpoint -> positional arguments (the rest take the components' defaults)
    "/tokenize": ("Unbelievably, the gardeners watered 1,000 tomatoes!",),
    "/fill_mask": ("The capital of France is [MASK].", 5),
    "/classify": ("I expected to hate it, but I loved every minute.",),
    "/ner": ("Angela Merkel visited Paris with Emmanuel Macron in 2019.", "simple"),
    "/qa": (LIGHTHOUSE_Q,),
}
TARGETS = {"/fill_mask": 1.0, "/classify": 1.0}  # the p95 target in seconds, with 0 errors


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--clients", type=int, default=20, help="Concurrent clients (threads, one session each).")
    parser.add_argument("--calls-per-client", type=int, default=5, help="Calls each client makes at most.")
    parser.add_argument("--duration", type=float, default=180.0,
                        help="Seconds after which clients start no new calls (calls under way finish).")
    parser.add_argument("--endpoints", default=",".join(CALLS), help="Comma-separated endpoints to mix.")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="Seconds to wait for the first page.")
    parser.add_argument("--ssl-verify", action="store_true",
                        help="Make the clients with gradio_client's default ssl_verify=True (see above).")
    parser.add_argument("--open-sessions", action="store_true",
                        help="Each client makes one untimed /tokenize call first, so its server session exists.")
    parser.add_argument("--out", type=Path, default=default_out("load"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    from gradio_client import Client

    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    overrides, notes = model_overrides()
    for note in notes:
        print("model:", note)

    with served_app("load", overrides, args.startup_timeout) as (url, proc, _):
        warm = Client(url, verbose=False, ssl_verify=args.ssl_verify)
        warmup_s = {}
        for endpoint in endpoints:  # first calls load the models
            t = time.perf_counter()
            warm.predict(*CALLS[endpoint], api_name=endpoint)
            warmup_s[endpoint] = time.perf_counter() - t
        warm.close()
        print("warm-up (first call, model loading included): "
              + ", ".join(f"{e} {s:.1f} s" for e, s in warmup_s.items()), flush=True)

        t = time.perf_counter()
        clients = [Client(url, verbose=False, ssl_verify=args.ssl_verify) for _ in range(args.clients)]
        if args.open_sessions:
            for client in clients:
                client.predict(*CALLS["/tokenize"], api_name="/tokenize")
        connect_s = time.perf_counter() - t
        records: list[tuple[str, float, str | None, int]] = []  # endpoint, seconds, error, call number
        lock = threading.Lock()
        start = threading.Barrier(args.clients + 1)
        deadline = [0.0]

        def worker(index: int, client) -> None:
            start.wait()
            for n in range(args.calls_per_client):
                if time.perf_counter() > deadline[0]:
                    break
                endpoint = endpoints[(index + n) % len(endpoints)]
                t0 = time.perf_counter()
                error = None
                try:
                    client.predict(*CALLS[endpoint], api_name=endpoint)
                except Exception as exc:  # an error is a result here: count it, keep going
                    error = f"{type(exc).__name__}: {str(exc)[:200]}"
                with lock:
                    records.append((endpoint, time.perf_counter() - t0, error, n))

        threads = [threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        t_load = time.perf_counter()
        deadline[0] = t_load + args.duration
        start.wait()
        for thread in threads:
            thread.join(args.duration + 600)
        wall = time.perf_counter() - t_load
        rss = peak_rss_bytes(proc.pid)
        for client in clients:
            client.close()

    rows, per_endpoint = [], {}
    for endpoint in endpoints:
        ok = [s for e, s, err, _ in records if e == endpoint and err is None]
        errors = [err for e, _, err, _ in records if e == endpoint and err is not None]
        # Clients' first calls all arrive in the same millisecond (the burst of a class pressing
        # Run at once); later calls are spread by the closed loop. Shown apart, as well as together.
        first = [s for e, s, err, n in records if e == endpoint and err is None and n == 0]
        later = [s for e, s, err, n in records if e == endpoint and err is None and n > 0]
        p50, p95 = percentile(ok, 50), percentile(ok, 95)
        target = TARGETS.get(endpoint)
        verdict = "" if target is None else ("ok" if p95 < target and not errors else f"target p95 < {target:g} s")
        per_endpoint[endpoint] = {"calls": len(ok) + len(errors), "errors": len(errors), "p50_s": p50, "p95_s": p95,
                                  "median_s": median(ok), "max_s": max(ok, default=float("nan")),
                                  "first_calls": len(first), "first_max_s": max(first, default=float("nan")),
                                  "later_p95_s": percentile(later, 95),
                                  "error_samples": errors[:3], "target_p95_s": target}
        rows.append([endpoint, len(ok) + len(errors), len(errors), p50, p95, max(ok, default=float("nan")),
                     max(first, default=float("nan")), percentile(later, 95), verdict])
    total = len(records)
    print(f"\n{args.clients} clients x up to {args.calls_per_client} calls, {total} calls in {wall:.1f} s "
          f"({total / wall:.2f} calls/s); clients connected in {connect_s:.1f} s"
          f"{' (sessions opened)' if args.open_sessions else ''}; app peak RSS {rss / 2**20:.0f} MiB")
    print(table(rows, ["endpoint", "calls", "errors", "p50 s", "p95 s", "max s", "first calls max s",
                       "later calls p95 s", "target"]))
    for endpoint, data in per_endpoint.items():
        for sample in data["error_samples"]:
            print(f"  error {endpoint}: {sample}")
    results = {"benchmark": "load", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
               "models": notes, "warmup_s": warmup_s, "connect_s": connect_s, "wall_s": wall, "calls": total,
               "calls_per_s": total / wall, "peak_rss_bytes": rss, "endpoints": per_endpoint,
               "app_concurrency": "app.py as shipped (see lab/settings.py: quick_workers, slow_workers, torch_threads)",
               "client_ssl_verify": args.ssl_verify, "sessions_opened_first": args.open_sessions}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
