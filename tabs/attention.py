"""The attention view: an "Attention" accordion any tab adds under its input.

``attention_panel(lab, task, text)`` draws the chosen layer's attention (one head, or the
average of the heads) for the tab's current text as a heatmap over its tokens. Each panel's
event is public as ``/attention_<task>`` (text, [text_pair,] layer, head, [model]).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gradio as gr

from lab import i18n, registry
from lab.context import Lab
from lab.errors import NoHeadAvailable
from lab.i18n import msg
from lab.lazy import lazy_import
from lab.tokenization import check_text
from tabs.common import QUICK, lane, model_line, user_errors
from tabs.components import Slider
from tabs.i18n import request_language, t

if TYPE_CHECKING:
    from lab.attention import Attention
    from lab.loading import LoadedModel

# torch: imported after the page is served.
lab_attention = lazy_import("lab.attention")
lab_fill_mask = lazy_import("lab.fill_mask")

# The Tokenizer tab has no model of its own: its text is read by the fine-tuning base encoder.
MODEL_TASK = {"tokenizer": "finetune-base"}
MAX_LAYER_CHOICE = 24  # the slider's range when the model's layers can't be read; the answer says how many
# "average" is the value the API takes; the dropdown shows it in the page's language.
HEAD_CHOICES = [(t("attn.average"), "average")] + [(str(h), str(h)) for h in range(1, 17)]


def _caption(attention: Attention, layer: int, head: int | None, loaded: LoadedModel, seconds: float) -> str:
    language = request_language()
    heads = (i18n.text("attn.heads_average", language, heads=attention.num_heads) if head is None
             else i18n.text("attn.heads_one", language, head=head, heads=attention.num_heads))
    line = i18n.text("attn.caption", language, layer=layer, layers=attention.num_layers, heads=heads,
                     tokens=len(attention.tokens), answered=model_line(loaded, seconds, language))
    if attention.truncated:
        line += "\n\n" + i18n.text("attn.truncated", language, tokens=len(attention.tokens))
    return line


class AttentionPanel:
    """The handlers behind one tab's attention accordion."""

    def __init__(self, lab: Lab, task: str):
        self.lab = lab
        self.task = task

    def _model(self, model: str | None, session_models: dict | None) -> tuple[LoadedModel, str]:
        task = MODEL_TASK.get(self.task, self.task)
        try:
            return self.lab.model(task, model, session_models), ""
        except NoHeadAvailable:
            # The attention lives in the encoder, below any head: the embedded encoder's weights
            # are exactly what the missing head would have sat on.
            note = "\n\n" + i18n.text("attn.no_head", request_language(), task=msg(f"task.{self.task}"))
            return self.lab.model("finetune-base", registry.EMBEDDED, session_models), note

    @user_errors
    def show(self, text: str, layer: int = 1, head: str | int = "average", model: str | None = None,
             session_models: dict | None = None, text_pair: str = ""):
        check_text(text, self.lab.settings.max_text_chars)
        if text_pair:  # the second text has the first one's cap, as in /tokenize
            check_text(text_pair, self.lab.settings.max_text_chars, "second text")
        loaded, note = self._model(model, session_models)
        if self.task == "fill-mask" and loaded.tokenizer.mask_token:
            text = lab_fill_mask.normalize_masks(text, loaded.tokenizer.mask_token)  # "___" reads as [MASK]
        start = time.perf_counter()
        attention = lab_attention.extract_attention(loaded.model, loaded.tokenizer, text, text_pair or None)
        head_number = lab_attention.parse_head(head)
        matrix = attention.select(int(layer), head_number)
        seconds = time.perf_counter() - start
        raw = {"tokens": attention.tokens, "layer": int(layer), "head": head_number or "average",
               "num_layers": attention.num_layers, "num_heads": attention.num_heads,
               "weights": matrix.round(4).tolist()}
        return lab_attention.heatmap_html(attention.tokens, matrix), _caption(attention, int(layer), head_number, loaded,
                                                                 seconds) + note, raw

    @user_errors
    def show_pair(self, text: str, text_pair: str = "", layer: int = 1, head: str | int = "average"):
        return self.show(text, layer, head, text_pair=text_pair)


def layer_slider_update(lab: Lab, task: str, lowest: int, current, model: str | None = None,
                        session_models: dict | None = None, fallback: int = MAX_LAYER_CHOICE):
    """A layer slider bounded by the chosen model's layers: its maximum, and its value kept inside."""
    top = lab.num_layers(task, model, session_models) or fallback
    value = min(max(current, lowest), top) if isinstance(current, (int, float)) else lowest
    return gr.update(maximum=top, value=value)


def attention_panel(
    lab: Lab,
    task: str,
    text: gr.Textbox,
    model: gr.Dropdown | None = None,
    session_models: gr.State | None = None,
    text_pair: gr.Textbox | None = None,
) -> AttentionPanel:
    """Add the "Attention" accordion for ``task``'s text (and model, when the tab has one)."""
    panel = AttentionPanel(lab, task)
    slug = task.replace("_", "-")
    with gr.Accordion(t("attn.title"), open=False, elem_id=f"attn-{slug}"):
        gr.Markdown(t("attn.intro"))
        with gr.Row():
            model_task = MODEL_TASK.get(task, task)
            top = lab.num_layers(model_task, local_only=True) or MAX_LAYER_CHOICE
            layer = Slider(1, top, value=1, step=1, label=t("attn.layer"),
                              info=t("attn.layer_info"), elem_id=f"attn-{slug}-layer")
            head = gr.Dropdown(HEAD_CHOICES, value="average", label=t("attn.head"), allow_custom_value=True,
                               info=t("attn.head_info"), elem_id=f"attn-{slug}-head")
            run = gr.Button(t("attn.run"), elem_id=f"attn-{slug}-run")
        info = gr.Markdown(elem_id=f"attn-{slug}-info")
        heatmap = gr.HTML(elem_id=f"attn-{slug}-map")
        with gr.Accordion(t("attn.weights"), open=False):
            raw = gr.JSON()
        gr.Markdown(t("attn.explainer"))
    outputs = [heatmap, info, raw]
    if model is not None:  # another model, another number of layers
        state = [session_models] if session_models is not None else []
        model.change(lambda choice, current, *session: layer_slider_update(lab, model_task, 1, current, choice, *session),
                     [model, layer, *state], layer, api_visibility="private", **lane(lab, QUICK))
    if text_pair is not None:
        run.click(panel.show_pair, [text, text_pair, layer, head], outputs, api_name=f"attention_{slug.replace('-', '_')}",
                  **lane(lab, QUICK))
    else:
        inputs = [text, layer, head] + ([model] if model is not None else [])
        if model is not None and session_models is not None:
            inputs.append(session_models)
        run.click(panel.show, inputs, outputs, api_name=f"attention_{slug.replace('-', '_')}", **lane(lab, QUICK))
    return panel
