"""The Models tab's table: one student never sees the model another student fine-tuned, while the
shared models (embedded, hub, host's) are listed for everyone."""

import shutil

import pytest

from lab import session
from lab.context import Lab
from lab.settings import Settings
from tabs.models import ModelsTab


@pytest.mark.slow  # loads the real embedded encoder and measures its card
def test_a_session_sees_its_own_fine_tuned_model_and_never_anothers(tmp_path, tiny_cls_dir):
    runs = tmp_path / "runs"
    lab = Lab(Settings(offline=True, runs_dir=runs))
    alice, bob = {}, {}
    for name, who in (("alice", "session-a"), ("bob", "session-b")):
        folder = session.session_dir(runs, who) / "run-1"
        shutil.copytree(tiny_cls_dir, folder)
        state = session.add_model(None, "classification", "run-1 (local)", str(folder))
        (alice if name == "alice" else bob).update(state)
    lab.model("classification", "run-1 (local)", alice)
    lab.model("classification", "run-1 (local)", bob)
    lab.model("finetune-base")  # the embedded encoder: shared

    def listed(state):
        return sorted(str(m.ref.id) for m in lab.loaded_models(state) if m.ref.kind == "local")

    assert listed(alice) == [alice["models"]["run-1 (local)"]["dir"]]
    assert listed(bob) == [bob["models"]["run-1 (local)"]["dir"]]
    assert listed(session.empty()) == []  # a fresh session: no one's fine-tuned model
    assert any(m.ref.kind == "embedded" for m in lab.loaded_models(session.empty()))

    table, _ = ModelsTab(lab).model_cards.__wrapped__(ModelsTab(lab), "A short text.", [], session.empty())
    rows = [dict(zip(table["headers"], row)) for row in table["data"]]
    assert rows and all(row["model"] != "run-1 (local)" for row in rows)
    assert table["headers"][:4] == ["model", "task", "tokens", "ms per input"]  # the measurements come first
