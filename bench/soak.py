"""Soak: a flood of made-up session ids, then many short browser sessions against ``python app.py``
on loopback, then idle: does the server give back its threads and memory once the sessions end?

The phases, each followed by the server's resident memory (VmRSS) and threads from /proc:

1. idle: the app started and one warm-up session used every endpoint below (models loaded), then
   its grace period passed;
2. flood: ``--flood`` requests, each naming a session id nobody opened (half a query string on
   ``/robots.txt``, half a heartbeat opened and dropped), as a careless or hostile loop sends them;
3. sessions: ``--sessions`` short sessions, ``--concurrency`` at a time, each as a page makes it:
   its heartbeat opened, ``/tokenize`` and ``/classify`` (which reads the page's ``gr.State``), the
   heartbeat closed (the tab closed);
4. idle again: once every session's grace period (``--grace-s``, given to the app as
   LAB_SESSION_GRACE_MINUTES) has passed and the reaper has ended them.

The target: threads where they were after the flood, and memory back within 10% of phase 1 at
the end. Calls go straight to Gradio's queue (``/gradio_api/queue/join``) with httpx, as the page
does, so the client's own cost stays small beside the server's. Bounded by its arguments; only
loopback; it stops the app it started.

    python -m bench.soak                       # 10,000 made-up ids, 2,000 sessions, 30 s grace
    python -m bench.soak --flood 1000 --sessions 200 --grace-s 10
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import begin, bench_parser, default_out, model_overrides, served_app, table, write_results

CALLS = {"tokenize": ("Unbelievably, the gardeners watered 1,000 tomatoes!",),
         "classify": ("I expected to hate it, but I loved every minute.",)}


def server_status(pid: int) -> dict:
    """The server's resident memory (MiB) and threads now, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"])}


class Page:
    """What the page knows of the app: each endpoint's event id and inputs (State inputs travel as
    None, as the page sends them; inputs not given take their component's default)."""

    def __init__(self, url: str):
        import httpx

        config = httpx.get(f"{url}config", timeout=60).json()
        components = {c["id"]: c for c in config["components"]}
        self.url, self.events = url, {}
        for dep in config["dependencies"]:
            if dep.get("api_name"):
                self.events[dep["api_name"]] = (dep["id"], [components[i] for i in dep["inputs"]])

    def data(self, api_name: str, values: tuple) -> tuple[int, list]:
        fn_index, inputs = self.events[api_name]
        given, data = list(values), []
        for component in inputs:
            if component["type"] == "state":
                data.append(None)
            else:
                data.append(given.pop(0) if given else component.get("props", {}).get("value"))
        return fn_index, data

    def call(self, http, api_name: str, values: tuple, session_hash: str) -> bool:
        """One event through the queue, as the page sends it; True when it completed without an error."""
        fn_index, data = self.data(api_name, values)
        joined = http.post(f"{self.url}gradio_api/queue/join", json={
            "data": data, "fn_index": fn_index, "event_data": None, "session_hash": session_hash,
            "trigger_id": None})
        if joined.status_code != 200:
            return False
        with http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and '"process_completed"' in line:
                    return bool(json.loads(line[5:]).get("success"))
        return False


def session(page: Page, index: int) -> int:
    """One short session: heartbeat open, two calls, tab closed. The calls that failed."""
    import httpx

    key = f"soak{index}x{secrets.token_hex(6)}"
    failed = 0
    with httpx.Client(timeout=120) as http:
        with http.stream("GET", f"{page.url}gradio_api/heartbeat/{key}") as heartbeat:
            next(heartbeat.iter_lines())
            for api_name, values in CALLS.items():
                failed += not page.call(http, api_name, values, key)
    return failed  # leaving the heartbeat is closing the tab: Gradio runs the page's unload


def made_up_ids(url: str, start: int, count: int) -> None:
    import httpx

    with httpx.Client(timeout=30) as http:
        for i in range(start, start + count):
            if i % 2:
                http.get(f"{url}robots.txt?session_hash=madeup{i}")
            else:
                with http.stream("GET", f"{url}gradio_api/heartbeat/madeup{i}") as response:
                    next(response.iter_lines())


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--flood", type=int, default=10_000, help="Requests naming made-up session ids.")
    parser.add_argument("--sessions", type=int, default=2000, help="Short sessions, one after another per worker.")
    parser.add_argument("--concurrency", type=int, default=8, help="Sessions (and flood loops) at once.")
    parser.add_argument("--grace-s", type=float, default=30.0,
                        help="The app's grace period after a session's last connection (LAB_SESSION_GRACE_MINUTES).")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="Seconds to wait for the first page.")
    parser.add_argument("--out", type=Path, default=default_out("soak"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    overrides, notes = model_overrides(["classification"])
    runs = Path(tempfile.mkdtemp(prefix="bench-soak-runs-"))
    os.environ.update(LAB_SESSION_GRACE_MINUTES=str(args.grace_s / 60), LAB_RUNS_DIR=str(runs))
    settle_s = args.grace_s + 30  # the last clocks, then the reaper hands the memory back (every 15 s at most)

    phases: dict[str, dict] = {}
    with served_app("soak", overrides, args.startup_timeout) as (url, proc, _):
        page = Page(url)
        assert session(page, -1) == 0, "the warm-up session's calls failed: see the app log"
        time.sleep(settle_s)
        phases["idle"] = server_status(proc.pid)
        print("idle:", phases["idle"], flush=True)

        t = time.perf_counter()
        per = args.flood // args.concurrency
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda k: made_up_ids(url, k * per, per), range(args.concurrency)))
        phases["after flood"] = {**server_status(proc.pid), "seconds": time.perf_counter() - t}
        print("after flood:", phases["after flood"], flush=True)

        t = time.perf_counter()
        peak = dict(phases["after flood"])
        done = threading.Event()

        def watch() -> None:  # the peak while sessions run, sampled
            while not done.wait(1.0):
                now = server_status(proc.pid)
                for key in ("rss_mib", "threads"):
                    peak[key] = max(peak[key], now[key])

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            failed = sum(pool.map(lambda i: session(page, i), range(args.sessions)))
        done.set()
        watcher.join()
        phases["sessions"] = {**server_status(proc.pid), "seconds": time.perf_counter() - t, "failed_calls": failed}
        phases["sessions peak"] = {k: peak[k] for k in ("rss_mib", "threads")}
        print("after sessions:", phases["sessions"], "peak:", phases["sessions peak"], flush=True)

        time.sleep(settle_s)
        phases["idle again"] = server_status(proc.pid)
        left = sorted(p.name for p in runs.iterdir() if p.is_dir())
        print("idle again:", phases["idle again"], flush=True)

    idle, end = phases["idle"], phases["idle again"]
    ratio = end["rss_mib"] / idle["rss_mib"]
    print(f"\n{args.flood:,} made-up ids, {args.sessions:,} sessions ({phases['sessions']['failed_calls']} failed "
          f"calls), grace {args.grace_s:g} s")
    print(table([[name, p["rss_mib"], p["threads"]] for name, p in phases.items()], ["phase", "RSS MiB", "threads"]))
    print(f"memory at the end / idle: {ratio:.3f} (target <= 1.10); session folders left: {len(left)}")
    results = {"benchmark": "soak", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
               "models": notes, "phases": phases, "end_over_idle_rss": ratio, "session_folders_left": len(left)}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
