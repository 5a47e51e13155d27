"""Classification tab: label probabilities for a text, and the words that drove the decision."""

from __future__ import annotations

import time

import gradio as gr

from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS
from lab.render_classify import saliency_html
from lab.tokenization import check_text
from tabs.attention import attention_panel
from tabs.common import QUICK, SLOW, explainer, head_banner, lane, model_dropdown, model_line, user_errors

lab_classify = lazy_import("lab.classify")  # torch: imported after the page is served

METHOD_CHOICES = [("Integrated gradients", INTEGRATED_GRADIENTS), ("Gradient × input", GRADIENT_X_INPUT)]

EXPLAINER = """
**A classifier is BERT plus one small layer.** The final vector of `[CLS]` goes through BERT's
*pooler* (a dense layer and a tanh, pre-trained with the rest), then a linear layer with one
output per label; a softmax turns those scores into the probabilities on the left. Fine-tuning
trains that layer (and nudges BERT) on labelled examples.

**Which words mattered?** The highlight asks: if this word's embedding were faded out, how
much would the score of the winning label change? *Gradient × input* answers with one
gradient; *integrated gradients* averages the gradient along the way from "no words" to your
text, which is slower and adds up to the change in score. The average is taken over a few
steps (a Riemann sum), so the sum is an approximation that more steps make closer. Blue words pushed towards
the predicted label, orange ones away from it; with "signed" off, the shade only says how
much a word mattered. BERT reads sub-word pieces (`un ##bel ##ie ##va ##bly`), so a word's
weight is the sum of its pieces' (hover a word to see them).

**Careful:** saliency shows what the model relied on, not what is right. A model can be
confident for the wrong reasons, and saliency is how you catch it.
"""

EXAMPLES = [
    ["This film was an absolute delight from start to finish."],
    ["The plot was predictable and the acting was wooden."],
    ["Not bad at all, though the ending dragged."],
    ["I expected to hate it, but I loved every minute."],
]


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
        info = model_line(loaded, time.perf_counter() - start)
        info += f"\n\nPredicted **{result.predicted}**; the highlight explains that label."
        if result.multi_label:
            info += " Labels are independent here (multi-label): the probabilities need not add up to 1."
        if result.truncated:
            info += "\n\n⚠️ The text is longer than the model reads; only its beginning was classified."
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
        return saliency_html(s), raw

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "classification")
        gr.Markdown("Type a text and see which label the model gives it, and which words drove that decision.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", value=EXAMPLES[0][0], lines=3, elem_id="cls-text")
                self.lesson_inputs = {"cls-text": text}  # what the Lessons tab may fill in
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "classification")
                method = gr.Radio(METHOD_CHOICES, value=INTEGRATED_GRADIENTS, label="Saliency method",
                                  elem_id="cls-method")
                signed = gr.Checkbox(True, label="Signed (for / against the label)", elem_id="cls-signed")
                run = gr.Button("Classify", variant="primary", elem_id="cls-run")
        with gr.Row():
            label = gr.Label(label="Label probabilities", elem_id="cls-label")
            with gr.Column(scale=2):
                info = gr.Markdown(elem_id="cls-info")
                words = gr.HTML(label="Which words drove the decision", elem_id="cls-saliency")
        with gr.Accordion("Raw output (what the API returns)", open=False):
            raw = gr.JSON()
        gr.Examples(EXAMPLES, [text])
        explainer(EXPLAINER)
        state = session_models if session_models is not None else gr.State({})
        # The label comes back at once; the saliency (a backward pass or several) follows it.
        explain = dict(fn=self.explain, inputs=[text, self.model, state, method, signed], outputs=[words, raw],
                       **lane(self.lab, SLOW))
        classify_event = dict(fn=self.classify, inputs=[text, self.model, state], outputs=[label, info, raw],
                              **lane(self.lab, QUICK))
        run.click(**classify_event, api_name="classify").success(**explain, api_name="explain")
        text.submit(**classify_event, api_visibility="private").success(**explain, api_visibility="private")
        attention_panel(self.lab, "classification", text, self.model, state)
