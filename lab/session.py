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
import dataclasses
import heapq
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import Settings

log = logging.getLogger(__name__)


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


def valid_id(session_hash: str | None) -> bool:
    """Whether ``session_hash`` can name a session's folder."""
    return bool(session_hash) and bool(_SESSION_ID.match(session_hash))


def session_dir(runs_dir: Path, session_hash: str | None) -> Path:
    """The one folder a browser session's runs live in (created on demand)."""
    if not session_hash or not _SESSION_ID.match(session_hash):
        session_hash = "anonymous"
    directory = Path(runs_dir) / session_hash
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def session_settings(settings: Settings, session_hash: str | None) -> Settings:
    """``settings`` with the caches (tokenized data, encoder features) in the session's folder: what a
    session's runs compute from its data is user text in another form, and goes with the session."""
    return dataclasses.replace(settings, cache_dir=session_dir(settings.runs_dir, session_hash) / "cache")


# A session's folder inside Gradio's cache (the files it downloads), named in its own folder.
SERVED_NOTE = "served"
_SERVED = re.compile(r"^lab-[A-Za-z0-9_-]{16,64}$")
# Gradio keeps an upload at <cache>/<sha256 of a seed and its content>/<name> (gradio/route_utils.py upload_fn).
_UPLOAD_FOLDER = re.compile(r"^[0-9a-f]{64}$")
UPLOADS = "uploads"
_served_lock = threading.Lock()


def _served_name(own: Path) -> str | None:
    try:
        name = (own / SERVED_NOTE).read_text().strip()
    except OSError:
        return None
    return name if _SERVED.match(name) else None


def served_dir(runs_dir: Path, cache_dir: str | Path, session_hash: str | None) -> Path:
    """The session's folder in Gradio's cache, for the files it downloads (model zips, exports).

    Gradio serves a file there as it is; a file returned from elsewhere is copied into the cache for
    each download, and that copy outlives the session. The folder's name is random, never the
    session id (a download's URL is seen by whoever sees the page, and the id is the session), and
    is noted in the session's folder, where the session's end, and the next start after a crash,
    find it.
    """
    own = session_dir(runs_dir, session_hash)
    with _served_lock:
        name = _served_name(own)
        if name is None:
            name = f"lab-{secrets.token_urlsafe(24)}"
            (own / SERVED_NOTE).write_text(name)
    folder = Path(cache_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Gradio names an upload's folder by its content: a class given one CSV uploads it to one path at
# the same moment, so the first session to hand it in copies it and the served path lingers this
# long for the others before it is deleted (by the next upload handed in, or a session's end).
UPLOAD_LINGER_S = 60.0
# a served upload -> (when a session first copied it, the file's identity then). Gradio moves a new
# upload of the same content over the old path, so a file whose identity changed since is another
# upload, with its own linger, and is left alone.
_lingering: dict[Path, tuple[float, tuple[int, int]]] = {}


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def sweep_uploads(now: float | None = None) -> None:
    """Delete the served uploads whose linger is over: their paths reach nothing any more."""
    now = time.monotonic() if now is None else now
    with _served_lock:
        over = [(path, seen) for path, (since, seen) in _lingering.items() if now - since >= UPLOAD_LINGER_S]
        for path, _ in over:
            del _lingering[path]
    for path, seen in over:
        if _identity(path) != seen:
            continue  # uploaded again since: that upload is not over
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # Gradio's per-content folder, when nothing else is in it


def own_upload(runs_dir: Path, cache_dir: str | Path, session_hash: str | None, path: str | Path,
               now: float | None = None) -> Path:
    """The session's own copy of a file it handed in, in the session's folder.

    Gradio serves an upload to anyone who has its path, and any session can hand that path in.
    So the first time a session hands one in, it is copied into the session's folder: it goes with
    the session, and the served path is deleted ``UPLOAD_LINGER_S`` later (sessions that uploaded
    the same content meanwhile share that path and get their own copies); handing the same path in
    again gets the session's copy. Anything else in Gradio's cache (another session's downloads) is
    refused, as is an upload whose path is gone. A file outside the cache (a caller's own path in
    tests and the CLI, a sample copied into the session's folder) is used as it is.
    """
    now = time.monotonic() if now is None else now
    path, cache = Path(path), Path(cache_dir).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(cache):
        return path
    parts, folder = resolved.relative_to(cache).parts, session_dir(runs_dir, session_hash)
    if parts[0] == _served_name(folder):
        return resolved  # a file of the session's own downloads (a dataset it loaded)
    if len(parts) != 2 or not _UPLOAD_FOLDER.match(parts[0]):
        raise LabInputError(msg("msg.lab.session.upload_again"))
    sweep_uploads(now)
    own = folder / UPLOADS / parts[0] / parts[1]
    if not own.is_file():
        if not resolved.is_file():
            raise LabInputError(msg("msg.lab.session.upload_again"))
        own.parent.mkdir(parents=True, exist_ok=True)
        part = own.with_name(f".{own.name}.{secrets.token_hex(4)}")
        seen = _identity(resolved)
        shutil.copyfile(resolved, part)
        part.replace(own)  # whole or absent: two requests of the session may copy at once
        with _served_lock:
            if seen is not None and _lingering.get(resolved, (None, seen))[1] != seen:
                del _lingering[resolved]  # an earlier upload of this content: this one starts anew
            _lingering.setdefault(resolved, (now, seen))
    return own


def remove_session_dir(runs_dir: Path, session_hash: str | None, cache_dir: str | Path | None = None) -> bool:
    """Delete a closed session's folder and everything it trained, and its folder in ``cache_dir``."""
    if not valid_id(session_hash):
        return False
    sweep_uploads()
    directory = Path(runs_dir) / session_hash
    name = _served_name(directory) if cache_dir is not None else None
    if name is not None:
        shutil.rmtree(Path(cache_dir) / name, ignore_errors=True)
    if directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)
        return True
    return False


def sweep(runs_dir: Path, cache_dir: Path | None = None, max_age_s: float | None = None,
          now: float | None = None) -> list[str]:
    """Remove the session folders in ``runs_dir`` with their folders in Gradio's ``cache_dir``: at
    start, everything the server's last run left (its sessions, those in their grace period
    included, ended with it); with ``max_age_s``, only folders untouched for that long."""
    runs_dir = Path(runs_dir)
    cutoff = None if max_age_s is None else (now or time.time()) - max_age_s
    removed = []
    for child in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else ():
        if not child.is_dir() or (cutoff is not None and child.stat().st_mtime >= cutoff):
            continue
        if remove_session_dir(runs_dir, child.name, cache_dir):
            removed.append(child.name)
    return removed


_claims: list = []  # the open lock files: a lock lasts as long as this process


def claim(runs_dir: Path) -> bool:
    """Hold ``runs_dir`` for this server (an exclusive lock on a file in it, let go when the process
    ends); False while another running server holds it, whose sessions must not be swept."""
    try:
        import fcntl
    except ImportError:  # no flock here: the folder is taken to be this server's
        return True
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    handle = open(Path(runs_dir) / ".server.lock", "a")  # noqa: SIM115 (kept open: it is the lock)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _claims.append(handle)
    return True


class Reaper:
    """Deletes a browser session's files once it is really over, not when its heartbeat drops.

    Gradio treats a closed heartbeat connection as a closed tab. A flaky Wi-Fi, a laptop lid or a
    proxy closes it too, and the page goes on (the browser reconnects). So a session's files go
    only when nothing of it is connected (its heartbeat, a request in flight) and it has been quiet
    for ``grace_s``: a reconnect, or any request, restarts the clock, and nothing is deleted from
    under a request.

    Anyone can name a session id in a URL, so an id costs nothing until it holds something: each
    owner (``track``) says with ``holds(id)`` whether it keeps anything for the id, and an id no
    owner holds is forgotten as soon as nothing of it is connected. One thread serves every clock:
    deadlines sit in a heap and the thread sleeps until the earliest. ``clock`` is the time source;
    a test that moves its own clock passes ``background=False`` and calls ``reap_due`` itself.
    ``settle`` runs on that thread after sessions ended, at most once per ``settle_every_s``: what
    the ended sessions freed goes back to the OS (``lab.memory.release``) without a collection for
    each of a class's hundreds of endings.
    """

    def __init__(self, remove: Callable[[str], None], grace_s: float, holds: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, background: bool = True,
                 settle: Callable[[], None] | None = None, settle_every_s: float = 15.0):
        self.grace_s, self.clock, self.background = grace_s, clock, background
        self.settle, self.settle_every_s = settle, settle_every_s
        self._settle_at: float | None = None  # when ``settle`` is due (sessions ended since the last)
        self._settled = float("-inf")
        self._owners: list[tuple[Callable[[str], bool], Callable[[str], None]]] = []
        self.track(holds or (lambda session_hash: True), remove)
        self._lock = threading.Condition()
        self._live: dict[str, int] = {}  # open connections per session (only while some are open)
        self._due: dict[str, float] = {}  # session -> when its files go, by ``clock``
        self._heap: list[tuple[float, str]] = []  # (due, session); entries whose due moved are skipped
        self._thread: threading.Thread | None = None

    def track(self, holds: Callable[[str], bool], remove: Callable[[str], None]) -> None:
        """Another owner of per-session things: ``remove(id)`` runs at a session's end when ``holds(id)``."""
        self._owners.append((holds, remove))

    def connected(self, session_hash: str) -> None:
        with self._lock:
            self._live[session_hash] = self._live.get(session_hash, 0) + 1
            self._due.pop(session_hash, None)  # its heap entry is now stale

    def disconnected(self, session_hash: str) -> None:
        with self._lock:
            left = self._live.pop(session_hash, 1) - 1
            if left > 0:
                self._live[session_hash] = left
                return
        self._start_clock(session_hash)

    def closed(self, session_hash: str) -> None:
        """Gradio says the tab closed (its unload event): the clock starts unless something is connected."""
        with self._lock:
            if self._live.get(session_hash):
                return
        self._start_clock(session_hash)

    def connections(self, session_hash: str) -> int:
        """Requests of the session running now (its heartbeat included)."""
        with self._lock:
            return self._live.get(session_hash, 0)

    def pending(self) -> list[str]:
        """Sessions whose clock is running."""
        with self._lock:
            return sorted(self._due)

    def tracked(self) -> int:
        """Session ids the reaper keeps anything for (connected or with a clock running)."""
        with self._lock:
            return len(self._live.keys() | self._due.keys())

    def _holders(self, session_hash: str) -> list[Callable[[str], None]]:
        return [remove for holds, remove in self._owners if holds(session_hash)]

    def _start_clock(self, session_hash: str) -> None:
        held = bool(self._holders(session_hash))  # outside the lock: owners may look at the disk
        with self._lock:
            if self._live.get(session_hash):
                return  # back meanwhile
            if not held:
                self._due.pop(session_hash, None)  # nothing to delete: nothing to remember
                return
            due = self.clock() + self.grace_s
            self._due[session_hash] = due
            heapq.heappush(self._heap, (due, session_hash))
            if len(self._heap) > 2 * len(self._due) + 64:  # many restarts of the same clocks: drop stale entries
                self._heap = [(when, key) for key, when in self._due.items()]
                heapq.heapify(self._heap)
            if self._thread is None and self.background:
                self._thread = threading.Thread(target=self._serve, name="lab-session-reaper", daemon=True)
                self._thread.start()
            self._lock.notify()

    def reap_due(self) -> list[str]:
        """End every session whose grace period is over (by ``clock``); the ids ended."""
        ended = []
        with self._lock:
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                due, session_hash = heapq.heappop(self._heap)
                if self._due.get(session_hash) == due and not self._live.get(session_hash):
                    del self._due[session_hash]
                    ended.append(session_hash)
        for session_hash in ended:
            for remove in self._holders(session_hash):
                try:
                    remove(session_hash)
                except Exception:  # one owner's failure must not keep the others' files, or stop the thread
                    log.exception("ending session %s", session_hash)
        return ended

    def _serve(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                due = [when for when in (self._heap[0][0] if self._heap else None, self._settle_at) if when is not None]
                wait = min(due) - now if due else None
                if wait is None or wait > 0:
                    self._lock.wait(None if wait is None else min(wait, 3600.0))
            if self.reap_due() and self.settle is not None and self._settle_at is None:
                self._settle_at = max(self.clock(), self._settled + self.settle_every_s)
            if self._settle_at is not None and self.clock() >= self._settle_at:
                self._settle_at, self._settled = None, self.clock()
                try:
                    self.settle()
                except Exception:
                    log.exception("settling after sessions ended")


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
