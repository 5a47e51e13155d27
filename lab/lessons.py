"""The Lessons tab's steps: the lectures' sequence as data, one file per language (assets/lessons/).

Each step is a few sentences, a button that opens a live tab with the step's inputs filled in,
and a self-check question (predict, then reveal): multiple choice, with why each answer is right
or wrong. Adding a language is adding a file with the same steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lab.errors import LabInputError
from lab.settings import ASSETS_DIR

LESSONS_DIR = ASSETS_DIR / "lessons"
LANGUAGES = {"en": "English", "id": "Bahasa Indonesia", "zh-Hant": "繁體中文"}
# The tabs a step may open, and the inputs it may fill (elem_ids of the live tabs' text boxes).
TABS = ("tokenizer", "fill-mask", "classification", "ner", "question-answering", "fine-tune", "transfer")
INPUTS = ("tok-text", "fm-text", "cls-text", "ner-text", "qa-question", "qa-context")


@dataclass(frozen=True)
class Check:
    question: str
    choices: tuple[str, ...]
    answer: int
    explanations: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    body: str
    tab: str
    label: str  # the button's text
    inputs: dict
    check: Check


def _step(raw: dict, where: str) -> Step:
    try:
        check = raw["check"]
        step = Step(raw["id"], raw["title"], raw["body"], raw["try"]["tab"], raw["try"]["label"],
                    dict(raw["try"].get("inputs", {})),
                    Check(check["question"], tuple(check["choices"]), int(check["answer"]),
                          tuple(check["explanations"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: a step lacks {exc}") from exc
    if step.tab not in TABS or set(step.inputs) - set(INPUTS):
        raise ValueError(f"{where} {step.id}: tab {step.tab!r} or inputs {sorted(step.inputs)} unknown")
    if not (0 <= step.check.answer < len(step.check.choices) == len(step.check.explanations)):
        raise ValueError(f"{where} {step.id}: the answer or the explanations do not match the choices")
    return step


@cache
def steps(language: str, directory: Path = LESSONS_DIR) -> tuple[Step, ...]:
    """The steps of ``language`` (a key of LANGUAGES), checked."""
    if language not in LANGUAGES:
        raise LabInputError(f"No lessons in {language!r}: pick one of {', '.join(LANGUAGES)}.")
    path = Path(directory) / f"{language}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(_step(raw, path.name) for raw in data["steps"])


def step(language: str, step_id: str) -> Step:
    for candidate in steps(language):
        if candidate.id == step_id:
            return candidate
    raise LabInputError(f"No step {step_id!r}: pick one from the list.")


def reveal(language: str, step_id: str, choice: int | None) -> tuple[bool, str]:
    """(right?, the explanation of the chosen answer, and of the right one when it was wrong)."""
    check = step(language, step_id).check
    if choice is None or not 0 <= choice < len(check.choices):
        raise LabInputError("Pick an answer first: predict, then reveal.")
    right = choice == check.answer
    text = f"{'✅' if right else '❌'} {check.explanations[choice]}"
    if not right:
        text += f"\n\n✅ **{check.choices[check.answer]}**: {check.explanations[check.answer]}"
    return right, text


def language_from_header(accept_language: str | None) -> str:
    """The lessons' language from the browser's Accept-Language (first match), else English."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("id") or tag.startswith("in"):
            return "id"
        if tag.startswith("zh"):
            return "zh-Hant"
        if tag.startswith("en"):
            return "en"
    return "en"
