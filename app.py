"""BERT Transfer Lab: composes the tabs and launches. Holds no task logic.

Run ``python app.py``; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose where it listens,
LAB_* variables (see lab/settings.py) change the lab's own settings.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from lab import gradio_import

gradio_import.skip_stub_writing()  # before gradio's first import: ~3 s less to the first page

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from lab import batching, gradio_sessions, lazy, logs, machine, memory, session  # noqa: E402
from lab.context import Lab  # noqa: E402
from lab.precision import inference_precision  # noqa: E402
from lab.settings import ASSETS_DIR, Settings  # noqa: E402
from tabs.classification import ClassificationTab  # noqa: E402
from tabs.classroom import ClassTab  # noqa: E402
from tabs.fill_mask import FillMaskTab  # noqa: E402
from tabs.finetune import FinetuneTab  # noqa: E402
from tabs.lessons import LessonsTab  # noqa: E402
from tabs.models import ModelsTab  # noqa: E402
from tabs.ner import NerTab  # noqa: E402
from tabs.qa import QaTab  # noqa: E402
from tabs.tokenizer import TokenizerTab  # noqa: E402
from tabs.transfer import TransferTab  # noqa: E402
from training.data import DataLimits  # noqa: E402

log = logging.getLogger("lab.app")  # in the server's log with lab's own lines (lab/logs.py)

TITLE = "BERT Transfer Lab"
INTRO = (
    "# BERT Transfer Lab\n"
    "Pre-train, then fine-tune: look inside BERT's tokenizer and masked-LM, then use and "
    "fine-tune models for classification, NER and question answering."
)

# Gradio recomputes the summary behind its /monitoring page (a pandas DataFrame of up to 10,000
# past events) after every event: 8-15 ms of CPU per request here, a third of a quick answer's
# cost. Once per 100 events over the last 1,000 is plenty. A host's own values win.
GRADIO_QUEUE_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "100", "GRADIO_ANALYTICS_MAX_EVENTS": "1000"}

# Each entry: (tab title, tab class). A tab class takes the Lab; .build(session_models) lays it out.
TABS = [
    ("Tokenizer", TokenizerTab),
    ("Fill-mask", FillMaskTab),
    ("Classification", ClassificationTab),
    ("NER", NerTab),
    ("Question answering", QaTab),
    ("Fine-tune", FinetuneTab),
    ("Transfer", TransferTab),
    ("Models", ModelsTab),
    ("Lessons", LessonsTab),
]


def build_app(lab: Lab | None = None) -> gr.Blocks:
    lab = lab or Lab(Settings.from_env())
    gradio_sessions.install()  # a new session builds its ~300 component configs on demand, not up front
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        notice = lab.offline_notice()
        if notice:
            gr.Markdown(f"📴 {notice}", elem_classes="lab-banner", elem_id="offline-notice")
        # Models fine-tuned in this browser session (lab/session.py). Per session, so one
        # student's model is never listed in another student's tabs.
        session_models = gr.State(session.empty())
        tabs = {}
        with gr.Tabs() as main_tabs:
            for title, tab_class in TABS:
                with gr.Tab(title, id=title.lower().replace(" ", "-")):
                    tabs[title] = tab_class(lab)
                    tabs[title].build(session_models)
            board = tabs["Fine-tune"].board
            if board.enabled:  # the instructor's view, shown only to a page opened with ?token=
                with gr.Tab("Class", id="class", visible=False) as class_tab:
                    ClassTab(lab, board).build(class_tab, demo)
        # A model fine-tuned here shows up at once in the tab that uses it (this session only).
        tabs["Fine-tune"].link({"classification": tabs["Classification"].model, "ner": tabs["NER"].model,
                                "qa": tabs["Question answering"].model})
        # A lesson's button opens its tab with the step's inputs filled in.
        tabs["Lessons"].connect(demo, main_tabs, {key: box for tab in tabs.values()
                                                  for key, box in getattr(tab, "lesson_inputs", {}).items()})
        transfer = tabs["Transfer"]
        tabs["Fine-tune"].train_event.then(transfer.refresh, session_models, [transfer.data, transfer.model],
                                           api_visibility="private")
        # Closing the browser tab stops its training and deletes its models.
        demo.unload(tabs["Fine-tune"].end_session)
        with gr.Accordion("Limits of this server", open=False):
            gr.Markdown(limits_text(lab.settings))
    demo.lab = lab  # tests and benchmarks reach the same model cache
    demo.lab_tabs = tabs
    return demo


def limits_text(settings: Settings) -> str:
    """The caps a host set (lab/settings.py, training/data.py DataLimits), stated to users."""
    data = DataLimits.from_env()
    return (
        f"- Uploads: at most {data.max_bytes / 2**20:.0f} MB, {data.max_rows:,} rows, {data.max_classes:,} classes, "
        f"{data.max_text_chars:,} characters per text (LAB_MAX_UPLOAD_MB, LAB_MAX_ROWS, LAB_MAX_CLASSES, LAB_MAX_UPLOAD_TEXT_CHARS).\n"
        f"- Text boxes: at most {settings.max_text_chars:,} characters (LAB_MAX_TEXT_CHARS).\n"
        f"- Labels: at most {data.max_label_chars} characters each; JSON files: SQuAD's shape, not nested deeper.\n"
        f"- Training: {settings.max_concurrent_trainings} at a time (others wait in the queue), "
        f"at most {settings.max_train_minutes:g} minutes and {settings.max_train_memory_mb / 1024:.1f} GB of memory "
        f"each, estimated before it starts (LAB_MAX_TRAININGS, LAB_MAX_TRAIN_MINUTES, LAB_MAX_TRAIN_MEMORY_MB).\n"
        f"- Your fine-tuned models are yours alone. When you close the tab they are deleted, with their "
        f"downloads and your uploads, {settings.session_grace_minutes:g} minutes later (LAB_SESSION_GRACE_MINUTES): "
        "a connection that drops and comes back keeps them."
    )


def launch_kwargs(demo: gr.Blocks | None = None) -> dict:
    """Theme and css go to launch() in Gradio 6. System fonts: nothing fetched from a font CDN.
    With ``demo``, requests that name a browser session keep its files alive (lab/session.py)."""
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    return {
        "theme": theme,
        "css_paths": [ASSETS_DIR / "style.css"],
        # Refused by the server before a byte reaches our code; DataLimits says it in words.
        "max_file_size": DataLimits.from_env().max_bytes,
        **({"app_kwargs": {"middleware": [Middleware(session.SessionActivity, reaper=demo.lab_tabs["Fine-tune"].reaper)]}}
           if demo is not None else {}),
    }


def warm_up(settings: Settings) -> None:
    """Once the page is served: torch's thread count for this server, then the heavy imports."""
    import torch

    torch.set_num_threads(settings.torch_threads)  # per request; several run at once (lab/settings.py)
    log.info("this machine: %s; inference in %s", machine.describe(), inference_precision(settings.inference_precision))
    lazy.warm()
    from training import backends

    backends.shared(settings)  # the training workers start now, not when the first student presses Train


def serve(settings: Settings) -> None:
    """Serve the app until interrupted. The page needs neither torch nor transformers (lab.lazy):
    they are imported in the background once it is served, so the first answer finds them loaded."""
    logs.configure_server()  # the URL, one line per model load, warnings that matter (lab/logs.py)
    memory.configure_allocator()  # freed tensors go back to the OS (lab/memory.py)
    for name, value in GRADIO_QUEUE_ENV.items():  # read when the queue is made
        os.environ.setdefault(name, value)
    # leftovers of a previous run: session folders, and their zips in Gradio's cache
    session.sweep(settings.runs_dir, settings.session_max_age_hours, cache_dir=Path(gr.utils.get_upload_folder()))
    batching.FORWARDS.configure(settings.forward_slots, settings.max_batch)
    demo = build_app(Lab(settings)).queue(default_concurrency_limit=2)
    demo.launch(prevent_thread_lock=True, **launch_kwargs(demo))
    threading.Thread(target=warm_up, args=(settings,), name="lab-warm-up", daemon=True).start()
    demo.block_thread()


if __name__ == "__main__":
    serve(Settings.from_env())
