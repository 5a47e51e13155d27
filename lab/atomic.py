"""Files written whole or not at all: a reader (another session, a run killed mid-write) never
finds half a file.

Everything is written to a temporary name beside the target and renamed onto it (``os.replace``
is atomic within one file system); a write that fails leaves the previous file as it was.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed onto ``target`` when the block ends,
    removed when it raises. ``suffix`` ends the temporary name (``np.save`` adds ".npy" otherwise)."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_json(path: str | Path, data, **dumps: object) -> None:
    """``data`` as JSON (``dumps`` go to ``json.dumps``: indent, default, ensure_ascii)."""
    write_text(path, json.dumps(data, **dumps))
