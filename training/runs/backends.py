"""Where training runs: worker processes beside the server (the default), Ray on a cluster, or a
thread of this process. All take a JobSpec and give back a training.runs.jobs.Job.

- ``LocalWorkers``: ``LAB_MAX_TRAININGS`` processes (``python -m training.runs.worker``), each training
  one run at a time, the runs taken in the order they came. A worker that dies (killed, out of
  memory) fails its run with a message and is started again for the next; the server goes on.
- ``RayBackend`` (``LAB_RAY_ADDRESS``): each run is a Ray task on the cluster; its progress comes
  back through a Ray queue and its files (best/, metrics.json, data/) as one zip, unpacked into the
  session's folder on this server, so the cluster's machines need no shared disk. The code travels
  with the tasks, with the lab's words (assets/i18n), so an error made on a node is a Message too.
- ``ThreadBackend`` (``LAB_TRAIN_BACKEND=thread``): in this process, for hosts that cannot start
  processes; a training then shares the server's interpreter.

An error raised in a worker process or on a Ray node reaches the server as the same exception (it is
pickled back; a lab.i18n Message in it keeps its key and values), so the tab says it in the student's
language as it would a local one.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import replace
from multiprocessing.connection import Listener
from pathlib import Path

from lab.i18n import msg
from lab.settings import Settings
from training.runs.jobs import Job, JobSpec, execute, write_zip, zip_directory

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
WORKER_START_S = 120  # a worker's imports on a busy 2-core machine


class WorkerDied(RuntimeError):
    pass


class ThreadBackend:
    name = "thread"
    parallel = 1  # runs in one interpreter share accelerate's process state: one at a time

    def submit(self, spec: JobSpec) -> Job:
        job = Job(spec)

        def run():
            try:
                job.finish(execute(spec, job.events.put, job.cancelled.is_set))
            except BaseException as exc:  # shown by the watcher
                job.finish(error=exc)

        threading.Thread(target=run, daemon=True, name="training-job").start()
        return job

    def close(self) -> None:
        pass


class _Worker:
    """One worker process and its connection; started on first use and again after it dies."""

    def __init__(self, threads: int):
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.conn = None

    def ensure(self):
        if self.conn is not None and self.proc is not None and self.proc.poll() is None:
            return self.conn
        self.stop()
        key = secrets.token_bytes(32)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        # The key goes in the environment, not on the command line, where any user's `ps` would see it.
        env = {**os.environ, "LAB_WORKER_KEY": key.hex(),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        host, port = listener.address
        self.proc = subprocess.Popen([sys.executable, "-m", "training.runs.worker", f"{host}:{port}", str(self.threads)], cwd=ROOT, env=env)
        # accept() has no timeout: close the listener if the worker dies or hangs before connecting
        watchdog = threading.Timer(WORKER_START_S, listener.close)
        watchdog.start()
        try:
            self.conn = listener.accept()
            if self.conn.recv() != ("ready",):
                raise WorkerDied("a training worker answered with something else than 'ready'")
        except (OSError, EOFError) as exc:
            self.stop()
            raise WorkerDied("a training worker did not start: see the server's log") from exc
        finally:
            watchdog.cancel()
            listener.close()
        log.info("training worker started (pid %d)", self.proc.pid)
        return self.conn

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


class LocalWorkers:
    """``workers`` training processes beside the server, fed from one first-come-first-served queue."""

    name = "local worker processes"

    def __init__(self, workers: int = 1, threads_per_worker: int = 1):
        self.workers = [_Worker(threads_per_worker) for _ in range(max(1, workers))]
        self._pending: collections.deque[Job] = collections.deque()
        self._running: set[Job] = set()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, args=(w,), daemon=True, name=f"training-worker-{i}")
                         for i, w in enumerate(self.workers)]
        for thread in self._threads:
            thread.start()

    @property
    def parallel(self) -> int:
        """Runs that train at once."""
        return len(self.workers)

    def submit(self, spec: JobSpec) -> Job:
        job = Job(spec)
        with self._ready:
            self._pending.append(job)
            self._renumber()
            self._ready.notify()
        return job

    def _renumber(self) -> None:  # with the lock held
        for i, waiting in enumerate(self._pending):
            waiting.position = i + 1

    def _next(self) -> Job | None:
        with self._ready:
            while not self._pending and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            job = self._pending.popleft()
            job.position = 0
            self._running.add(job)
            self._renumber()
            return job

    def ahead_seconds(self) -> float:
        """How long a run submitted now would wait: the time left of the runs training and queued
        (each run's own estimate, training/runs/jobs.py), shared among the workers."""
        with self._ready:
            jobs = [*self._running, *self._pending]
        return sum(job.remaining_s() for job in jobs if job.running) / len(self.workers)

    def runs_ahead(self) -> int:
        with self._ready:
            return sum(job.running for job in (*self._running, *self._pending))

    def _serve(self, worker: _Worker) -> None:
        try:
            worker.ensure()  # started now, so the first run does not wait for its imports
        except WorkerDied as exc:
            log.warning("%s; trying again with the first run", exc)
        while (job := self._next()) is not None:
            if job.cancelled.is_set():
                job.finish(error=_cancelled_before_start())
                with self._ready:
                    self._running.discard(job)
                continue
            try:
                conn = worker.ensure()
                job._on_cancel = lambda conn=conn: _send_quietly(conn, ("cancel",))
                conn.send(("job", job.spec))
                if job.cancelled.is_set():  # Cancel pressed while the job was being sent
                    _send_quietly(conn, ("cancel",))
                while True:
                    kind, payload = _unpack(conn.recv())
                    if kind == "event":
                        job.note(payload)
                    elif kind == "done":
                        job.finish(payload)
                        break
                    elif kind == "error":
                        job.finish(error=payload)
                        break
            except (EOFError, OSError, WorkerDied) as exc:
                code = worker.proc.poll() if worker.proc is not None else None
                log.warning("a training worker stopped during a run (exit code %s): %s", code, exc)
                worker.stop()
                job.finish(error=WorkerDied(msg("msg.training.backends.worker_died")))
            finally:
                job._on_cancel = None
                with self._ready:
                    self._running.discard(job)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for worker in self.workers:
            worker.stop()


def _unpack(message: tuple) -> tuple[str, object]:
    return (message[0], message[1] if len(message) > 1 else None)


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except OSError:  # the worker is gone: its run ends with an error anyway
        pass


def _cancelled_before_start() -> Exception:
    from lab.errors import LabInputError

    return LabInputError(msg("msg.training.backends.cancelled_before_start"))


# ------------------------------------------------------------------------------------- Ray


def _ray_code() -> Path:
    """What a Ray node runs: lab/, training/ and patches.py, and the lab's words (assets/i18n: errors and
    notices are lab.i18n Messages, made on the node from the catalog), in one folder shaped as the project is."""
    folder = Path(tempfile.mkdtemp(prefix="lab-ray-code-"))
    for part in ("lab", "training", "assets/i18n"):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "patches.py", folder / "patches.py")
    return folder


def ray_task(spec: JobSpec, events, stop):
    """What a Ray worker runs: the same ``execute`` in a scratch folder, then the run's files as bytes."""
    import ray

    with tempfile.TemporaryDirectory(prefix="lab-ray-run-") as scratch:
        local = replace(spec, output_dir=str(Path(scratch) / "run"), archive=None)
        result = execute(local, events.put, lambda: ray.get(stop.is_set.remote()))
        result.extra["node"] = ray.get_runtime_context().get_node_id()  # which machine trained it
        buffer = io.BytesIO()
        zip_directory(Path(local.output_dir), buffer)
        return result, buffer.getvalue()


class _Flag:
    """A cancel flag the server sets and the Ray task polls between steps."""

    def __init__(self):
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


class RayBackend:
    name = "Ray"
    parallel = 2  # as many as the curves ask at once: the cluster places them

    def __init__(self, address: str, num_cpus: float = 1.0):
        import ray
        from ray.util.queue import Queue

        if not ray.is_initialized():
            # the project's code travels with each task; the nodes need requirements.txt installed
            code = _ray_code()
            try:
                ray.init(address=address, runtime_env={"working_dir": str(code)}, log_to_driver=False,
                         logging_level=logging.WARNING)
            finally:  # uploaded to the cluster by init
                shutil.rmtree(code, ignore_errors=True)
        self._ray, self._queue = ray, Queue
        self._task = ray.remote(num_cpus=num_cpus, max_retries=0)(ray_task)
        self._flag = ray.remote(num_cpus=0)(_Flag)
        log.info("training on the Ray cluster at %s (%s CPUs)", address, ray.cluster_resources().get("CPU"))

    def submit(self, spec: JobSpec) -> Job:
        ray = self._ray
        job = Job(spec)
        events, flag = self._queue(actor_options={"num_cpus": 0}), self._flag.remote()
        job._on_cancel = lambda: flag.set.remote()
        ref = self._task.remote(spec, events, flag)

        def relay():
            try:
                while True:
                    ready, _ = ray.wait([ref], timeout=0.2)
                    while not events.empty():
                        job.events.put(events.get())
                    if ready:
                        break
                result, files = ray.get(ref)
                job.finish(_unpack_run(result, files, spec))
            except Exception as exc:  # the task's own error comes wrapped: show its cause
                job.finish(error=getattr(exc, "cause", None) or exc)
            finally:
                for actor in (events.actor, flag):
                    ray.kill(actor)

        threading.Thread(target=relay, daemon=True, name="ray-job").start()
        return job

    def close(self) -> None:
        pass


def _unpack_run(result, files: bytes, spec: JobSpec):
    """The run's files from the cluster into the session's folder; the result's paths pointed there."""
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(files)) as archive:
        archive.extractall(out)
    old = Path(result.output_dir)
    result.output_dir = out
    result.best_dir = out / Path(result.best_dir).relative_to(old)
    if result.metrics_path is not None:
        result.metrics_path = out / Path(result.metrics_path).relative_to(old)
    if spec.archive:
        write_zip(result.best_dir, Path(spec.archive))
    return result


def from_settings(settings: Settings):
    """The backend a host chose: Ray with LAB_RAY_ADDRESS, else LAB_TRAIN_BACKEND (process or thread)."""
    if settings.ray_address:
        return RayBackend(settings.ray_address)
    if settings.train_backend == "thread":
        return ThreadBackend()
    return LocalWorkers(settings.max_concurrent_trainings, settings.worker_threads)


_SHARED: dict[tuple, object] = {}
_SHARED_LOCK = threading.Lock()


def shared(settings: Settings):
    """One backend per server for the runs students ask for (the Fine-tune tab, the CLI, the API), so
    ``LAB_MAX_TRAININGS`` bounds them together; started on the first training. The learning curves
    have their own (``for_curves``)."""
    key = (settings.ray_address, settings.train_backend, settings.max_concurrent_trainings, settings.worker_threads)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = from_settings(settings)
        return _SHARED[key]


_CURVES: dict[tuple, object] = {}


def for_curves(settings: Settings):
    """The learning curves' own backend: ``curves_workers`` processes beside the fine-tuning ones,
    the cores shared between them, so a class's curves (one shared computation per sample,
    training/transfer/shared_curves.py) never wait behind its fine-tunes, nor hold a fine-tuning slot.
    In-process with LAB_TRAIN_BACKEND=thread; Ray's cluster shares its own capacity."""
    if settings.ray_address:
        return shared(settings)
    workers = max(1, settings.curves_workers)
    key = (settings.train_backend, settings.worker_threads, workers)
    with _SHARED_LOCK:
        if key not in _CURVES:
            _CURVES[key] = (ThreadBackend() if settings.train_backend == "thread"
                            else LocalWorkers(workers, max(1, settings.worker_threads // workers)))
        return _CURVES[key]
