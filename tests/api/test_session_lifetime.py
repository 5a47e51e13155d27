"""A session's models live until the session really ends, and then everything it made is gone.

Its own app with the default grace period (an hour), on a clock the tests move: the reaper takes
its time from ``clock`` and the tests end sessions with ``reap_due``, so nothing waits an hour.
A dropped heartbeat is what a flaky Wi-Fi or a laptop lid does: the heartbeat connection is closed
after its first line, and Gradio calls the page's unload event as for a closed tab.
"""

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from lab import session
from lab.settings import Settings
from tests.conftest import free_port

ROWS = [("a wonderful film", "pos"), ("great acting", "pos"), ("I loved it", "pos"),
        ("a boring film", "neg"), ("bad acting", "neg"), ("I hated it", "neg")] * 3


class ManualClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app(app_settings):
    import app as lab_app
    from lab.context import Lab

    # gradio_client lets its heartbeat go when the next heartbeat line arrives: every second here, not 15
    previous = os.environ.get("GRADIO_HEARTBEAT_INTERVAL")
    os.environ["GRADIO_HEARTBEAT_INTERVAL"] = "1"
    runs = Path(tempfile.mkdtemp(prefix="lab-lifetime-runs-"))
    settings = Settings(offline=True, runs_dir=runs, model_overrides=app_settings.model_overrides)
    demo = lab_app.build_app(Lab(settings))
    demo.queue(default_concurrency_limit=4)
    clock = ManualClock()
    reaper = demo.lab_tabs["Fine-tune"].reaper
    reaper.clock, reaper.background = clock, False  # the tests end sessions with reap_due
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **lab_app.launch_kwargs(demo))
    yield f"http://127.0.0.1:{port}/", runs, reaper, clock
    demo.close()
    if previous is None:
        os.environ.pop("GRADIO_HEARTBEAT_INTERVAL", None)
    else:
        os.environ["GRADIO_HEARTBEAT_INTERVAL"] = previous


def _csv(tmp_path: Path) -> Path:
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in ROWS))
    return csv


def _train(url: str, tmp_path: Path) -> tuple[str, str]:
    """A session that fine-tunes a model and closes; (its session hash, its zip's download URL)."""
    client = Client(url, verbose=False, download_files=False)  # the server's paths, not a local copy
    try:
        final = client.predict(handle_file(str(_csv(tmp_path))), epochs=1, batch_size=8, max_length=16,
                               api_name="/finetune")
    finally:
        client.close()
    assert final[0]["status"] == "done"
    zip_path = final[7]["path"]
    # in the session's downloads folder in Gradio's cache, under a name that does not give the session away
    assert Path(zip_path).name == "run-1.zip" and client.session_hash not in zip_path
    assert Path(zip_path).parent.parent == Path(get_upload_folder()).resolve()
    return client.session_hash, f"{url}gradio_api/file={zip_path}"


def _call(url: str, api_name: str, data: list, session_hash: str) -> tuple[str, str]:
    """One call through Gradio's queue as a page makes it, file paths as they are: (its last event, its data)."""
    dependencies = httpx.get(f"{url}config", timeout=30).json()["dependencies"]
    fn_index = next(d["id"] for d in dependencies if d.get("api_name") == api_name.lstrip("/"))
    response = httpx.post(f"{url}gradio_api/queue/join", timeout=30, json={
        "data": data, "fn_index": fn_index, "event_data": None, "session_hash": session_hash,
        "trigger_id": None})
    assert response.status_code == 200, response.text
    event, last = "", ""
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session_hash},
                      timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                last = line[5:].strip()
                if '"process_completed"' in last:
                    return ("complete" if '"success":true' in last.replace(" ", "") else "error"), last
    return event, last


def _inspect(path: str | Path) -> list:
    """/inspect_data's inputs with ``path`` as the file, as a page sends them."""
    return [{"path": str(path), "meta": {"_type": "gradio.FileData"}}, "", "", "all-MiniLM-L6-v2 (embedded)",
            "classification"]


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
        time.sleep(0.05)
    return condition()


def _disconnected(reaper, session_hash: str) -> None:
    """Wait until nothing of the session is connected and its clock runs."""
    assert _wait_until(lambda: reaper.connections(session_hash) == 0 and session_hash in reaper.pending(), 10)


def test_a_dropped_heartbeat_keeps_the_models_then_the_end_removes_everything(app, tmp_path):
    url, runs, reaper, clock = app
    grace = reaper.grace_s
    session_hash, zip_url = _train(url, tmp_path)
    session_dir = runs / session_hash
    assert (session_dir / "run-1" / "best" / "model.safetensors").is_file()
    uploads = list(session_dir.glob("uploads/*/reviews.csv"))
    assert uploads  # the upload, moved from Gradio's cache into the session's folder
    assert list(session_dir.glob("cache/tokenized/*"))  # its tokenized copy too
    # one copy of the zip (Gradio's, which it serves); the run folder keeps only the model
    assert not list(session_dir.glob("**/*.zip")) and httpx.get(zip_url, timeout=10).status_code == 200

    _disconnected(reaper, session_hash)
    _drop_heartbeat(url, session_hash)  # Gradio runs the page's unload, as for a closed tab
    _disconnected(reaper, session_hash)
    clock.now += grace / 3
    assert session_hash not in reaper.reap_due() and session_dir.is_dir()
    back = _same_session(url, session_hash)  # within the grace period the tab comes back
    try:
        after, _, note = back.predict("a wonderful film", api_name="/predict_finetuned")
        assert "run-1" in note
    finally:
        back.close()
    _disconnected(reaper, session_hash)
    clock.now += grace * 0.9  # past the first clock's end: it restarted when the tab came back
    assert session_hash not in reaper.reap_due() and session_dir.is_dir()

    # quiet for the whole grace period: the session is over, and all it made is gone
    clock.now += grace * 0.1
    assert session_hash in reaper.reap_due() and not session_dir.exists()
    # the file is gone from Gradio's cache; Gradio answers 403 ("File not allowed") for a file that is not there
    gone = httpx.get(zip_url, timeout=10)
    assert gone.status_code in (403, 404) and not gone.content.startswith(b"PK")
    assert not Path(zip_url.split("file=", 1)[1]).exists()
    assert not any(p.exists() for p in uploads)
    # a tab that comes back after that is told so, in words
    late = _same_session(url, session_hash)
    try:
        with pytest.raises(AppError, match=r"No model fine-tuned in this session|run-1 is gone: this browser "
                                           r"session ended.*Train it again"):
            late.predict("a wonderful film", api_name="/predict_finetuned")
    finally:
        late.close()


def test_a_reconnected_heartbeat_keeps_the_session_alive(app, tmp_path):
    url, runs, reaper, clock = app
    session_hash, zip_url = _train(url, tmp_path)
    session_dir = runs / session_hash
    _disconnected(reaper, session_hash)
    _drop_heartbeat(url, session_hash)
    # the browser reconnects its heartbeat and the tab stays open, idle, for twice the grace period
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{session_hash}", timeout=30) as response:
        lines = response.iter_lines()  # kept: a dropped iterator would close the connection
        next(lines)
        clock.now += 2 * reaper.grace_s
        assert session_hash not in reaper.reap_due() and reaper.connections(session_hash) == 1
        assert session_dir.is_dir() and httpx.get(zip_url, timeout=10).status_code == 200
    # the tab closes for good: after the grace period its files are gone
    _disconnected(reaper, session_hash)
    clock.now += reaper.grace_s
    assert session_hash in reaper.reap_due() and not session_dir.exists()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


def _made_up_ids(url: str, ids: range) -> None:
    """Requests naming sessions nobody opened: a query string on any path, or a heartbeat opened and dropped."""
    with httpx.Client(timeout=10) as http:
        for i in ids:
            if i % 2:
                http.get(f"{url}robots.txt?session_hash=made-up-{i}")
            else:
                with http.stream("GET", f"{url}gradio_api/heartbeat/made-up-{i}") as response:
                    next(response.iter_lines())  # Gradio runs the page's unload for it as it closes


def _flood(url: str, start: int, count: int, workers: int = 4) -> None:
    with ThreadPoolExecutor(workers) as pool:
        step = count // workers
        list(pool.map(lambda k: _made_up_ids(url, range(start + k * step, start + (k + 1) * step)), range(workers)))


def test_a_flood_of_made_up_session_ids_leaves_threads_and_memory_where_they_were(app):
    """2,000 ids (one thread each would show as +2,000); bench/soak.py floods 10,000 against python app.py."""
    url, runs, reaper, _ = app
    tracked = reaper.tracked()
    _flood(url, 1_000_000, 400)  # the server's own first-use allocations, before measuring
    # the flood's last connections are closed when the reaper has let go of every made-up id
    assert _wait_until(lambda: reaper.tracked() == tracked, 10)
    threads, rss = threading.active_count(), _rss_mb()
    _flood(url, 0, 2_000)
    assert _wait_until(lambda: reaper.tracked() == tracked and threading.active_count() <= threads + 3, 10), (
        threads, threading.active_count())
    grown = _rss_mb() - rss
    assert grown < max(20.0, 0.03 * rss), f"{rss:.0f} MB -> +{grown:.0f} MB"
    assert reaper.tracked() == tracked and not any(key.startswith("made-up") for key in reaper.pending())
    assert not any(runs.glob("made-up-*"))
def test_a_transfer_upload_and_its_vectors_are_the_sessions_own_and_go_with_it(app, tmp_path):
    url, runs, reaper, clock = app
    shared = Path(Settings().cache_dir) / "features"
    before = set(shared.glob("*")) if shared.is_dir() else set()
    client = Client(url, verbose=False, download_files=False)
    try:
        client.predict("", handle_file(str(_csv(tmp_path))), api_name="/layer_probe")
    finally:
        client.close()
    session_dir = runs / client.session_hash
    assert list(session_dir.glob("uploads/*/reviews.csv")) and list(session_dir.glob("features/*.npy"))
    assert (set(shared.glob("*")) if shared.is_dir() else set()) == before  # nothing in the class's cache
    _disconnected(reaper, client.session_hash)
    clock.now += reaper.grace_s
    assert client.session_hash in reaper.reap_due() and not session_dir.exists()


def test_another_session_can_neither_use_nor_fetch_a_sessions_files(app, tmp_path):
    import hashlib

    url, runs, reaper, clock = app
    csv = _csv(tmp_path)
    from gradio.processing_utils import hash_seed  # Gradio names an upload's folder by it and the content

    served_path = Path(get_upload_folder()) / hashlib.sha256(hash_seed + csv.read_bytes()).hexdigest() / csv.name
    a = Client(url, verbose=False, download_files=False)
    try:
        a.predict(handle_file(str(csv)), api_name="/inspect_data")
        loaded = a.predict("Topics (the lab's own sample)", "100 rows", api_name="/load_dataset")[0]["path"]
        # the served path lingers a minute for classmates who uploaded the same file, then goes
        session.sweep_uploads(now=time.monotonic() + session.UPLOAD_LINGER_S)
        assert not served_path.exists()
        # the page hands both in again: they are its own
        for path in (served_path, loaded):
            assert _call(url, "/inspect_data", _inspect(path), a.session_hash)[0] == "complete"
    finally:
        a.close()
    # b copied the paths from a's page: its upload is served to nobody, and neither is an input of b's
    assert httpx.get(f"{url}gradio_api/file={served_path}", timeout=10).status_code in (403, 404)
    for path in (served_path, loaded):
        event, data = _call(url, "/inspect_data", _inspect(path), "another-browser")
        assert event == "error" and "upload it again" in data, data


def test_a_restart_sweeps_what_the_last_run_left(tmp_path):
    import app as lab_app
    from lab import session

    runs, cache = tmp_path / "runs", Path(get_upload_folder())
    served = session.served_dir(runs, cache, "closed-in-its-grace-period")
    (served / "run-1.zip").write_bytes(b"PK")
    (runs / "closed-in-its-grace-period" / "uploads").mkdir()
    assert lab_app.sweep_leftovers(Settings(offline=True, runs_dir=runs)) == ["closed-in-its-grace-period"]
    assert not served.exists() and list(runs.iterdir()) == [runs / ".server.lock"]
