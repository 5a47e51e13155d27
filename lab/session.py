"""Models that belong to one browser session (fine-tuned there), kept in a gr.State value.

Shape: ``{"models": {name: {"task": task, "dir": directory}}, "active": {task: name}}``.
Plain data, so it can live in a gr.State and be tested without a browser. The newest model
fine-tuned for a task becomes that task's active model: a later call that leaves the model at
its default (e.g. ``/classify`` from the API) uses it; picking another model in a dropdown
makes that one active instead.
"""

from __future__ import annotations

import contextlib
import copy
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path


def empty() -> dict:
    return {"models": {}, "active": {}}


def _normal(state: dict | None) -> dict:
    return state if state and "models" in state else empty()


def add_model(state: dict | None, task: str, name: str, directory: str) -> dict:
    """A new state with the model added and made active for its task."""
    new = copy.deepcopy(_normal(state))
    new["models"][name] = {"task": task, "dir": str(directory)}
    new["active"][task] = name
    return new


def set_active(state: dict | None, task: str, choice: str | None) -> dict:
    new = copy.deepcopy(_normal(state))
    if choice:
        new["active"][task] = choice
    return new


def models_for(state: dict | None, task: str) -> dict[str, str]:
    """{name: directory} of this session's models for ``task``, oldest first."""
    return {name: m["dir"] for name, m in _normal(state)["models"].items() if m["task"] == task}


def active(state: dict | None, task: str) -> str | None:
    return _normal(state)["active"].get(task)


def directories(state: dict | None) -> list[str]:
    return [m["dir"] for m in _normal(state)["models"].values()]


# Gradio's session hashes are short random tokens; anything else is refused as a folder name.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def session_dir(runs_dir: Path, session_hash: str | None) -> Path:
    """The one folder a browser session's runs live in (created on demand)."""
    if not session_hash or not _SESSION_ID.match(session_hash):
        session_hash = "anonymous"
    directory = Path(runs_dir) / session_hash
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def remove_session_dir(runs_dir: Path, session_hash: str | None) -> bool:
    """Delete a closed session's folder and everything it trained."""
    if not session_hash or not _SESSION_ID.match(session_hash):
        return False
    directory = Path(runs_dir) / session_hash
    if directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)
        return True
    return False


# The model zips Gradio serves from its cache (tabs/finetune.py names them run-N-<session>.zip).
CACHED_ZIPS = "*/run-*.zip"


def sweep(runs_dir: Path, max_age_hours: float, now: float | None = None, cache_dir: Path | None = None) -> list[str]:
    """Remove session folders untouched for longer than ``max_age_hours`` (crashed or abandoned
    sessions), and as old copies of their zips in Gradio's ``cache_dir``."""
    runs_dir = Path(runs_dir)
    cutoff = (now or time.time()) - max_age_hours * 3600
    removed = []
    for child in runs_dir.iterdir() if runs_dir.is_dir() else ():
        if child.is_dir() and child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    for archive in Path(cache_dir).glob(CACHED_ZIPS) if cache_dir else ():
        if archive.stat().st_mtime < cutoff:
            archive.unlink(missing_ok=True)
            removed.append(archive.name)
    return removed


def cached_zips(cache_dir: str | Path, session_hash: str) -> list[Path]:
    """The session's model zips in Gradio's cache (one folder per file). Other sessions' endings
    remove folders meanwhile, which ``Path.glob`` does not survive: each folder is read on its own."""
    suffix, found = f"-{session_hash}.zip", []
    with contextlib.suppress(OSError):
        for folder in Path(cache_dir).iterdir():
            with contextlib.suppress(OSError):
                found += [path for path in folder.iterdir() if path.name.startswith("run-") and path.name.endswith(suffix)]
    return found


class SessionFiles:
    """Files outside a session's folder that it holds (its uploads in Gradio's cache). Gradio keeps
    one copy per content, so two students who upload the same CSV share a file: it goes with the
    last session that holds it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}  # path -> sessions

    def add(self, session_hash: str, path: str | Path) -> None:
        with self._lock:
            self._held.setdefault(str(path), set()).add(session_hash)

    def release(self, session_hash: str) -> list[str]:
        """Let go of the session's files; return those that no session holds any more."""
        free = []
        with self._lock:
            for path, holders in list(self._held.items()):
                holders.discard(session_hash)
                if not holders:
                    del self._held[path]
                    free.append(path)
        return free


class Reaper:
    """Deletes a browser session's files once it is really over, not when its heartbeat drops.

    Gradio treats a closed heartbeat connection as a closed tab. A flaky Wi-Fi, a laptop lid or a
    proxy closes it too, and the page goes on (the browser reconnects). So a session's files go
    only when nothing of it is connected (its heartbeat, a request in flight) and it has been quiet
    for ``grace_s``: a reconnect, or any request, restarts the clock, and nothing is deleted from
    under a request. ``remove(session_hash)`` does the deleting.
    """

    def __init__(self, remove: Callable[[str], None], grace_s: float):
        self.remove, self.grace_s = remove, grace_s
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}  # open connections per session
        self._seen: dict[str, float] = {}  # monotonic time of the last sign of life
        self._timers: dict[str, threading.Timer] = {}

    def connected(self, session_hash: str) -> None:
        with self._lock:
            self._live[session_hash] = self._live.get(session_hash, 0) + 1
            self._seen[session_hash] = time.monotonic()

    def disconnected(self, session_hash: str) -> None:
        with self._lock:
            left = self._live.get(session_hash, 1) - 1
            self._live[session_hash] = max(0, left)
            self._seen[session_hash] = time.monotonic()
            if left <= 0:
                self._schedule(session_hash, self.grace_s)

    def closed(self, session_hash: str) -> None:
        """Gradio says the tab closed (its unload event): the clock starts unless something is connected."""
        with self._lock:
            self._seen[session_hash] = time.monotonic()
            if not self._live.get(session_hash):
                self._schedule(session_hash, self.grace_s)

    def connections(self, session_hash: str) -> int:
        """Requests of the session running now (its heartbeat included)."""
        with self._lock:
            return self._live.get(session_hash, 0)

    def pending(self) -> list[str]:
        """Sessions whose clock is running."""
        with self._lock:
            return sorted(self._timers)

    def _schedule(self, session_hash: str, delay: float) -> None:  # with the lock held
        old = self._timers.pop(session_hash, None)
        if old is not None:
            old.cancel()
        timer = threading.Timer(max(0.0, delay), self._check, args=(session_hash,))
        timer.daemon = True
        self._timers[session_hash] = timer
        timer.start()

    def _check(self, session_hash: str) -> None:
        with self._lock:
            if self._timers.get(session_hash) is not threading.current_thread():
                return  # rescheduled meanwhile
            del self._timers[session_hash]
            if self._live.get(session_hash):
                return  # back again: its next disconnect starts a new clock
            quiet = time.monotonic() - self._seen.get(session_hash, 0.0)
            if quiet < self.grace_s:
                self._schedule(session_hash, self.grace_s - quiet)
                return
            self._live.pop(session_hash, None)
            self._seen.pop(session_hash, None)
        self.remove(session_hash)


# Where a request names its browser session: Gradio's heartbeat path and its queue's query string.
_HEARTBEAT = re.compile(r"/heartbeat/([A-Za-z0-9_-]{1,64})/?$")
_QUERY = re.compile(r"(?:^|&)session_hash=([A-Za-z0-9_-]{1,64})(?:&|$)")


def request_session(path: str, query: str) -> str | None:
    """The session a request belongs to, from its path or query string (None: no session named)."""
    match = _HEARTBEAT.search(path) or _QUERY.search(query)
    return match.group(1) if match else None


class SessionActivity:
    """ASGI middleware: every request that names a session counts as that session connected while
    it runs (the heartbeat for as long as the tab holds it open), for the ``Reaper``."""

    def __init__(self, app, reaper: Reaper):
        self.app, self.reaper = app, reaper

    async def __call__(self, scope, receive, send):
        session_hash = None
        if scope.get("type") == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            session_hash = request_session(scope.get("path", ""), query)
        if session_hash is None:
            return await self.app(scope, receive, send)
        self.reaper.connected(session_hash)
        try:
            return await self.app(scope, receive, send)
        finally:
            self.reaper.disconnected(session_hash)
