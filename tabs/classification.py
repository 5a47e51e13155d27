"""Classification tab: label probabilities for a text, and the words that drove the decision."""

from __future__ import annotations

import time

import gradio as gr

from lab import i18n
from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS
from lab.render_classify import saliency_html
from lab.tokenization import check_text
from tabs.attention import attention_panel
from tabs.common import QUICK, SLOW, explainer, head_banner, lane, model_dropdown, model_line, user_errors
from tabs.i18n import Examples, request_language, t

lab_classify = lazy_import("lab.classify")  # torch: imported after the page is served

METHOD_CHOICES = [(t("cls.method.integrated_gradients"), INTEGRATED_GRADIENTS),
                  (t("cls.method.gradient_x_input"), GRADIENT_X_INPUT)]

# Per language: what a student of that class would type. The offline head is English (SST-2), so
# the Indonesian and Chinese sets start with a negative review in the language, which it calls
# positive (what an English-only model makes of it), and keep English ones it reads well.
EXAMPLES = {
    "en": [
        ["This film was an absolute delight from start to finish."],
        ["The plot was predictable and the acting was wooden."],
        ["Not bad at all, though the ending dragged."],
        ["I expected to hate it, but I loved every minute."],
    ],
    "id": [
        ["Filmnya membosankan dan terlalu panjang."],
        ["This film was an absolute delight from start to finish."],
        ["The plot was predictable and the acting was wooden."],
        ["The food was great but the service was terribly slow."],
    ],
    "zh-TW": [
        ["這部電影很無聊，劇情太拖了。"],
        ["This film was an absolute delight from start to finish."],
        ["The plot was predictable and the acting was wooden."],
        ["I expected to hate it, but I loved every minute."],
    ],
}


class ClassificationTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.model: gr.Dropdown | None = None  # the Fine-tune tab adds this session's models to it

    @user_errors
    def classify(self, text: str, model: str | None = None, session_models: dict | None = None):
        """The label probabilities (one forward pass); the saliency follows in ``explain``."""
        check_text(text, self.lab.settings.max_text_chars)
        loaded = self.lab.model("classification", model, session_models)
        start = time.perf_counter()
        result = lab_classify.classify(loaded.model, loaded.tokenizer, text, explain=False)
        language = request_language()
        info = model_line(loaded, time.perf_counter() - start, language)
        # The label is the model's own name for it (the API's data), said as it is in every language.
        info += "\n\n" + i18n.text("cls.predicted", language, label=result.predicted)
        if result.multi_label:
            info += " " + i18n.text("cls.multi_label", language)
        if result.truncated:
            info += "\n\n⚠️ " + i18n.text("cls.truncated", language)
        raw = {"label": result.predicted,
               "probabilities": {k: round(v, 6) for k, v in result.probabilities.items()}}
        return result.label(), info, raw

    @user_errors
    def explain(self, text: str, model: str | None = None, session_models: dict | None = None,
                method: str = INTEGRATED_GRADIENTS, signed: bool = True):
        """Which words drove the predicted label: the saliency as highlighted text, and as data."""
        check_text(text, self.lab.settings.max_text_chars)
        loaded = self.lab.model("classification", model, session_models)
        result = lab_classify.classify(loaded.model, loaded.tokenizer, text, method or INTEGRATED_GRADIENTS, bool(signed))
        s = result.saliency
        raw = {
            "label": result.predicted,
            "probabilities": {k: round(v, 6) for k, v in result.probabilities.items()},
            "saliency": {"method": s.method, "signed": s.signed, "explains": s.label,
                         "words": [{"word": w.word, "start": w.start, "end": w.end, "tokens": list(w.tokens),
                                    "weight": round(w.weight, 4)} for w in s.words],
                         "tokens": [{"token": t.token, "word": t.word, "weight": round(t.weight, 4)}
                                    for t in s.tokens]},
        }
        return saliency_html(s, request_language()), raw

    def localize(self, language: str) -> list:
        """The examples in the page's language."""
        return [self.examples.localize(language)]

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "classification")
        gr.Markdown(t("cls.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label=t("cls.text"), value=EXAMPLES["en"][0][0], lines=3, elem_id="cls-text")
                self.lesson_inputs = {"cls-text": text}  # what the Lessons tab may fill in
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "classification")
                method = gr.Radio(METHOD_CHOICES, value=INTEGRATED_GRADIENTS, label=t("cls.method"),
                                  elem_id="cls-method")
                signed = gr.Checkbox(True, label=t("cls.signed"), elem_id="cls-signed")
                run = gr.Button(t("cls.run"), variant="primary", elem_id="cls-run")
        with gr.Row():
            label = gr.Label(label=t("cls.probabilities"), elem_id="cls-label")
            with gr.Column(scale=2):
                info = gr.Markdown(elem_id="cls-info")
                words = gr.HTML(label=t("cls.saliency"), elem_id="cls-saliency")
        with gr.Accordion(t("shared.raw_output"), open=False):
            raw = gr.JSON()
        self.examples = Examples(EXAMPLES, [text])
        explainer(t("cls.explainer"))
        state = session_models if session_models is not None else gr.State({})
        # The label comes back at once; the saliency (a backward pass or several) follows it.
        explain = dict(fn=self.explain, inputs=[text, self.model, state, method, signed], outputs=[words, raw],
                       **lane(self.lab, SLOW))
        classify_event = dict(fn=self.classify, inputs=[text, self.model, state], outputs=[label, info, raw],
                              **lane(self.lab, QUICK))
        run.click(**classify_event, api_name="classify").success(**explain, api_name="explain")
        text.submit(**classify_event, api_visibility="private").success(**explain, api_visibility="private")
        attention_panel(self.lab, "classification", text, self.model, state)
        self.localized_outputs = [self.examples.dataset]  # what localize() updates
