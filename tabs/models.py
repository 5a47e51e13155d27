"""Models tab: every loaded model's card measured on your text, and next-sentence prediction."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from lab.context import Lab
from lab.errors import NoHeadAvailable
from lab.lazy import lazy_import
from lab.registry import TASKS
from lab.tokenization import check_text
from tabs.common import QUICK, SLOW, explainer, head_banner, lane, model_dropdown, model_line, user_errors

model_card = lazy_import("lab.model_card")  # torch: imported after the page is served

EXPLAINER = """
**Same idea, different sizes.** BERT-base has 12 layers of width 768 (110M parameters);
DistilBERT keeps 6 of those layers (66M) and runs about twice as fast; the embedded
all-MiniLM-L6-v2 has 6 layers of width 384 (23M). The time column is measured here, now, on
your text: more layers and wider layers cost more, and longer inputs cost more too.

**Next-sentence prediction** was BERT's second pre-training task: given sentences A and B,
is B the sentence that followed A in the book, or a random one? The `[CLS]` vector answers.
Later models (RoBERTa, MiniLM) dropped it, so only models that kept the NSP head can answer.
"""

TASKS_WITH_MODELS = [t for t in TASKS if t != "tokenizer"]


def _key(task: str, choice: str) -> str:
    return f"{TASKS[task].title}: {choice}"


class ModelsTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    def candidates(self) -> dict[str, tuple[str, str]]:
        """Models a student can ask to load for comparison: {label: (task, choice)}."""
        out = {}
        for task in TASKS_WITH_MODELS:
            for choice in self.lab.choices(task):
                out[_key(task, choice)] = (task, choice)
        return out

    @user_errors
    def model_cards(self, text: str, also_load: list[str] | None = None, session_models=None):
        check_text(text, self.lab.settings.max_text_chars)
        notes = []
        candidates = self.candidates()
        for label in also_load or []:
            if label not in candidates:
                notes.append(f"Unknown model '{label}', skipped.")
                continue
            task, choice = candidates[label]
            try:
                self.lab.model(task, choice, session_models)
            except NoHeadAvailable:
                notes.append(f"{label}: no trained head offline, not loaded.")
        loaded = [m for m in self.lab.models.loaded() if m.model is not None]
        if not loaded:
            notes.append("No model is loaded yet: tick one above or use another tab first.")
        cards = [model_card.measure(m, text) for m in loaded]
        table = pd.DataFrame(
            [{"model": c.name, "task": c.task, "source": c.source, "architecture": c.architecture,
              "layers": c.layers, "hidden": c.hidden, "heads": c.heads,
              "parameters (M)": round(c.parameters / 1e6, 1), "vocabulary": c.vocabulary,
              "tokens": c.tokens, "ms per input": round(c.milliseconds, 1)} for c in cards]
        ).sort_values("ms per input") if cards else pd.DataFrame()
        return table, "\n".join(f"- {n}" for n in notes)

    @user_errors
    def nsp(self, sentence_a: str, sentence_b: str, model: str | None = None):
        check_text(sentence_a, self.lab.settings.max_text_chars, "first sentence")
        check_text(sentence_b, self.lab.settings.max_text_chars, "second sentence")
        loaded = self.lab.model("nsp", model)
        result = model_card.next_sentence(loaded, sentence_a, sentence_b)
        return {"B follows A": result.is_next, "B is random": 1 - result.is_next}, model_line(loaded)

    def build(self, session_models: gr.State | None = None) -> None:
        gr.Markdown("Every model the app has loaded, measured on your text.")
        with gr.Row():
            text = gr.Textbox(label="Text to time the models on", scale=3, elem_id="mc-text",
                              value="Transfer learning lets a small model learn a new task from few examples.")
            run = gr.Button("Measure the loaded models", variant="primary", elem_id="mc-run")
        also = gr.CheckboxGroup(choices=list(self.candidates()), label="Also load (before measuring)",
                                value=[_key("finetune-base", self.lab.default_choice("finetune-base"))])
        table = gr.Dataframe(interactive=False, elem_id="mc-table")
        notes = gr.Markdown()
        run.click(self.model_cards, [text, also, session_models] if session_models else [text, also],
                  [table, notes], api_name="model_cards", **lane(self.lab, SLOW))

        gr.Markdown("### Next-sentence prediction")
        head_banner(self.lab, "nsp")
        with gr.Row():
            a = gr.Textbox(label="Sentence A", value="She opened the fridge.", elem_id="nsp-a")
            b = gr.Textbox(label="Sentence B", value="It was empty except for a jar of pickles.", elem_id="nsp-b")
            with gr.Column():
                model = model_dropdown(self.lab, "nsp")
                nsp_run = gr.Button("Is B the next sentence?", elem_id="nsp-run")
        with gr.Row():
            verdict = gr.Label(label="Next sentence?")
            info = gr.Markdown()
        nsp_run.click(self.nsp, [a, b, model], [verdict, info], api_name="nsp", **lane(self.lab, QUICK))
        explainer(EXPLAINER)
