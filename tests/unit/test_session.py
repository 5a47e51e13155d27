import threading
import time
from pathlib import Path

from lab import session
from lab.context import Lab
from lab.settings import Settings


def test_add_model_makes_it_active_without_touching_the_old_state():
    s0 = session.empty()
    s1 = session.add_model(s0, "classification", "run-1", "/tmp/run-1")
    s2 = session.add_model(s1, "ner", "ner-1", "/tmp/ner-1")
    assert s0 == session.empty()  # states are values: a new dict each time
    assert session.models_for(s2, "classification") == {"run-1": "/tmp/run-1"}
    assert session.active(s2, "classification") == "run-1" and session.active(s2, "ner") == "ner-1"
    assert sorted(session.directories(s2)) == ["/tmp/ner-1", "/tmp/run-1"]
    assert session.models_for(None, "qa") == {} and session.active({}, "qa") is None


def test_lab_default_choice_uses_the_sessions_active_model(tiny_cls_dir):
    lab = Lab(Settings(offline=True))
    state = session.add_model(None, "classification", "my-run", str(tiny_cls_dir))
    assert lab.resolve("classification", None, None).kind == "embedded"
    ref = lab.resolve("classification", None, state)
    assert (ref.kind, ref.display) == ("local", "my-run")
    # the tab's default value (what an API client sends by default) also means "the active model"
    assert lab.resolve("classification", lab.default_choice("classification"), state).display == "my-run"
    assert "my-run" in lab.choices("classification", state)
    assert "my-run" not in lab.choices("ner", state)
    # picking another model in the dropdown makes it active (the tab's change event calls set_active)
    picked = session.set_active(state, "classification", "all-MiniLM-L6-v2 (embedded)")
    assert lab.resolve("classification", "all-MiniLM-L6-v2 (embedded)", picked).kind == "embedded"
    # another session (no state) never sees it
    assert "my-run" not in lab.choices("classification", None)


def test_session_folders_are_created_removed_and_swept(tmp_path):
    import os

    runs, cache = tmp_path / "runs", tmp_path / "cache"
    a = session.session_dir(runs, "abc123")
    (a / "run-1").mkdir()
    assert a == runs / "abc123" and a.is_dir()
    # a hash that isn't a plain token never becomes a path
    assert session.session_dir(runs, "../../etc") == runs / "anonymous"
    assert not session.remove_session_dir(runs, "../abc123")
    served = session.served_dir(runs, cache, "abc123")
    (served / "run-1.zip").write_bytes(b"PK")
    assert session.remove_session_dir(runs, "abc123", cache) and not a.exists() and not served.exists()
    # at start: every session the last run left, with its files in the cache, whatever their age
    left = [session.served_dir(runs, cache, key) for key in ("old", "new")]
    assert session.sweep(runs, cache) == ["anonymous", "new", "old"] and not any(p.exists() for p in left)
    assert list(runs.iterdir()) == [] and list(cache.iterdir()) == []
    # beside another running server: only what is older than the age given
    old, new = session.session_dir(runs, "old"), session.session_dir(runs, "new")
    os.utime(old, (0, 0))  # untouched since 1970
    assert session.sweep(runs, cache, max_age_s=3600) == ["old"]
    assert new.is_dir() and not old.exists()


def test_a_sessions_downloads_folder_has_a_random_name_kept_in_its_folder(tmp_path):
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    first = session.served_dir(runs, cache, "abc123")
    assert first == session.served_dir(runs, cache, "abc123") and first.parent == cache and first.is_dir()
    assert "abc123" not in first.name and len(first.name) >= 30  # the URL does not carry the session id
    assert first != session.served_dir(runs, cache, "def456")


def _upload(cache, content: bytes = b"text,label\nsecret,pos\n", name: str = "mine.csv"):
    import hashlib

    folder = cache / hashlib.sha256(content).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_an_upload_is_copied_into_the_session_that_hands_it_in(tmp_path):
    import pytest

    from lab.errors import LabInputError

    runs, cache, linger = tmp_path / "runs", tmp_path / "cache", session.UPLOAD_LINGER_S
    upload = _upload(cache)
    own = session.own_upload(runs, cache, "a", upload, now=1000.0)
    assert own.is_relative_to(runs / "a") and own.read_bytes().endswith(b"secret,pos\n")
    # a class given one CSV: b and c uploaded the same content to the same served path at that moment
    assert session.own_upload(runs, cache, "b", upload, now=1000.0 + linger / 2).is_relative_to(runs / "b")
    session.sweep_uploads(now=1000.0 + linger)
    assert not upload.exists() and not upload.parent.exists()  # the served path reaches nothing now
    assert session.own_upload(runs, cache, "a", upload) == own  # the page hands the same path in again
    with pytest.raises(LabInputError, match="upload it again"):  # another session with a's path, later
        session.own_upload(runs, cache, "c", upload)
    # c uploads the same file itself: its own copy
    assert session.own_upload(runs, cache, "c", _upload(cache)).is_relative_to(runs / "c")
    # a session's downloads are its own inputs (a dataset it loaded), never another's
    loaded = session.served_dir(runs, cache, "a") / "data" / "sample.csv"
    loaded.parent.mkdir()
    loaded.write_text("text,label\n")
    assert session.own_upload(runs, cache, "a", loaded) == loaded.resolve()
    zipped = session.served_dir(runs, cache, "a") / "run-1.zip"
    zipped.write_bytes(b"PK")
    for path in (loaded, zipped):
        with pytest.raises(LabInputError):
            session.own_upload(runs, cache, "b", path)
    outside = tmp_path / "cli.csv"  # a caller's own file, outside Gradio's cache: as it is
    outside.write_text("x")
    assert session.own_upload(runs, cache, "a", outside) == outside


def test_the_same_content_uploaded_again_after_the_linger_is_a_new_upload(tmp_path):
    import os

    runs, cache, linger = tmp_path / "runs", tmp_path / "cache", session.UPLOAD_LINGER_S
    upload = _upload(cache)
    session.own_upload(runs, cache, "a", upload, now=1000.0)
    # a minute later another student uploads the same CSV: Gradio moves it over the same path
    fresh = upload.with_name("fresh")
    fresh.write_bytes(upload.read_bytes())
    os.utime(fresh, ns=(upload.stat().st_mtime_ns + 10**9,) * 2)
    fresh.replace(upload)
    own = session.own_upload(runs, cache, "b", upload, now=1000.0 + linger + 1)
    assert own.is_relative_to(runs / "b") and own.read_bytes() == upload.read_bytes()
    session.sweep_uploads(now=1000.0 + 2 * linger + 1)  # b's linger is over: now the path goes
    assert not upload.exists()


def test_a_server_claims_its_runs_folder_once(tmp_path):
    import subprocess
    import sys

    assert session.claim(tmp_path)
    other = subprocess.run([sys.executable, "-c", f"from lab import session; print(session.claim({str(tmp_path)!r}))"],
                           capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[2]))
    assert other.stdout.strip() == "False", other.stderr


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reaper(grace_s: float, holds=None):
    removed, clock = [], FakeClock()
    return session.Reaper(removed.append, grace_s, holds=holds, clock=clock, background=False), removed, clock


def test_the_reaper_waits_for_quiet_and_nothing_connected():
    reaper, removed, clock = _reaper(60)
    reaper.connected("a")  # a request in flight
    reaper.closed("a")  # Gradio's unload: nothing happens while "a" is connected
    clock.now += 120
    assert reaper.reap_due() == [] and removed == [] and reaper.pending() == []
    reaper.disconnected("a")  # the request ends: the clock starts
    assert reaper.pending() == ["a"]
    clock.now += 30
    reaper.connected("a")  # a reconnect before the grace period ends
    clock.now += 60
    assert reaper.reap_due() == [] and removed == []
    reaper.disconnected("a")
    clock.now += 59
    assert reaper.reap_due() == [] and removed == []  # the clock restarted at the disconnect
    clock.now += 1
    assert reaper.reap_due() == ["a"] and removed == ["a"] and reaper.pending() == []


def test_the_reaper_counts_each_connection():
    reaper, removed, clock = _reaper(10)
    reaper.connected("b")
    reaper.connected("b")  # the heartbeat and a result stream
    reaper.disconnected("b")
    clock.now += 20
    assert reaper.reap_due() == [] and removed == []  # one is still open
    reaper.disconnected("b")
    clock.now += 10
    assert reaper.reap_due() == ["b"] and removed == ["b"]


def test_a_session_id_that_holds_nothing_costs_no_thread_and_no_state():
    held = {"real"}
    reaper, removed, clock = _reaper(3600, holds=held.__contains__)
    threads = threading.active_count()
    for i in range(10_000):
        reaper.connected(f"made-up-{i}")
        reaper.disconnected(f"made-up-{i}")
        reaper.closed(f"made-up-{i}")
    assert reaper.tracked() == 0 and reaper.pending() == []
    assert threading.active_count() == threads  # nothing scheduled, no thread started
    reaper.connected("real")
    reaper.disconnected("real")
    for _ in range(1000):  # many restarts of one clock keep the heap small
        reaper.connected("real")
        reaper.disconnected("real")
    assert reaper.pending() == ["real"] and len(reaper._heap) < 100
    clock.now += 3600
    assert reaper.reap_due() == ["real"] and removed == ["real"]


def test_every_owner_holding_a_session_removes_its_part():
    reaper, removed, clock = _reaper(5, holds=lambda key: key == "a")
    other = []
    reaper.track(lambda key: key in ("a", "b"), other.append)
    for key in ("a", "b", "c"):
        reaper.connected(key)
        reaper.disconnected(key)
    assert reaper.pending() == ["a", "b"]
    clock.now += 5
    assert sorted(reaper.reap_due()) == ["a", "b"]
    assert removed == ["a"] and sorted(other) == ["a", "b"]


def test_a_failing_owner_does_not_keep_the_others_or_stop_the_reaper():
    def broken(key):
        raise OSError("disk gone")

    reaper, removed, clock = _reaper(5)
    reaper.track(lambda key: True, broken)
    reaper.track(lambda key: True, removed.append)
    reaper.disconnected("a")
    clock.now += 5
    assert reaper.reap_due() == ["a"] and removed == ["a", "a"]


def test_one_thread_ends_every_session_on_time():
    removed, threads = [], threading.active_count()
    reaper = session.Reaper(removed.append, 0.2)
    for i in range(200):
        reaper.disconnected(f"s{i}")
    assert threading.active_count() <= threads + 1  # one thread for every clock, not one each
    deadline = time.monotonic() + 10
    while len(removed) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(removed) == sorted(f"s{i}" for i in range(200)) and reaper.pending() == []


def test_requests_name_their_session():
    assert session.request_session("/gradio_api/heartbeat/abc_12-x", "") == "abc_12-x"
    assert session.request_session("/gradio_api/queue/data", "session_hash=s1&x=2") == "s1"
    assert session.request_session("/gradio_api/queue/data", "other=1&session_hash=s2") == "s2"
    assert session.request_session("/gradio_api/file=/tmp/x.zip", "") is None
    assert session.request_session("/gradio_api/heartbeat/../../etc", "") is None


def test_memory_goes_back_after_endings_at_most_once_per_interval():
    settled, removed, calls = threading.Event(), [], []
    reaper = session.Reaper(removed.append, 0.1, settle=lambda: (calls.append(list(removed)), settled.set()),
                            settle_every_s=60)
    for key in ("a", "b", "c"):
        reaper.disconnected(key)
    assert settled.wait(5) and calls[0] and set(calls[0]) <= {"a", "b", "c"}
    reaper.disconnected("d")
    deadline = time.monotonic() + 5
    while len(removed) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(removed) == ["a", "b", "c", "d"] and len(calls) == 1  # the next waits for its interval
