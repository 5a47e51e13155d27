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
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from lab.settings import Settings
from tests.conftest import free_port

GRACE_S = 5.0
# gradio_client closes its heartbeat when the next heartbeat line arrives (every 15 s): a closed
# client's session may stay connected that long.
CLIENT_LINGER_S = 15.0
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
    yield f"http://127.0.0.1:{port}/", runs, demo.lab_tabs["Fine-tune"].reaper
    demo.close()


def _train(url: str, tmp_path: Path) -> tuple[str, str]:
    """A session that fine-tunes a model and closes; (its session hash, its zip's download URL)."""
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in ROWS))
    client = Client(url, verbose=False)
    try:
        final = client.predict(handle_file(str(csv)), epochs=1, batch_size=8, max_length=16, api_name="/finetune")
    finally:
        client.close()
    assert final[0]["status"] == "done"
    zip_path = str(final[7])
    assert Path(zip_path).name == f"run-1-{client.session_hash}.zip"
    return client.session_hash, f"{url}gradio_api/file={zip_path}"


def _same_session(url: str, session_hash: str) -> Client:
    """The tab again, reconnected: a client with the session's hash (it opens a heartbeat of its own)."""
    client = Client(url, verbose=False)
    client.session_hash = session_hash
    return client


def _drop_heartbeat(url: str, session_hash: str) -> None:
    """Open the session's heartbeat and close it after its first line, as a flaky Wi-Fi does."""
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{session_hash}", timeout=10) as response:
        next(response.iter_lines())


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _disconnected(reaper, session_hash: str) -> None:
    """Wait until nothing of the session is connected (gradio_client lets its heartbeat go when the
    next heartbeat line arrives, up to 15 s after close)."""
    assert _wait_until(lambda: reaper.connections(session_hash) == 0, 30)


def test_a_dropped_heartbeat_keeps_the_models_then_the_end_removes_everything(app, tmp_path):
    url, runs, reaper = app
    before = set(Path(get_upload_folder()).glob("*/reviews.csv"))
    session_hash, zip_url = _train(url, tmp_path)
    session_dir = runs / session_hash
    assert (session_dir / "run-1" / "best" / "model.safetensors").is_file()
    uploads = set(Path(get_upload_folder()).glob("*/reviews.csv")) - before
    assert uploads  # the upload, in Gradio's cache
    # one copy of the zip (Gradio's, which it serves); the run folder keeps only the model
    assert not list(session_dir.glob("**/*.zip")) and httpx.get(zip_url, timeout=10).status_code == 200

    _disconnected(reaper, session_hash)
    _drop_heartbeat(url, session_hash)  # Gradio runs the page's unload, as for a closed tab
    time.sleep(GRACE_S / 3)
    assert session_dir.is_dir()
    back = _same_session(url, session_hash)  # within the grace period the tab comes back (connecting takes a moment)
    try:
        after, _, note = back.predict("a wonderful film", api_name="/predict_finetuned")
        assert "run-1" in note
    finally:
        back.close()
    _disconnected(reaper, session_hash)
    time.sleep(GRACE_S / 2)
    assert session_dir.is_dir()  # the clock restarted when the tab came back

    # quiet for the whole grace period: the session is over, and all it made is gone
    assert _wait_until(lambda: not session_dir.exists(), GRACE_S + 5)
    # the file is gone from Gradio's cache; Gradio answers 403 ("File not allowed") for a file that is not there
    gone = httpx.get(zip_url, timeout=10)
    assert gone.status_code in (403, 404) and not gone.content.startswith(b"PK")
    assert not Path(zip_url.split("file=", 1)[1]).exists()
    assert not any(p.exists() for p in uploads), [(p, p.exists()) for p in uploads]  # no other session held it
    # a tab that comes back after that is told so, in words
    late = _same_session(url, session_hash)
    try:
        with pytest.raises(AppError, match=r"No model fine-tuned in this session|run-1 is gone: this browser "
                                           r"session ended.*Train it again"):
            late.predict("a wonderful film", api_name="/predict_finetuned")
    finally:
        late.close()


def test_a_reconnected_heartbeat_keeps_the_session_alive(app, tmp_path):
    url, runs, reaper = app
    session_hash, zip_url = _train(url, tmp_path)
    session_dir = runs / session_hash
    _disconnected(reaper, session_hash)
    _drop_heartbeat(url, session_hash)
    # the browser reconnects its heartbeat and the tab stays open, idle, for twice the grace period
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{session_hash}", timeout=30) as response:
        lines = response.iter_lines()  # kept: a dropped iterator would close the connection
        next(lines)
        time.sleep(2 * GRACE_S + 1)
        assert reaper.connections(session_hash) == 1
        assert session_dir.is_dir() and httpx.get(zip_url, timeout=10).status_code == 200
    # the tab closes for good: after the grace period its files are gone
    assert _wait_until(lambda: not session_dir.exists(), GRACE_S + 5)
