"""A training worker: a process of its own that trains the runs the server sends it, one at a time.

``python -m training.runs.worker ADDRESS THREADS`` connects back to the server (a multiprocessing
connection, authenticated with the key in ``LAB_WORKER_KEY``), trains with THREADS torch threads
(the server's ``worker_threads`` setting), then loops: receive a job, train it, stream
its progress events back, send the result or the error. The server's event loop never shares a
GIL with a training, and a worker that crashes or is killed takes only its own run with it.

Messages, all pickled tuples:
  server -> worker: ("job", JobSpec) | ("cancel",)
  worker -> server: ("ready",) | ("event", ProgressEvent) | ("done", TrainResult) | ("error", Exception)
"""

from __future__ import annotations

import logging
import os
import sys
from multiprocessing.connection import Client

log = logging.getLogger("training.runs.worker")


def serve(address: tuple[str, int], key: bytes, threads: int = 1) -> None:
    from lab import logs

    logs.configure_server()  # one line per load, no progress bars, in the server's log (stderr is shared)
    import torch

    from training.runs.jobs import execute
    from training.tasks import tasks  # noqa: F401 (what every run imports: paid while the worker starts, not by its first run)

    torch.set_num_threads(threads)
    with Client(address, authkey=key) as conn:
        conn.send(("ready",))
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the server went away
                return
            if message[0] != "job":
                continue  # a cancel for a run that has already ended
            spec = message[1]
            cancelled = False

            def should_stop() -> bool:
                nonlocal cancelled
                while not cancelled and conn.poll():
                    cancelled = conn.recv()[0] == "cancel"
                return cancelled

            try:
                result = execute(spec, lambda event: conn.send(("event", event)), should_stop)
            except Exception as exc:  # sent to the server, which shows it; the worker takes the next job
                log.debug("run failed", exc_info=True)
                conn.send(("error", _picklable(exc)))
            else:
                result.extra["worker"] = f"worker process {os.getpid()}"  # which worker trained it
                conn.send(("done", result))


def _picklable(exc: Exception) -> Exception:
    """The exception itself when it crosses a pipe intact (the lab's own errors do), else its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    serve((host, int(port)), bytes.fromhex(os.environ["LAB_WORKER_KEY"]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
