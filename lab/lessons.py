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

from lab import i18n
from lab.errors import LabInputError
from lab.i18n import LANGUAGES
from lab.settings import ASSETS_DIR

LESSONS_DIR = ASSETS_DIR / "lessons"
# The tabs a step may open, and the inputs it may fill (elem_ids of the live tabs' text boxes).
TABS = ("tokenizer", "fill-mask", "classification", "ner", "question-answering", "fine-tune", "transfer")
INPUTS = ("tok-text", "fm-text", "cls-text", "ner-text", "qa-question", "qa-context", "tr-data", "tr-cross-language")


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


def steps(language: str, directory: Path = LESSONS_DIR) -> tuple[Step, ...]:
    """The steps of ``language`` (a key of lab.i18n.LANGUAGES, or another name of one), checked."""
    code = i18n.normalize(language)
    if code is None:
        raise LabInputError(i18n.msg("lessons.no_language", language=repr(language), choices=", ".join(LANGUAGES)))
    return _steps(code, Path(directory))


@cache
def _steps(language: str, directory: Path) -> tuple[Step, ...]:
    path = directory / f"{language}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(_step(raw, path.name) for raw in data["steps"])


def step(language: str, step_id: str) -> Step:
    for candidate in steps(language):
        if candidate.id == step_id:
            return candidate
    raise LabInputError(i18n.msg("lessons.no_step", step=repr(step_id)))


def reveal(language: str, step_id: str, choice: int | None) -> tuple[bool, str]:
    """(right?, the explanation of the chosen answer, and of the right one when it was wrong)."""
    check = step(language, step_id).check
    if choice is None or not 0 <= choice < len(check.choices):
        raise LabInputError(i18n.msg("lessons.pick_answer"))
    right = choice == check.answer
    text = f"{'✅' if right else '❌'} {check.explanations[choice]}"
    if not right:
        text += f"\n\n✅ **{check.choices[check.answer]}**: {check.explanations[check.answer]}"
    return right, text
