"""Models that belong to one browser session (fine-tuned there), kept in a gr.State value.

Shape: ``{"models": {name: {"task": task, "dir": directory}}, "active": {task: name}}``.
Plain data, so it can live in a gr.State and be tested without a browser. The newest model
fine-tuned for a task becomes that task's active model: a later call that leaves the model at
its default (e.g. ``/classify`` from the API) uses it; picking another model in a dropdown
makes that one active instead.
"""

from __future__ import annotations

import copy


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
