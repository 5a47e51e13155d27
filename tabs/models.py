"""Models tab: every loaded model's card measured on your text, and next-sentence prediction."""

from __future__ import annotations

import gradio as gr

from lab import i18n
from lab.context import Lab
from lab.errors import NoHeadAvailable
from lab.lazy import lazy_import
from lab.registry import TASKS
from lab.tokenization import check_text
from tabs.common import (
    QUICK,
    SLOW,
    expected,
    explainer,
    head_banner,
    lane,
    model_dropdown,
    model_line,
    table,
    user_errors,
)
from tabs.i18n import request_language, t

model_card = lazy_import("lab.model_card")  # torch: imported after the page is served

TASKS_WITH_MODELS = [task for task in TASKS if task != "tokenizer"]
COLUMNS = ["model", "task", "tokens", "ms per input", "parameters (M)", "layers", "hidden", "heads", "vocabulary",
           "source", "architecture"]


def _key(task: str, choice: str) -> str:
    """A model's value in "Also load": English, as the API takes it."""
    return f"{TASKS[task].title}: {choice}"


def _shown(task: str, choice: str, language: str) -> str:
    """The same model as "Also load" shows it, in the page's language."""
    return i18n.text("models.choice", language, task=i18n.text(f"models.task.{task}", language), choice=choice)


class ModelsTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    def localize(self, language: str) -> list:
        """The task names of the "Also load" choices in the page's language (their values stay the API's)."""
        return [gr.update(choices=[(_shown(task, choice, language), key)
                                   for key, (task, choice) in self.candidates().items()])]

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
        language = request_language()
        candidates = self.candidates()
        for label in also_load or []:
            if label not in candidates:
                notes.append(i18n.text("models.unknown", language, label=label))
                continue
            task, choice = candidates[label]
            try:
                self.lab.model(task, choice, session_models)
            except NoHeadAvailable:
                notes.append(i18n.text("models.no_head", language, label=_shown(task, choice, language)))
        loaded = [m for m in self.lab.loaded_models(session_models) if m.model is not None]
        if not loaded:
            notes.append(i18n.text("models.none_loaded", language))
        cards = sorted((model_card.measure(m, text) for m in loaded), key=lambda c: c.milliseconds)
        # What is measured first, so a page 1,400 px wide shows it without scrolling sideways.
        rows = [{"model": c.name, "task": c.task, "tokens": c.tokens, "ms per input": round(c.milliseconds, 1),
                 "parameters (M)": round(c.parameters / 1e6, 1), "layers": c.layers, "hidden": c.hidden,
                 "heads": c.heads, "vocabulary": c.vocabulary, "source": c.source, "architecture": c.architecture}
                for c in cards]
        return table(rows, COLUMNS, language), "\n".join(f"- {n}" for n in notes)

    @user_errors
    def nsp(self, sentence_a: str, sentence_b: str, model: str | None = None):
        check_text(sentence_a, self.lab.settings.max_text_chars, "first sentence")
        check_text(sentence_b, self.lab.settings.max_text_chars, "second sentence")
        language = request_language()
        try:
            loaded = self.lab.model("nsp", model)
        except NoHeadAvailable as exc:  # offline: the notice above the button already says why
            return None, expected(exc.args[0], language)
        result = model_card.next_sentence(loaded, sentence_a, sentence_b)
        return ({i18n.text("models.follows", language): result.is_next,
                 i18n.text("models.random", language): 1 - result.is_next}, model_line(loaded, language=language))

    def build(self, session_models: gr.State | None = None) -> None:
        gr.Markdown(t("models.intro"))
        with gr.Row():
            text = gr.Textbox(label=t("models.text"), scale=3, elem_id="mc-text",
                              value="Transfer learning lets a small model learn a new task from few examples.")
            run = gr.Button(t("models.run"), variant="primary", elem_id="mc-run")
        also = gr.CheckboxGroup(choices=list(self.candidates()), label=t("models.also"),
                                value=[_key("finetune-base", self.lab.default_choice("finetune-base"))])
        self.localized_outputs = [also]  # what localize() updates
        table = gr.Dataframe(interactive=False, elem_id="mc-table")
        notes = gr.Markdown()
        run.click(self.model_cards, [text, also, session_models] if session_models else [text, also],
                  [table, notes], api_name="model_cards", **lane(self.lab, SLOW))

        gr.Markdown(t("models.nsp_title"))
        head_banner(self.lab, "nsp")
        with gr.Row():
            a = gr.Textbox(label=t("models.sentence_a"), value="She opened the fridge.", elem_id="nsp-a")
            b = gr.Textbox(label=t("models.sentence_b"), value="It was empty except for a jar of pickles.",
                           elem_id="nsp-b")
            with gr.Column():
                model = model_dropdown(self.lab, "nsp")
                nsp_run = gr.Button(t("models.nsp_run"), elem_id="nsp-run")
        with gr.Row():
            verdict = gr.Label(label=t("models.verdict"))
            info = gr.Markdown()
        nsp_run.click(self.nsp, [a, b, model], [verdict, info], api_name="nsp", **lane(self.lab, QUICK))
        explainer(t("models.explainer"))
