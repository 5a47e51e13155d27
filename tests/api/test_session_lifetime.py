"""A session's models live until the session really ends, and then everything it made is gone.

Its own app with a grace period of a few seconds (LAB_SESSION_GRACE_MINUTES is an hour by default).
A dropped heartbeat is what a flaky Wi-Fi or a laptop lid does: the heartbeat connection is closed
after its first line, and Gradio calls the page's unload event as for a closed tab.
"""

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from lab.settings import Settings
from tests.conftest import free_port

GRACE_S = 3.0
ROWS = [("a wonderful film", "pos"), ("great acting", "pos"), ("I loved it", "pos"),
        ("a boring film", "neg"), ("bad acting", "neg"), ("I hated it", "neg")] * 3


@pytest.fixture(scope="module")
def app(app_settings):
    import app as lab_app
    from lab.context import Lab

    runs = Path(tempfile.mkdtemp(prefix="lab-lifetime-runs-"))
    settings = Settings(offline=True, runs_dir=runs, session_grace_minutes=GRACE_S / 60,
                        model_overrides=app_settings.model_overrides)
    demo = lab_app.build_app(Lab(settings))
    demo.queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **lab_app.launch_kwargs(demo))
    yield f"http://127.0.0.1:{port}/", runs
    demo.close()


def _train(url: str, tmp_path: Path) -> tuple[Client, str]:
    """A new session that fine-tunes a model; (its client, its zip's download URL)."""
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in ROWS))
    client = Client(url, verbose=False)
    final = client.predict(handle_file(str(csv)), epochs=1, batch_size=8, max_length=16, api_name="/finetune")
    assert final[0]["status"] == "done"
    zip_path = str(final[7])
    assert Path(zip_path).name == f"run-1-{client.session_hash}.zip"
    return client, f"{url}gradio_api/file={zip_path}"


def _drop_heartbeat(url: str, session_hash: str) -> None:
    """Open the session's heartbeat and close it after its first line."""
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{session_hash}", timeout=10) as response:
        next(response.iter_lines())


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_dropped_heartbeat_keeps_the_models_then_the_end_removes_everything(app, tmp_path):
    url, runs = app
    client, zip_url = _train(url, tmp_path)
    session_dir = runs / client.session_hash
    assert (session_dir / "run-1" / "best" / "model.safetensors").is_file()
    # one copy of the zip (Gradio's, which it serves); the run folder keeps only the model
    assert not list(session_dir.glob("**/*.zip")) and httpx.get(zip_url, timeout=10).status_code == 200
    try:
        _drop_heartbeat(url, client.session_hash)
        time.sleep(GRACE_S / 2)
        # within the grace period the session goes on as if nothing happened
        after, _, note = client.predict("a wonderful film", api_name="/predict_finetuned")
        assert "run-1" in note and session_dir.is_dir()
        # the request above restarted the clock: still there a grace period after the drop
        time.sleep(GRACE_S / 2 + 0.5)
        assert session_dir.is_dir()
    finally:
        client.close()  # the tab goes: its open result stream closes too
    # quiet for the whole grace period: the session is over, and all it made is gone
    assert _wait_until(lambda: not session_dir.exists(), GRACE_S + 5)
    # the file is gone from Gradio's cache; Gradio answers 403 ("File not allowed") for a file that is not there
    gone = httpx.get(zip_url, timeout=10)
    assert gone.status_code in (403, 404) and not gone.content.startswith(b"PK")
    assert not Path(zip_url.split("file=", 1)[1]).exists()
    # a tab that comes back after that (its old session) is told so, in words
    back = Client(url, verbose=False)
    back.session_hash = client.session_hash
    try:
        with pytest.raises(AppError, match=r"No model fine-tuned in this session|run-1 is gone: this browser "
                                           r"session ended.*Train it again"):
            back.predict("a wonderful film", api_name="/predict_finetuned")
    finally:
        back.close()


def test_a_reconnected_heartbeat_keeps_the_session_alive(app, tmp_path):
    url, runs = app
    client, zip_url = _train(url, tmp_path)
    client.close()  # nothing of the session is connected now but what this test opens
    session_dir = runs / client.session_hash
    _drop_heartbeat(url, client.session_hash)
    # the browser reconnects its heartbeat and the tab stays open, idle, for twice the grace period
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{client.session_hash}", timeout=30) as response:
        next(response.iter_lines())
        time.sleep(2 * GRACE_S + 1)
        assert session_dir.is_dir() and httpx.get(zip_url, timeout=10).status_code == 200
    # the tab closes for good: after the grace period its files are gone
    assert _wait_until(lambda: not session_dir.exists(), GRACE_S + 5)
