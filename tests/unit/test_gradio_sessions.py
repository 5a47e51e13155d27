"""Lazy per-session component configs (lab/gradio_sessions.py) on the real page."""

import gradio as gr
from gradio.state_holder import SessionState

import app
from lab import gradio_sessions


def eager_session(demo) -> SessionState:
    """A session made by Gradio's own __init__, as without the patch."""
    state = SessionState.__new__(SessionState)
    gradio_sessions._original_init(state, demo)
    return state


def test_a_new_session_builds_no_component_config_up_front():
    demo = app.build_app()  # installs the patch
    assert gradio_sessions.install() is True
    state = SessionState(demo)
    assert isinstance(state.config_values, gradio_sessions.LazyConfigs)
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
