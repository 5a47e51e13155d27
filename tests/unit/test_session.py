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

    a = session.session_dir(tmp_path, "abc123")
    (a / "run-1").mkdir()
    assert a == tmp_path / "abc123" and a.is_dir()
    # a hash that isn't a plain token never becomes a path
    assert session.session_dir(tmp_path, "../../etc") == tmp_path / "anonymous"
    assert not session.remove_session_dir(tmp_path, "../abc123")
    assert session.remove_session_dir(tmp_path, "abc123") and not a.exists()
    old, new = session.session_dir(tmp_path, "old"), session.session_dir(tmp_path, "new")
    os.utime(old, (0, 0))  # untouched since 1970
    assert session.sweep(tmp_path, max_age_hours=1) == ["old"]
    assert new.is_dir() and not old.exists()


def _reaper(grace_s: float):
    removed = []
    return session.Reaper(removed.append, grace_s), removed


def test_the_reaper_waits_for_quiet_and_nothing_connected():
    import time

    reaper, removed = _reaper(0.3)
    reaper.connected("a")  # a request in flight
    reaper.closed("a")  # Gradio's unload: nothing happens while "a" is connected
    time.sleep(0.5)
    assert removed == [] and reaper.pending() == []
    reaper.disconnected("a")  # the request ends: the clock starts
    assert reaper.pending() == ["a"]
    time.sleep(0.15)
    reaper.connected("a")  # a reconnect before the grace period ends
    time.sleep(0.4)
    assert removed == []
    reaper.disconnected("a")
    time.sleep(0.6)
    assert removed == ["a"] and reaper.pending() == []


def test_the_reaper_counts_each_connection():
    import time

    reaper, removed = _reaper(0.2)
    reaper.connected("b")
    reaper.connected("b")  # the heartbeat and a result stream
    reaper.disconnected("b")
    time.sleep(0.4)
    assert removed == []  # one is still open
    reaper.disconnected("b")
    time.sleep(0.4)
    assert removed == ["b"]


def test_requests_name_their_session():
    assert session.request_session("/gradio_api/heartbeat/abc_12-x", "") == "abc_12-x"
    assert session.request_session("/gradio_api/queue/data", "session_hash=s1&x=2") == "s1"
    assert session.request_session("/gradio_api/queue/data", "other=1&session_hash=s2") == "s2"
    assert session.request_session("/gradio_api/file=/tmp/x.zip", "") is None
    assert session.request_session("/gradio_api/heartbeat/../../etc", "") is None


def test_a_shared_upload_goes_with_the_last_session_holding_it():
    files = session.SessionFiles()
    files.add("a", "/cache/x/reviews.csv")
    files.add("b", "/cache/x/reviews.csv")
    files.add("a", "/cache/y/own.csv")
    assert files.release("a") == ["/cache/y/own.csv"]
    assert files.release("b") == ["/cache/x/reviews.csv"]
    assert files.release("b") == []


def test_sweep_also_removes_old_cached_zips(tmp_path):
    import os
    import time

    runs, cache = tmp_path / "runs", tmp_path / "cache"
    (cache / "h1").mkdir(parents=True)
    (cache / "h2").mkdir()
    old, new = cache / "h1" / "run-1-abc.zip", cache / "h2" / "run-2-def.zip"
    old.write_bytes(b"PK"), new.write_bytes(b"PK"), (cache / "h1" / "upload.csv").write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert session.sweep(runs, max_age_hours=1, cache_dir=cache) == ["run-1-abc.zip"]
    assert not old.exists() and new.exists() and (cache / "h1" / "upload.csv").exists()


def test_cached_zips_are_found_while_other_folders_vanish(tmp_path, monkeypatch):
    from pathlib import Path

    for name, folder in (("run-1-abc.zip", "h1"), ("run-2-abc.zip", "h2"), ("run-1-other.zip", "h3")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"PK")
    (tmp_path / "h4").mkdir()
    real_iterdir = Path.iterdir

    def vanishing(self):  # another session's ending removes h4 between the listing and its reading
        if self.name == "h4":
            raise FileNotFoundError(self)
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", vanishing)
    assert sorted(p.name for p in session.cached_zips(tmp_path, "abc")) == ["run-1-abc.zip", "run-2-abc.zip"]
    assert session.cached_zips(tmp_path / "missing", "abc") == []
