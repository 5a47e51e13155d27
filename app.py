"""BERT Transfer Lab: composes the tabs and launches. Holds no task logic.

Run ``python app.py``; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose where it listens,
LAB_* variables (see lab/settings.py) change the lab's own settings.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import patches

patches.skip_gradio_stub_writing()  # before gradio's first import: ~3 s less to the first page

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from lab import batching, i18n, lazy, logs, machine, memory, session  # noqa: E402
from lab.context import Lab  # noqa: E402
from lab.precision import inference_precision  # noqa: E402
from lab.settings import ASSETS_DIR, Settings  # noqa: E402
from tabs import i18n as i18n_tabs  # noqa: E402
from tabs.classification import ClassificationTab  # noqa: E402
from tabs.classroom import ClassTab  # noqa: E402
from tabs.fill_mask import FillMaskTab  # noqa: E402
from tabs.finetune import FinetuneTab  # noqa: E402
from tabs.i18n import t  # noqa: E402
from tabs.lessons import LessonsTab  # noqa: E402
from tabs.models import ModelsTab  # noqa: E402
from tabs.ner import NerTab  # noqa: E402
from tabs.qa import QaTab  # noqa: E402
from tabs.tokenizer import TokenizerTab  # noqa: E402
from tabs.transfer import TransferTab  # noqa: E402

log = logging.getLogger("lab.app")  # in the server's log with lab's own lines (lab/logs.py)

TITLE = "BERT Transfer Lab"

# Gradio recomputes the summary behind its /monitoring page (a pandas DataFrame of up to 10,000
# past events) after every event: 8-15 ms of CPU per request here, a third of a quick answer's
# cost. Once per 100 events over the last 1,000 is plenty. A host's own values win.
GRADIO_QUEUE_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "100", "GRADIO_ANALYTICS_MAX_EVENTS": "1000"}

# Each entry: (tab title, tab class). A tab class takes the Lab; .build(session_models) lays it out.
# The title names the tab in code; the page shows it in the student's language (app.tab.<id>).
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


def tab_id(title: str) -> str:
    return title.lower().replace(" ", "-")


def build_app(lab: Lab | None = None) -> gr.Blocks:
    lab = lab or Lab(Settings.from_env())
    patches.lazy_gradio_session_configs()  # a new session builds its ~300 component configs on demand, not up front
    with gr.Blocks(title=TITLE) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(t("app.intro"), elem_id="intro")
            language = i18n_tabs.language_switch()
        notice = lab.offline_notice()
        banner = gr.Markdown(f"📴 {notice}", elem_classes="lab-banner", elem_id="offline-notice", visible=bool(notice))
        # Models fine-tuned in this browser session (lab/session.py). Per session, so one
        # student's model is never listed in another student's tabs.
        session_models = gr.State(session.empty())
        tabs, titles = {}, {}
        with gr.Tabs() as main_tabs:
            for title, tab_class in TABS:
                with gr.Tab(t(f"app.tab.{tab_id(title)}"), id=tab_id(title)) as titles[tab_id(title)]:
                    tabs[title] = tab_class(lab)
                    tabs[title].build(session_models)
            board = tabs["Fine-tune"].board
            if board.enabled:  # the instructor's view, shown only to a page opened with ?token=
                with gr.Tab(t("app.tab.class"), id="class", visible=False) as class_tab:
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
        with gr.Accordion(t("app.limits"), open=False):
            limits = gr.Markdown(limits_text(lab.settings), elem_id="limits")
        # The page opens in the browser's language (or the one chosen before); the switch changes
        # Gradio's labels in the browser and what the server wrote: examples, lessons, limits.
        # Gradio re-translates a tab's title only once the tab is shown: the titles are sent again.
        localized = [tab for tab in tabs.values() if hasattr(tab, "localize")]
        outputs = [limits, banner, *titles.values(), *[box for tab in localized for box in tab.localized_outputs]]

        def localize(language: str) -> list:
            return [limits_text(lab.settings, language), f"📴 {i18n.say(notice, language)}" if notice else gr.skip(),
                    *[gr.Tab(label=t(f"app.tab.{key}")) for key in titles],
                    *[update for tab in localized for update in tab.localize(language)]]

        i18n_tabs.connect(demo, language, outputs, localize, i18n_tabs.upload_widgets(demo))
    # Gradio's own state for a session goes with the session's files (patches.py GradioSessions).
    gradio_sessions = patches.GradioSessions(demo)
    tabs["Fine-tune"].reaper.track(gradio_sessions.holds, gradio_sessions.forget)
    demo.lab = lab  # tests and benchmarks reach the same model cache
    demo.lab_tabs = tabs
    return demo


def limits_text(settings: Settings, language: str = i18n.DEFAULT) -> str:
    """The caps a host set (lab/settings.py), stated to users."""
    data = settings.data_limits
    lines = [
        i18n.text("app.limits.uploads", language, mb=f"{data.max_bytes / 2**20:.0f}", rows=f"{data.max_rows:,}",
                  classes=f"{data.max_classes:,}", chars=f"{data.max_text_chars:,}"),
        i18n.text("app.limits.text", language, chars=f"{settings.max_text_chars:,}"),
        i18n.text("app.limits.labels", language, chars=data.max_label_chars),
        i18n.text("app.limits.training", language, trainings=settings.max_concurrent_trainings,
                  minutes=f"{settings.max_train_minutes:g}", gb=f"{settings.max_train_memory_mb / 1024:.1f}"),
        i18n.text("app.limits.sessions", language, minutes=f"{settings.session_grace_minutes:g}"),
    ]
    return "\n".join(lines)


def launch_kwargs(demo: gr.Blocks | None = None) -> dict:
    """Theme and css go to launch() in Gradio 6. System fonts: nothing fetched from a font CDN.
    With ``demo``, requests that name a browser session keep its files alive (lab/session.py)."""
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    return {
        "theme": theme,
        "i18n": i18n_tabs.I18N,  # the labels' words in every language (assets/i18n)
        "css_paths": [ASSETS_DIR / "style.css"],
        "head": i18n_tabs.RUN_HISTORY_HEAD,  # Gradio's "Runs" page names inputs in words, not i18n marks
        # Refused by the server before a byte reaches our code; DataLimits says it in words.
        "max_file_size": (demo.lab.settings if demo is not None else Settings.from_env()).data_limits.max_bytes,
        **({"app_kwargs": {"middleware": [Middleware(session.SessionActivity, reaper=demo.lab_tabs["Fine-tune"].reaper)]}}
           if demo is not None else {}),
    }


def warm_up(settings: Settings) -> None:
    """Once the page is served: torch's thread count for this server, then the heavy imports.
    Requests that come meanwhile wait for it (lab.lazy.ready): two threads importing transformers
    at once can break each other's imports."""
    with lazy.warming_up():
        import torch

        torch.set_num_threads(settings.torch_threads)  # per request; several run at once (lab/settings.py)
        log.info("this machine: %s; inference in %s", machine.describe(settings.cpu_bf16),
                 inference_precision(settings.inference_precision, settings.cpu_bf16))
        lazy.warm()
    from training.runs import backends

    backends.shared(settings)  # the training workers start now, not when the first student presses Train
    backends.for_curves(settings)  # and the learning curves' worker: lesson 1's first click does not wait for it


def sweep_leftovers(settings: Settings) -> list[str]:
    """What the server's last run left: every session folder (a restart ended its sessions, those in
    their grace period too) and the session's files in Gradio's cache. A runs folder that another
    running server holds keeps its sessions; only folders older than LAB_SESSION_MAX_AGE_HOURS go."""
    cache = Path(gr.utils.get_upload_folder())
    if session.claim(settings.runs_dir):
        return session.sweep(settings.runs_dir, cache)
    log.warning("another server uses %s: only its sessions older than %g h are swept", settings.runs_dir,
                settings.session_max_age_hours)
    return session.sweep(settings.runs_dir, cache, max_age_s=settings.session_max_age_hours * 3600)


def serve(settings: Settings) -> None:
    """Serve the app until interrupted. The page needs neither torch nor transformers (lab.lazy):
    they are imported in the background once it is served, so the first answer finds them loaded."""
    logs.configure_server()  # the URL, one line per model load, warnings that matter (lab/logs.py)
    memory.configure_allocator()  # freed tensors go back to the OS (lab/memory.py)
    for name, value in GRADIO_QUEUE_ENV.items():  # read when the queue is made
        os.environ.setdefault(name, value)
    sweep_leftovers(settings)
    batching.FORWARDS.configure(settings.forward_slots, settings.max_batch)
    demo = build_app(Lab(settings)).queue(default_concurrency_limit=2)
    lazy.announce_warm_up()  # before the page is served: its first requests wait for the imports
    demo.launch(prevent_thread_lock=True, **launch_kwargs(demo))
    threading.Thread(target=warm_up, args=(settings,), name="lab-warm-up", daemon=True).start()
    demo.block_thread()


if __name__ == "__main__":
    serve(Settings.from_env())
