"""Fill-mask tab: the cloze task BERT was pre-trained on, one ranking per mask."""

from __future__ import annotations

import time

import gradio as gr

from lab import render
from lab.context import Lab
from lab.lazy import lazy_import
from lab.render import md_text
from lab.tokenization import check_text
from tabs.attention import attention_panel
from tabs.common import QUICK, explainer, head_banner, lane, model_dropdown, model_line, user_errors
from tabs.components import Slider
from tabs.i18n import Examples, request_language, t

lab_fill_mask = lazy_import("lab.fill_mask")  # torch: imported after the page is served

# Per language: what a student of that class would type. The offline model reads English, so the
# Indonesian and Chinese sets start with a sentence in the language (what an English-only model
# makes of it, the crosslingual lesson) and keep English ones that answer well.
EXAMPLES = {
    "en": [
        ["I [MASK] dogs and cats.", 5, ""],
        ["The capital of France is [MASK].", 5, "paris, london, rome"],
        ["He wrote a ___ to his mother.", 5, ""],
        ["She [MASK] the book from her brother.", 5, "sent, received"],
        ["The [MASK] was delicious, but the [MASK] was slow.", 5, ""],
    ],
    "id": [
        ["Saya [MASK] anjing dan kucing.", 5, ""],
        ["I [MASK] dogs and cats.", 5, ""],
        ["She [MASK] the book to her brother.", 5, "sent, received"],
        ["She [MASK] the book from her brother.", 5, "sent, received"],
        ["The capital of Indonesia is [MASK].", 5, "jakarta, bali, java"],
    ],
    "zh-TW": [
        ["我[MASK]狗和貓。", 5, ""],
        ["I [MASK] dogs and cats.", 5, ""],
        ["She [MASK] the book to her brother.", 5, "sent, received"],
        ["She [MASK] the book from her brother.", 5, "sent, received"],
        ["The capital of Taiwan is [MASK].", 5, "taipei, tainan, tokyo"],
    ],
}


class FillMaskTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    @user_errors
    def fill(self, text: str, top_k: int = 5, targets: str = "", model: str | None = None):
        check_text(text, self.lab.settings.max_text_chars)
        words = lab_fill_mask.check_targets(targets, self.lab.settings.max_fill_targets,
                                            self.lab.settings.max_target_chars)
        loaded = self.lab.model("fill-mask", model)
        start = time.perf_counter()
        result = lab_fill_mask.fill_mask(loaded.model, loaded.tokenizer, text, int(top_k), words)
        elapsed = time.perf_counter() - start
        info = model_line(loaded, elapsed)
        if result.warnings:
            info += "\n\n" + "\n".join(f"- {md_text(w, request_language())}" for w in result.warnings)  # they quote typed words
        raw = [
            {"mask": n + 1, "position": m.position,
             "predictions": [{"token": c.token, "score": round(c.score, 5)} for c in m.candidates],
             "your_words": [{"word": c.word, "token": c.token, "score": round(c.score, 6)} for c in m.targets]}
            for n, m in enumerate(result.masks)
        ]
        return result.label(0), render.fill_mask_html(result, request_language()), result.best_fill, info, raw

    def localize(self, language: str) -> list:
        """The examples in the page's language."""
        return [self.examples.localize(language)]

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "fill-mask")
        gr.Markdown(t("fill_mask.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label=t("fill_mask.text"), value="I [MASK] dogs and cats.", lines=2,
                                  elem_id="fm-text")
                self.lesson_inputs = {"fm-text": text}  # what the Lessons tab may fill in
                targets = gr.Textbox(label=t("fill_mask.targets"),
                                     placeholder="love, hate, feed", value="", elem_id="fm-targets")
            with gr.Column(scale=1):
                model = model_dropdown(self.lab, "fill-mask")
                top_k = Slider(1, 20, value=5, step=1, label=t("fill_mask.top_k"), elem_id="fm-topk")
                run = gr.Button(t("fill_mask.run"), variant="primary", elem_id="fm-run")
        with gr.Row():
            first = gr.Label(label=t("fill_mask.first"), elem_id="fm-label")
            with gr.Column():
                best = gr.Textbox(label=t("fill_mask.best"), interactive=False, elem_id="fm-best")
                info = gr.Markdown(elem_id="fm-info")
        bars = gr.HTML(label=t("fill_mask.every_mask"))
        with gr.Accordion(t("shared.raw_output"), open=False):
            raw = gr.JSON()
        self.examples = Examples(EXAMPLES, [text, top_k, targets])
        explainer(t("fill_mask.explainer"))
        event = dict(fn=self.fill, inputs=[text, top_k, targets, model], outputs=[first, bars, best, info, raw],
                     **lane(self.lab, QUICK))
        run.click(**event, api_name="fill_mask")
        text.submit(**event, api_visibility="private")
        attention_panel(self.lab, "fill-mask", text, model)
        self.localized_outputs = [self.examples.dataset]  # what localize() updates
