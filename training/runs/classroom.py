"""The class's shared runs, for the instructor's view: what each student chose to share, nothing else.

Students tick "share with the class" in the Fine-tune tab; each finished run then adds one row
here (a name they pick, strategy, data, settings, score, time). Only someone who opened the app
with the host's ``LAB_INSTRUCTOR_TOKEN`` sees the rows (tabs/classroom.py); students never see
each other's runs or models. The board lives in the server's memory, as a class session does.
"""

from __future__ import annotations

import hmac
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from lab.errors import LabInputError
from lab.i18n import msg
from training.runs import cells

MAX_NAME = 40
COLUMNS = ["student", "run", "task", "strategy", "data", "score", "metric", "seconds", "learning_rate", "batch_size",
           "epochs", "max_length", "class_weights", "shared_at"]


@dataclass
class SharedRun:
    student: str
    run: str
    task: str
    strategy: str
    data: str
    score: float | None
    metric: str
    seconds: float
    learning_rate: float | None  # None where the way of training has none (feature extraction)
    batch_size: int | None
    epochs: float | None
    max_length: int
    class_weights: bool
    shared_at: str


def student_name(name: object) -> str:
    """A name as the class board shows it: text, trimmed to one line, 1 to MAX_NAME characters, no
    control characters (a NUL, an escape sequence, a right-to-left override); anything else is refused."""
    if name is not None and not isinstance(name, str):
        raise LabInputError(msg("msg.training.classroom.name_not_text", kind=type(name).__name__))
    name = " ".join((name or "").split())
    if not name:
        raise LabInputError(msg("msg.training.classroom.no_name"))
    if len(name) > MAX_NAME:
        raise LabInputError(msg("msg.training.classroom.name_too_long", n=len(name), max=MAX_NAME))
    control = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")), None)
    if control is not None:
        raise LabInputError(msg("msg.training.classroom.name_control", code=f"U+{ord(control):04X}"))
    return name


class ClassBoard:
    def __init__(self, token: str | None, limit: int = 5000):
        self.token = token or None
        self.limit = limit
        self._runs: list[SharedRun] = []
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def allows(self, token: str | None) -> bool:
        """The instructor's token, compared in constant time; never true when the host set none."""
        return self.enabled and hmac.compare_digest((token or "").encode(), self.token.encode())

    def check(self, token: str | None) -> None:
        if not self.allows(token):
            raise LabInputError(msg("msg.training.classroom.needs_token"))

    def share(self, student: str, run: str, task: str, data: str, config: dict, score: float | None, metric: str,
              seconds: float) -> SharedRun:
        # Feature extraction encodes the data once and fits a linear head on the vectors: no optimizer
        # steps, so the loop's learning rate, batch size and epochs were never used and are not shown.
        loop = config.get("strategy") != "features"
        entry = SharedRun(student_name(student), run, task, config.get("strategy", ""), data, score, metric,
                          round(seconds, 1), config.get("learning_rate") if loop else None,
                          config.get("batch_size") if loop else None, config.get("epochs") if loop else None,
                          config.get("max_length"), bool(config.get("class_weights")),
                          time.strftime("%H:%M:%S"))
        with self._lock:
            self._runs.append(entry)
            del self._runs[:-self.limit]  # a long class day keeps its newest runs
        return entry

    def frame(self) -> pd.DataFrame:
        with self._lock:
            rows = [asdict(r) for r in self._runs]
        return pd.DataFrame(rows, columns=COLUMNS)

    def by_strategy(self) -> pd.DataFrame:
        """Mean score by task, metric and strategy, with how many runs: the comparison plot's bars.

        A bar is named by its strategy, with its task where the class shared runs of several tasks
        and its metric where a task was scored by several: a chart's axis shows a name whole only up
        to ~180 px (Vega's label limit), and "frozen_encoder (classification, accuracy)" is longer.
        The task and metric stay in their own columns (the chart's tooltip shows them)."""
        frame = self.frame().dropna(subset=["score"])
        if frame.empty:
            return pd.DataFrame(columns=["strategy", "mean score", "runs", "task", "metric"])
        grouped = frame.groupby(["task", "metric", "strategy"])["score"]
        out = pd.DataFrame({"mean score": grouped.mean().round(4), "runs": grouped.size()}).reset_index()
        names = out["strategy"]
        if out["task"].nunique() > 1:
            names = names + " · " + out["task"]
        if out.groupby("task")["metric"].nunique().max() > 1:
            names = names + " · " + out["metric"]
        out["strategy"] = names
        return out[["strategy", "mean score", "runs", "task", "metric"]]

    def export(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "class-runs.csv"
        cells.frame(self.frame()).to_csv(path, index=False)  # a name "=HYPERLINK(...)" stays text
        return path
