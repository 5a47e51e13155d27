"""lab/atomic.py: a file is replaced whole or left as it was."""

import json

import numpy as np
import pytest

from lab import atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"accuracy": 0.5}, indent=2)
    atomic.write_json(path, {"accuracy": 0.75, "label": "café"}, indent=2, ensure_ascii=False)
    assert json.loads(path.read_text(encoding="utf-8")) == {"accuracy": 0.75, "label": "café"}
    atomic.write_text(tmp_path / "note.txt", "hello")
    assert (tmp_path / "note.txt").read_text() == "hello"
    with atomic.replacing(tmp_path / "vectors.npy", suffix=".npy") as tmp:
        np.save(tmp, np.arange(3), allow_pickle=False)  # np.save keeps a name that ends in .npy as it is
    assert np.load(tmp_path / "vectors.npy").tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "note.txt", "vectors.npy"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(path) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]
    with pytest.raises(TypeError):
        atomic.write_json(path, {"not json": object()})
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]
