"""Heavy modules imported on first use, so the app serves its first page before torch loads.

``lazy_import("lab.fill_mask")`` returns a stand-in that imports the module the first time one
of its attributes is read, then behaves as the module. ``warm()`` imports every module asked for
so far, for a background thread to call once the page is served: the first answer then finds
torch and transformers already loaded.

Two threads importing transformers at once can see each other's half-initialised modules
(``cannot import name 'AutoTokenizer' from 'transformers'``): Python's per-module import locks
give a partly imported module to a second thread rather than deadlock on an import cycle, and
transformers' lazy module imports its parts on attribute access. So the heavy imports run one at a
time (``IMPORTS``), and a handler that arrives while the warm-up runs waits for it (``ready()``)
before importing anything itself.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

log = logging.getLogger(__name__)

_requested: list[str] = []
IMPORTS = threading.RLock()  # held by whoever imports a lazy module or warms them all
_warmed = threading.Event()  # clear while a warm-up is announced and not yet over
_warmed.set()
_warming: int | None = None  # the warm-up thread's id while it runs


class LazyModule:
    """A module that is imported when first used, one such import at a time (``IMPORTS``)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            ready()
            with IMPORTS:
                self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str):
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_import(name: str) -> LazyModule:
    """A stand-in for ``import name`` that costs nothing until an attribute is read."""
    if name not in _requested:
        _requested.append(name)
    return LazyModule(name)


def announce_warm_up() -> None:
    """Say, before the page is served, that a warm-up will run: from now until the thread in
    ``warming_up()`` leaves it, ``ready()`` waits (a request that comes before that thread starts too)."""
    _warmed.clear()


@contextmanager
def warming_up() -> Iterator[None]:
    """The warm-up thread's work: ``ready()`` waits in every other thread until it ends, however it ends."""
    global _warming
    _warming = threading.get_ident()
    try:
        yield
    finally:
        _warming = None
        _warmed.set()


def ready(timeout: float | None = None) -> bool:
    """Wait until an announced warm-up is over (at once when none runs, or in the warm-up's own thread);
    False if ``timeout`` passed first. Handlers call it before their work (tabs.common.user_errors), so
    none imports beside the warm-up."""
    if _warming == threading.get_ident():
        return True
    return _warmed.wait(timeout)


def warm() -> None:
    """Import every module asked for through ``lazy_import`` (errors are logged, not raised:
    the handler that needs a module that failed here will raise it to its user)."""
    with IMPORTS:
        for name in list(_requested):
            try:
                importlib.import_module(name)
            except Exception:
                log.exception("warming up %s failed", name)
