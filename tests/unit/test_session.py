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
