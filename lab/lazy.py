"""Heavy modules imported on first use, so the app serves its first page before torch loads.

``lazy_import("lab.fill_mask")`` returns a stand-in that imports the module the first time one
of its attributes is read, then behaves as the module. ``warm()`` imports every module asked for
so far, for a background thread to call once the page is served: the first answer then finds
torch and transformers already loaded.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

log = logging.getLogger(__name__)

_requested: list[str] = []


class LazyModule:
    """A module that is imported when first used (Python's import lock makes that thread-safe)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
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


def warm() -> None:
    """Import every module asked for through ``lazy_import`` (errors are logged, not raised:
    the handler that needs a module that failed here will raise it to its user)."""
    for name in list(_requested):
        try:
            importlib.import_module(name)
        except Exception:
            log.exception("warming up %s failed", name)
