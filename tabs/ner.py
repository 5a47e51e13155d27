"""NER tab: entities highlighted in the text, and the per-piece B-/I- tags they were grouped from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr

from lab import i18n, registry, render_ner
from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import NER_STRATEGIES
from lab.tokenization import check_text
from tabs.common import QUICK, head_banner, lane, model_dropdown, model_line, table, user_errors
from tabs.i18n import Examples, request_language, t

lab_ner = lazy_import("lab.ner")  # torch: imported after the page is served

def entity_types(lab: Lab) -> list[str] | None:
    """The entity types of the model the tab starts with, read from its config (no weights loaded);
    None for a hub model, whose config is not fetched to lay out the page."""
    ref = lab.resolve("ner", None)
    directory = ref.id if ref.kind == "local" else registry.embedded_head_dir("ner", lab.settings) \
        if ref.kind == "embedded" else None
    config = Path(directory) / "config.json" if directory else None
    if config is None or not config.is_file():
        return None
    labels = json.loads(config.read_text(encoding="utf-8")).get("id2label", {}).values()
    return sorted({label[2:] for label in labels if label[:2] in ("B-", "I-")})


def types_text(types: list[str] | None, language: str) -> str:
    """The explainer's last line, naming the types the model really has (the shipped head has no
    MISC). Made on the server: Gradio's translation in the browser cannot fill in a list."""
    if types is None:
        return i18n.text("ner.types_own", language)
    # The CoNLL types in words; another model's own types are listed by their tag alone.
    names = {"PER": i18n.text("ner.type.PER", language), "ORG": i18n.text("ner.type.ORG", language),
             "LOC": i18n.text("ner.type.LOC", language), "MISC": i18n.text("ner.type.MISC", language)}
    items = [i18n.text("ner.type_named", language, type=kind, name=names[kind]) if kind in names else kind
             for kind in types]
    return i18n.text("ner.types", language, types=i18n.text("ner.types_joiner", language).join(items))


def explainer_text(lab: Lab, language: str = i18n.DEFAULT) -> str:
    """The whole explainer as a student reads it in ``language``: the text, then the model's types."""
    return i18n.text("ner.explainer", language) + "\n\n" + types_text(entity_types(lab), language)


# Per language: what a student of that class would type. The offline head is English (CoNLL news), so
# the Indonesian and Chinese sets start with a sentence in the language (what an English-only model
# makes of it: it finds the Indonesian names by their capitals but guesses their types; the Chinese
# finds nothing) and
# keep English ones, about people and places the class knows, that it tags well.
EXAMPLES = {
    "en": [
        ["Angela Merkel visited Paris with Emmanuel Macron.", "simple"],
        ["Sundar Pichai runs Google from Mountain View, California.", "first"],
        ["The Eiffel Tower was built by Gustave Eiffel for the 1889 World's Fair.", "average"],
        ["Satya Nadella told Reuters that Microsoft will open an office in Nairobi.", "max"],
        ["Jürgen Klopp managed Borussia Dortmund before Liverpool.", "none"],
    ],
    "id": [
        ["Joko Widodo mengunjungi Jakarta bersama Prabowo Subianto.", "first"],
        ["Joko Widodo visited Tokyo with executives from Toyota.", "first"],
        ["B. J. Habibie studied engineering in Aachen before leading Indonesia.", "average"],
        ["Angela Merkel visited Paris with Emmanuel Macron.", "simple"],
        ["Nadiem Makarim founded Gojek in Jakarta.", "none"],
    ],
    "zh-TW": [
        ["蔡英文在台北會見了台積電的張忠謀。", "simple"],
        ["Morris Chang founded TSMC in Hsinchu, Taiwan.", "simple"],
        ["Jay Chou grew up in Taipei and studied at Tamkang Senior High School.", "first"],
        ["Audrey Tang spoke at the United Nations in New York.", "average"],
        ["Angela Merkel visited Paris with Emmanuel Macron.", "none"],
    ],
}

ENTITY_COLUMNS = ["#", "text", "type", "score", "chars", "pieces"]
PIECE_COLUMNS = ["#", "piece", "chars", "word", "tag", "score", "word's tag", "entity"]


class NerTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.model: gr.Dropdown | None = None

    @user_errors
    def ner(self, text: str, aggregation: str = "simple", model: str | None = None,
            session_models: dict | None = None):
        """Tag the text; ``session_models`` is the session state (lab.session), passed to the Lab."""
        check_text(text, self.lab.settings.max_text_chars)
        loaded = self.lab.model("ner", model, session_models)
        start = time.perf_counter()
        result = lab_ner.tag_entities(loaded.model, loaded.tokenizer, text, aggregation)
        language = request_language()
        info = model_line(loaded, time.perf_counter() - start, language)
        found = len(result.entities)
        if result.aggregation == "none":
            key = "ner.found_piece" if found == 1 else "ner.found_pieces"
        else:
            key = "ner.found_entity" if found == 1 else "ner.found_entities"
        info += " " + i18n.text(key, language, n=found, pieces=len(result.pieces), aggregation=result.aggregation)
        if result.warnings:
            info += "\n\n" + "\n".join(f"- ⚠️ {i18n.say(w, language)}" for w in result.warnings)
        entities = table(render_ner.entity_rows(result), ENTITY_COLUMNS, language)
        pieces = table(render_ner.piece_rows(result), PIECE_COLUMNS, language)
        return render_ner.highlighted(result), entities, pieces, info, result.as_pipeline()

    @user_errors
    def legend(self, aggregation: str = "simple", model: str | None = None,
               session_models: dict | None = None):
        """The colours and legend for the model's own labels (types, or raw tags under none).

        A separate, private step: returned from ``ner`` itself, the component update would
        leak into the /ner API's first output instead of the plain highlighted value.
        """
        config = self.lab.model("ner", model, session_models).model.config
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return gr.HighlightedText(color_map=render_ner.color_map(labels, aggregation))

    def localize(self, language: str) -> list:
        """The examples and the explainer's list of types in the page's language."""
        return [self.examples.localize(language), types_text(self.types, language)]

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "ner")
        gr.Markdown(t("ner.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label=t("ner.text"), value=EXAMPLES["en"][0][0], lines=2, elem_id="ner-text")
                self.lesson_inputs = {"ner-text": text}  # what the Lessons tab may fill in
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "ner")
                run = gr.Button(t("ner.run"), variant="primary", elem_id="ner-run")
        with gr.Row():
            with gr.Column(scale=1):
                highlighted = gr.HighlightedText(
                    label=t("ner.highlighted"), show_legend=True, elem_id="ner-highlighted",
                    color_map=render_ner.color_map(render_ner.CONLL_LABELS, "simple"))
                entities = gr.Dataframe(headers=ENTITY_COLUMNS, label=t("ner.entities"),
                                        interactive=False, wrap=True, elem_id="ner-entities")
                info = gr.Markdown(elem_id="ner-info")
            with gr.Column(scale=1):
                aggregation = gr.Radio(list(NER_STRATEGIES), value="simple", label=t("ner.aggregation"),
                                       info=t("ner.aggregation_info"),
                                       elem_id="ner-aggregation")
                pieces = gr.Dataframe(headers=PIECE_COLUMNS, label=t("ner.pieces"),
                                      interactive=False, wrap=True, elem_id="ner-pieces")
        with gr.Accordion(t("ner.raw_output"), open=False):
            raw = gr.JSON()
        self.examples = Examples(EXAMPLES, [text, aggregation])
        # tabs.common.explainer's accordion, with a second Markdown under the text: the model's
        # types, which the server writes in the page's language (localize).
        self.types = entity_types(self.lab)
        with gr.Accordion(t("shared.what_am_i_looking_at"), open=False):
            gr.Markdown(t("ner.explainer"))
            types = gr.Markdown(types_text(self.types, i18n.DEFAULT), elem_id="ner-types")
        models = [self.model] + ([session_models] if session_models is not None else [])
        event = dict(fn=self.ner, inputs=[text, aggregation, *models],
                     outputs=[highlighted, entities, pieces, info, raw], **lane(self.lab, QUICK))
        then = dict(fn=self.legend, inputs=[aggregation, *models], outputs=highlighted, api_visibility="private",
                    **lane(self.lab, QUICK))
        run.click(**event, api_name="ner").success(**then)
        text.submit(**event, api_visibility="private").success(**then)
        # .input, not .change: a user flipping the switch re-runs; an example filling it in does not.
        aggregation.input(**event, api_visibility="private").success(**then)
        self.localized_outputs = [self.examples.dataset, types]  # what localize() updates
