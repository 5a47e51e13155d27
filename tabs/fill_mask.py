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

lab_fill_mask = lazy_import("lab.fill_mask")  # torch: imported after the page is served

EXPLAINER = """
**A cloze task.** In pre-training, BERT read huge amounts of text with 15% of the pieces hidden
and learned to guess them. That is all this tab asks: write `[MASK]` (or `___`) and the model
ranks every word of its vocabulary for that slot. The bars are probabilities (softmax over the
vocabulary), so the top guesses of a confident model take most of the 100%.

**Bidirectional context.** Unlike a left-to-right language model, BERT reads the words on
*both* sides of the mask: the words *after* it change the guess. Compare "I [MASK] a letter
to my mother." (the shipped model: *sent* first) with "I [MASK] a letter from my mother."
(*received* first): only the word after the blank differs.

**Several masks** are predicted independently: each sees the others as `[MASK]`, not as the
words picked for them. "Score my own words" shows the probability of words you choose.
"""

EXAMPLES = [
    ["I [MASK] dogs and cats.", 5, ""],
    ["The capital of France is [MASK].", 5, "paris, london, rome"],
    ["He wrote a ___ to his mother.", 5, ""],
    ["I [MASK] a letter from my mother.", 5, "sent, received"],
    ["The [MASK] was delicious, but the [MASK] was slow.", 5, ""],
]


class FillMaskTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    @user_errors
    def fill(self, text: str, top_k: int = 5, targets: str = "", model: str | None = None):
        check_text(text, self.lab.settings.max_text_chars)
        loaded = self.lab.model("fill-mask", model)
        start = time.perf_counter()
        result = lab_fill_mask.fill_mask(loaded.model, loaded.tokenizer, text, int(top_k),
                           [t for t in (targets or "").split(",") if t.strip()])
        elapsed = time.perf_counter() - start
        info = model_line(loaded, elapsed)
        if result.warnings:
            info += "\n\n" + "\n".join(f"- {md_text(w)}" for w in result.warnings)  # they quote typed words
        raw = [
            {"mask": n + 1, "position": m.position,
             "predictions": [{"token": c.token, "score": round(c.score, 5)} for c in m.candidates],
             "your_words": [{"word": c.word, "token": c.token, "score": round(c.score, 6)} for c in m.targets]}
            for n, m in enumerate(result.masks)
        ]
        return result.label(0), render.fill_mask_html(result), result.best_fill, info, raw

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "fill-mask")
        gr.Markdown("Hide a word with `[MASK]` or `___` and see what the model expects there.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text with [MASK] or ___", value="I [MASK] dogs and cats.", lines=2,
                                  elem_id="fm-text")
                self.lesson_inputs = {"fm-text": text}  # what the Lessons tab may fill in
                targets = gr.Textbox(label="Score my own words (optional, comma-separated)",
                                     placeholder="love, hate, feed", value="", elem_id="fm-targets")
            with gr.Column(scale=1):
                model = model_dropdown(self.lab, "fill-mask")
                top_k = Slider(1, 20, value=5, step=1, label="Top-k", elem_id="fm-topk")
                run = gr.Button("Fill the mask", variant="primary", elem_id="fm-run")
        with gr.Row():
            first = gr.Label(label="Mask 1: top predictions", elem_id="fm-label")
            with gr.Column():
                best = gr.Textbox(label="Best fill", interactive=False, elem_id="fm-best")
                info = gr.Markdown(elem_id="fm-info")
        bars = gr.HTML(label="Every mask")
        with gr.Accordion("Raw output (what the API returns)", open=False):
            raw = gr.JSON()
        gr.Examples(EXAMPLES, [text, top_k, targets])
        explainer(EXPLAINER)
        event = dict(fn=self.fill, inputs=[text, top_k, targets, model], outputs=[first, bars, best, info, raw],
                     **lane(self.lab, QUICK))
        run.click(**event, api_name="fill_mask")
        text.submit(**event, api_visibility="private")
        attention_panel(self.lab, "fill-mask", text, model)
