"""Models that belong to one browser session (fine-tuned there), kept in a gr.State value.

Shape: ``{"models": {name: {"task": task, "dir": directory}}, "active": {task: name}}``.
Plain data, so it can live in a gr.State and be tested without a browser. The newest model
fine-tuned for a task becomes that task's active model: a later call that leaves the model at
its default (e.g. ``/classify`` from the API) uses it; picking another model in a dropdown
makes that one active instead.
"""

from __future__ import annotations

import copy
import re
import shutil
import time
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


def sweep(runs_dir: Path, max_age_hours: float, now: float | None = None) -> list[str]:
    """Remove session folders untouched for longer than ``max_age_hours`` (crashed or abandoned sessions)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    cutoff = (now or time.time()) - max_age_hours * 3600
    removed = []
    for child in runs_dir.iterdir():
        if child.is_dir() and child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed
