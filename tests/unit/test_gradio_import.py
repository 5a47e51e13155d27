"""Cold start: gradio is imported without regenerating its type stubs (lab/gradio_import.py).

Each probe runs in a fresh process, since the hook only acts on gradio's first import.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lab import gradio_import

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
    from lab import gradio_import
    installed = gradio_import.skip_stub_writing() if {skip!r} else False
    import gradio as gr
    import shout_component
    with gr.Blocks() as demo:
        box = shout_component.Shout()
        button = gr.Button()
        button.click(lambda: "hi", None, box)  # the class's events are Gradio's own
    config = demo.get_config_file()
    print(json.dumps({{
        "installed": installed,
        "active": gradio_import.is_active(),
        "again": gradio_import.skip_stub_writing(),
        "hooks_left": sum(isinstance(f, gradio_import._SkipStubs) for f in sys.meta_path),
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


def test_the_app_installs_the_hook_before_gradio_is_imported():
    code = "import app; from lab import gradio_import; print(gradio_import.is_active())"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_installing_after_gradio_is_imported_adds_no_hook():
    import gradio  # noqa: F401  (already imported in this process by other tests; make sure)

    before = list(sys.meta_path)
    assert gradio_import.skip_stub_writing() is False
    assert sys.meta_path == before
