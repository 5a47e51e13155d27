"""patches.py: each patch of a library's internals on the real libraries, and each one off on a version
it was not written for.

The stub probes run in a fresh process, since the hook only acts on gradio's first import.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gradio as gr
import pytest
from gradio.state_holder import SessionState

import app
import patches

ROOT = Path(__file__).resolve().parents[2]

# A component defined in a module file of its own, as an app would: Gradio's stub writer parses
# that file and writes a .pyi beside it.
COMPONENT = textwrap.dedent("""
    import gradio as gr

    class Shout(gr.Textbox):
        def postprocess(self, value):
            return super().postprocess(None if value is None else str(value).upper())
""")

PROBE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {component_dir!r})
    import patches
    installed = patches.skip_gradio_stub_writing() if {skip!r} else False
    import gradio as gr
    import shout_component
    with gr.Blocks() as demo:
        box = shout_component.Shout()
        button = gr.Button()
        button.click(lambda: "hi", None, box)  # the class's events are Gradio's own
    config = demo.get_config_file()
    print(json.dumps({{
        "installed": installed,
        "active": patches.gradio_stubs_skipped(),
        "again": patches.skip_gradio_stub_writing(),
        "hooks_left": sum(isinstance(f, patches._SkipStubs) for f in sys.meta_path),
        "types": sorted({{c["type"] for c in config["components"]}}),
        "postprocessed": box.postprocess("hi"),
        "has_change_event": callable(getattr(shout_component.Shout, "change", None)),
    }}))
""")


def _probe(tmp_path: Path, skip: bool) -> dict:
    folder = tmp_path / ("skip" if skip else "stock")
    folder.mkdir()
    (folder / "shout_component.py").write_text(COMPONENT)
    code = PROBE.format(component_dir=str(folder), skip=skip)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["stub_written"] = (folder / "shout_component.pyi").exists()
    return result


@pytest.mark.slow
def test_gradio_writes_stubs_on_import_and_the_hook_stops_it(tmp_path):
    stock = _probe(tmp_path, skip=False)
    # The premise: Gradio itself writes a .pyi beside every component class it sees defined.
    assert stock["stub_written"] and not stock["active"]

    fast = _probe(tmp_path, skip=True)
    assert fast["installed"] and fast["active"]
    assert not fast["stub_written"]
    assert fast["again"] is False  # once gradio is imported, installing again changes nothing
    assert fast["hooks_left"] == 0  # the hook removed itself once it had patched gradio
    # The components are the same to the app: same page, same behaviour, same events.
    assert fast["types"] == stock["types"]
    assert {"shout", "button"} <= set(fast["types"])
    assert fast["postprocessed"] == stock["postprocessed"] == "HI"
    assert fast["has_change_event"] and stock["has_change_event"]


@pytest.mark.slow
def test_the_app_installs_the_hook_before_gradio_is_imported():
    code = "import app, patches; print(patches.gradio_stubs_skipped())"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_installing_after_gradio_is_imported_adds_no_hook():
    import gradio  # noqa: F401  (already imported in this process by other tests; make sure)

    before = list(sys.meta_path)
    assert patches.skip_gradio_stub_writing() is False
    assert sys.meta_path == before


def eager_session(demo) -> SessionState:
    """A session made by Gradio's own __init__, as without the patch."""
    state = SessionState.__new__(SessionState)
    patches._original_session_init(state, demo)
    return state


def test_a_new_session_builds_no_component_config_up_front():
    demo = app.build_app()  # installs the patch
    assert patches.lazy_gradio_session_configs() is True
    state = SessionState(demo)
    assert isinstance(state.config_values, patches.LazyConfigs)
    assert dict.__len__(state.config_values) == 0
    eager = eager_session(demo)
    assert len(state.config_values) == len(eager.config_values) > 200


def test_what_a_deep_link_reads_is_what_gradio_would_have_made():
    demo = app.build_app()
    lazy, eager = SessionState(demo), eager_session(demo)
    assert list(lazy.components) == list(eager.components)
    assert list(lazy.config_values) == list(eager.config_values)  # same ids, same order


def test_updates_to_a_session_show_in_its_configs_as_in_gradios():
    demo = app.build_app()
    textbox = next(b for b in demo.blocks.values() if isinstance(b, gr.Textbox))
    markdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Markdown))
    lazy, eager = SessionState(demo), eager_session(demo)
    for state in (lazy, eager):
        state._update_value_in_config(textbox._id, "typed by a student")
        state[markdown._id] = gr.Markdown("replaced for this session")
    assert lazy.config_values[textbox._id]["props"]["value"] == "typed by a student"
    assert list(lazy.components) == list(eager.components)
    assert SessionState(demo).config_values[textbox._id] == eager_session(demo).config_values[textbox._id]


def test_each_patch_stays_off_on_a_version_it_was_not_written_for(monkeypatch, caplog):
    monkeypatch.setitem(patches.WRITTEN_FOR, "accelerate", ("0.1",))
    monkeypatch.setitem(patches.WRITTEN_FOR, "gradio", ("5.0",))
    with caplog.at_level("WARNING", logger="patches"):
        assert patches.reset_accelerate_state() is False
        assert patches.written_for("gradio", "gradio stubs") is False
    assert "patch 'accelerate state reset' off: written for accelerate 0.1" in caplog.text
    assert "patch 'gradio stubs' off: written for gradio 5.0" in caplog.text


def test_the_lazy_session_patch_is_not_installed_on_another_gradio(monkeypatch):
    from gradio import state_holder

    gradios_own = patches._original_session_init or state_holder.SessionState.__init__
    monkeypatch.setattr(state_holder.SessionState, "__init__", gradios_own)
    monkeypatch.setattr(patches, "_original_session_init", None)
    monkeypatch.setitem(patches.WRITTEN_FOR, "gradio", ("5.0",))
    assert patches.lazy_gradio_session_configs() is False
    assert state_holder.SessionState.__init__ is gradios_own  # untouched
    demo = app.build_app()
    state = SessionState(demo)
    assert not isinstance(state.config_values, patches.LazyConfigs) and len(state.config_values) > 200
