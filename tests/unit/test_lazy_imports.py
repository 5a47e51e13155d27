"""Cold start: the first page needs neither torch, transformers nor the training stack;
they are imported on first use, or by lab.lazy.warm once the page is served."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab import lazy

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "safetensors", "accelerate", "datasets", "peft", "training.engine.loop", "training.engine.models"]

PROBE = textwrap.dedent("""
    import json, sys
    import app
    from lab import lazy
    demo = app.build_app()
    heavy = {heavy!r}
    at_start = [m for m in heavy if m in sys.modules]
    lazy.warm()
    after_warm = [m for m in heavy if m in sys.modules]
    print(json.dumps({{"at_start": at_start, "after_warm": after_warm}}))
""")


def _modules_in_a_fresh_process(env: dict[str, str]) -> dict:
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("heads", ["embedded", "host models"])
def test_the_page_is_built_without_torch_and_warming_imports_it(heads, tiny_ner_dir, tiny_qa_dir):
    # Offline (conftest), the embedded default: NER and QA have no head, so their tabs show a banner.
    # With a host's models every tab lays out its normal controls instead; both paths must stay light.
    env = {} if heads == "embedded" else {"LAB_MODEL_NER": str(tiny_ner_dir), "LAB_MODEL_QA": str(tiny_qa_dir)}
    modules = _modules_in_a_fresh_process(env)
    assert modules["at_start"] == []
    assert modules["after_warm"] == HEAVY


def test_a_lazy_module_is_imported_on_first_use_and_by_warm(tmp_path, monkeypatch):
    monkeypatch.setattr(lazy, "_requested", list(lazy._requested))  # the probes are forgotten afterwards
    (tmp_path / "lazy_probe_a.py").write_text("VALUE = 42\n")
    (tmp_path / "lazy_probe_b.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    a, b = lazy.lazy_import("lazy_probe_a"), lazy.lazy_import("lazy_probe_b")
    assert "lazy_probe_a" not in sys.modules and "not imported yet" in repr(a)
    assert a.VALUE == 42
    assert "lazy_probe_a" in sys.modules and "lazy_probe_b" not in sys.modules
    lazy.warm()
    assert "lazy_probe_b" in sys.modules and b.VALUE == 7
    for name in ("lazy_probe_a", "lazy_probe_b"):
        monkeypatch.delitem(sys.modules, name)


def test_warm_logs_a_module_that_fails_and_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(lazy, "_requested", [])
    (tmp_path / "lazy_probe_broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    (tmp_path / "lazy_probe_fine.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = lazy.lazy_import("lazy_probe_broken")
    lazy.lazy_import("lazy_probe_fine")
    lazy.warm()
    assert "lazy_probe_fine" in sys.modules
    assert "warming up lazy_probe_broken failed" in caplog.text
    with pytest.raises(RuntimeError, match="broken on purpose"):
        broken.VALUE  # noqa: B018 (the user of the module sees the error)
    monkeypatch.delitem(sys.modules, "lazy_probe_fine")


def test_a_request_during_an_announced_warm_up_waits_for_it(monkeypatch):
    import threading
    import time

    monkeypatch.setattr(lazy, "_warmed", threading.Event())  # this test's own warm-up state
    lazy.announce_warm_up()
    assert not lazy.ready(timeout=0.05)  # announced, not started: a request waits
    finished = []
    release = threading.Event()

    def warm_up():
        with lazy.warming_up():
            assert lazy.ready(timeout=0)  # the warm-up's own thread never waits for itself
            release.wait(5)
            finished.append(time.monotonic())

    thread = threading.Thread(target=warm_up)
    thread.start()
    assert not lazy.ready(timeout=0.1)
    release.set()
    assert lazy.ready(timeout=5)
    assert finished and time.monotonic() >= finished[0]  # ready() returned after the warm-up's work
    thread.join()


def test_what_a_run_will_cost_is_said_without_torch():
    # The memory and time estimates (training.engine.estimate) are asked by modules the page imports; only the
    # measured step needs torch and the loop, and imports them when it first runs.
    code = ("import json, sys\nimport training.engine.estimate\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
