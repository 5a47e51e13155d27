"""BERT Transfer Lab: composes the tabs and launches. Holds no task logic.

Run ``python app.py``; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose where it listens,
LAB_* variables (see lab/settings.py) change the lab's own settings.
"""

from __future__ import annotations

import gradio as gr

from lab import session
from lab.context import Lab
from lab.settings import ASSETS_DIR, Settings
from tabs.classification import ClassificationTab
from tabs.fill_mask import FillMaskTab
from tabs.finetune import FinetuneTab
from tabs.models import ModelsTab
from tabs.ner import NerTab
from tabs.qa import QaTab
from tabs.tokenizer import TokenizerTab

TITLE = "BERT Transfer Lab"
INTRO = (
    "# BERT Transfer Lab\n"
    "Pre-train, then fine-tune: look inside BERT's tokenizer and masked-LM, then use and "
    "fine-tune models for classification, NER and question answering."
)

# Each entry: (tab title, tab class). A tab class takes the Lab; .build(session_models) lays it out.
TABS = [
    ("Tokenizer", TokenizerTab),
    ("Fill-mask", FillMaskTab),
    ("Classification", ClassificationTab),
    ("NER", NerTab),
    ("Question answering", QaTab),
    ("Fine-tune", FinetuneTab),
    ("Models", ModelsTab),
]


def build_app(lab: Lab | None = None) -> gr.Blocks:
    lab = lab or Lab(Settings.from_env())
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        notice = lab.offline_notice()
        if notice:
            gr.Markdown(f"📴 {notice}", elem_classes="lab-banner", elem_id="offline-notice")
        # Models fine-tuned in this browser session (lab/session.py). Per session, so one
        # student's model is never listed in another student's tabs.
        session_models = gr.State(session.empty())
        tabs = {}
        with gr.Tabs():
            for title, tab_class in TABS:
                with gr.Tab(title, id=title.lower().replace(" ", "-")):
                    tabs[title] = tab_class(lab)
                    tabs[title].build(session_models)
        # A model fine-tuned here shows up at once in the tab that uses it (this session only).
        tabs["Fine-tune"].link({"classification": tabs["Classification"].model})
    demo.lab = lab  # tests and benchmarks reach the same model cache
    demo.lab_tabs = tabs
    return demo


def launch_kwargs() -> dict:
    """Theme and css go to launch() in Gradio 6. System fonts: nothing fetched from a font CDN."""
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    return {"theme": theme, "css_paths": [ASSETS_DIR / "style.css"]}


if __name__ == "__main__":
    build_app().queue(default_concurrency_limit=2).launch(**launch_kwargs())
