"""The learning curves as a class's shared result: computed once per (data, base model, settings),
watched by every session that asks, kept in memory and under ``<cache_dir>/curves``.

A class pressing "Train the curves" on the same sample starts one computation: the first request
starts it as a job (training.runs.jobs.TrainingJob, its runs on the curves' own backend, so they never
queue behind the class's fine-tunes), later ones join it and see the same points arrive, and once
it is complete every later request is answered from the cache. Cancel takes a session off the
computation it watches; the computation stops when nobody watches it any more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from lab import atomic
from training.config import TrainConfig
from training.runs.jobs import TrainingJob
from training.transfer import learning_curves as curves
from training.transfer.learning_curves import CurvePoint
from training.transfer.transfer import ViewData

log = logging.getLogger(__name__)

MEMORY_ENTRIES = 16  # a few hundred bytes each: a class's samples and uploads, many times over
# What a computation runs: work(on_point, should_stop) -> the points (training.transfer.learning_curves.learning_curves, bound).
Work = Callable[[Callable[[CurvePoint], None], Callable[[], bool]], list[CurvePoint]]


def request_key(data: ViewData, model: str, base: TrainConfig, series: list[str]) -> str:
    """Everything the curves depend on: the rows and labels of both splits, the base model's identity,
    the run settings (the host's time cap aside) and the curves' own constants, and the series asked."""
    digest = hashlib.sha256()
    for part in (data.train, data.val):
        for text, label in zip(part.texts, part.labels):
            digest.update(f"{label}\x00{text}\x00".encode())
        digest.update(b"\x01")
    settings = {k: v for k, v in dataclasses.asdict(base).items() if k != "max_train_minutes"}
    digest.update(json.dumps({"labels": data.label_names, "model": model, "series": sorted(series),
                              "config": settings, "sizes": curves.SIZES, "examples_per_run": curves.EXAMPLES_PER_RUN,
                              "learning_rate": curves.LEARNING_RATE}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


class Computation:
    """One set of curves being computed (or read from the cache), and the sessions watching it."""

    def __init__(self, key: str, total: int, points: list[CurvePoint] | None = None):
        self.key, self.total = key, total
        self.points: list[CurvePoint] = list(points or [])
        self.cached = points is not None  # answered from the cache: nothing computed for this request
        self.error: BaseException | None = None
        self.finished = self.cached
        self.watchers: set[str] = set()
        self.job: TrainingJob | None = None
        self._changed = threading.Condition()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()  # async watchers (changed)

    def add(self, point: CurvePoint) -> None:
        with self._changed:
            self.points.append(point)
            self._notify()

    def end(self, error: BaseException | None = None) -> None:
        with self._changed:
            self.error, self.finished = error, True
            self._notify()

    def _notify(self) -> None:  # with self._changed held; called from the computation's thread
        self._changed.notify_all()
        for loop, event in self._waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # its event loop closed: that watcher went with it
                pass

    def wait(self, seen: int, timeout: float) -> list[CurvePoint]:
        """The points once there are more than ``seen`` or the computation ended (or ``timeout`` passed)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.points) > seen or self.finished, timeout)
            return list(self.points)

    async def changed(self, seen: int, timeout: float) -> list[CurvePoint]:
        """``wait`` for an async handler: the points once there are more than ``seen`` or the
        computation ended (or ``timeout`` passed), awaited on the event loop. A class of students
        watching one computation then holds no server thread each while the runs train."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._changed:
            if len(self.points) > seen or self.finished:
                return list(self.points)
            self._waiting.add(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass  # nothing new within the timeout: the caller looks again (has it been cancelled?)
        finally:
            with self._changed:
                self._waiting.discard(waiter)
        with self._changed:
            return list(self.points)

    @property
    def complete(self) -> bool:
        return self.finished and self.error is None and len(self.points) == self.total


class SharedCurves:
    """The server's learning curves: the cache, the running computations, who watches which."""

    def __init__(self, cache_dir: str | Path | None):
        self.directory = Path(cache_dir) / "curves" if cache_dir is not None else None
        self._memory: OrderedDict[str, list[CurvePoint]] = OrderedDict()
        self._running: dict[str, Computation] = {}
        self._watching: dict[str, Computation] = {}  # session -> the computation it watches
        self._lock = threading.Lock()
        self.computed = 0  # computations started here (the rest were joined or cached)

    # ------------------------------------------------------------------------- the cache
    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.json" if self.directory is not None else None

    def cached(self, key: str) -> list[CurvePoint] | None:
        with self._lock:
            return self._cached(key)

    def _cached(self, key: str) -> list[CurvePoint] | None:  # with the lock held
        if key in self._memory:
            self._memory.move_to_end(key)
            return list(self._memory[key])
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            points = [CurvePoint(**p) for p in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError) as exc:  # a damaged entry is computed again
            log.warning("ignoring the cached learning curves %s: %s", path.name, exc)
            return None
        self._remember(key, points)
        return list(points)

    def _remember(self, key: str, points: list[CurvePoint]) -> None:
        self._memory[key] = list(points)
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)

    def _store(self, key: str, points: list[CurvePoint]) -> None:
        path = self._path(key)
        if path is not None:  # written whole: a reader never finds half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(path, [dataclasses.asdict(p) for p in points])
        with self._lock:
            self._remember(key, points)

    # -------------------------------------------------------------------- computations
    def join(self, key: str, session: str, total: int, work: Work) -> Computation:
        """The curves for ``key`` as ``session`` will watch them: from the cache when complete there,
        else the computation already running for them, else a new one started as a job."""
        with self._lock:
            current = self._watching.get(session)
            if current is not None and current.key != key:
                self._leave(session)  # a session watches one set of curves at a time (the same twice: kept)
            points = self._cached(key)
            if points is not None:
                return Computation(key, len(points), points)
            computation = self._running.get(key)
            if computation is None or computation.job.cancelled.is_set():  # none, or one stopping: a new one
                computation = self._running[key] = Computation(key, total)
                self.computed += 1
                computation.job = TrainingJob(lambda on_event, should_stop: self._compute(computation, work, should_stop))
                computation.job.start()
            computation.watchers.add(session)
            self._watching[session] = computation
            return computation

    def _compute(self, computation: Computation, work: Work, should_stop: Callable[[], bool]) -> list[CurvePoint]:
        try:
            points = work(computation.add, should_stop)
            if len(points) == computation.total:
                self._store(computation.key, points)
        except BaseException as exc:
            computation.end(exc)
            raise
        finally:
            with self._lock:
                if self._running.get(computation.key) is computation:
                    del self._running[computation.key]
        computation.end()
        return points

    def leave(self, session: str) -> bool:
        """``session`` stops watching (Cancel, or its page went away); the computation stops when nobody
        watches it. False when the session watched nothing."""
        with self._lock:
            return self._leave(session)

    def _leave(self, session: str) -> bool:  # with the lock held
        computation = self._watching.pop(session, None)
        if computation is None:
            return False
        computation.watchers.discard(session)
        if not computation.watchers and computation.job is not None and not computation.finished:
            computation.job.cancel()
        return True

    def watching(self, session: str, computation: Computation) -> bool:
        with self._lock:
            return self._watching.get(session) is computation
