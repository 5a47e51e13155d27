"""NER tab: entities highlighted in the text, and the per-piece B-/I- tags they were grouped from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr

from lab import registry, render_ner
from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import NER_STRATEGIES
from lab.tokenization import check_text
from tabs.common import QUICK, explainer, head_banner, lane, model_dropdown, model_line, table, user_errors

lab_ner = lazy_import("lab.ner")  # torch: imported after the page is served

TYPE_NAMES = {"PER": "person", "ORG": "organisation", "LOC": "place", "MISC": "anything else with a name"}


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


def explainer_text(lab: Lab) -> str:
    """The explainer, naming the types the loaded model really has (the shipped head has no MISC)."""
    types = entity_types(lab)
    if types is None:
        said = "The types are the model's own (the table on the right shows every tag it has)."
    else:
        said = "This model's types: " + ", ".join(f"{t} ({TYPE_NAMES[t]})" if t in TYPE_NAMES else t
                                                   for t in types) + "."
    return EXPLAINER.format(types=said)

EXPLAINER = """
**Tags per piece.** The model does not find names directly: it gives every sub-word piece a
tag. `B-PER` means "this piece *begins* a person", `I-PER` "this piece is *inside* one", `O`
"outside any entity". {types} The number next to a tag is the model's probability for it.
The table on the right shows every piece with its own tag: that is all the model produced.

**From pieces to entities** is plain bookkeeping after the model, and the switch chooses how:

- **none**: show each piece's tag as it is, nothing grouped.
- **simple**: glue neighbouring pieces of the same type; a `B-` always starts a new entity.
  The pieces of one word can disagree and end up split ("Mer" a person, "##kel" a place).
- **first / average / max**: first give each *word* one tag, from its first piece, from the
  average of its pieces, or from its most confident piece; then glue words as above.

An entity's confidence is the average of the scores of the pieces (or words) it was glued from.
`[CLS]` and `[SEP]` are never tagged. Very long texts are cut at the model's window and the
result says how much was read.
"""

EXAMPLES = [
    ["Angela Merkel visited Paris with Emmanuel Macron.", "simple"],
    ["Sundar Pichai runs Google from Mountain View, California.", "first"],
    ["The Eiffel Tower was built by Gustave Eiffel for the 1889 World's Fair.", "average"],
    ["Satya Nadella told Reuters that Microsoft will open an office in Nairobi.", "max"],
    ["Jürgen Klopp managed Borussia Dortmund before Liverpool.", "none"],
]

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
        info = model_line(loaded, time.perf_counter() - start)
        found = len(result.entities)
        what = ("tagged piece", "tagged pieces") if result.aggregation == "none" else ("entity", "entities")
        info += f" {found} {what[found != 1]} from {len(result.pieces)} pieces, aggregation **{result.aggregation}**."
        if result.warnings:
            info += "\n\n" + "\n".join(f"- ⚠️ {w}" for w in result.warnings)
        entities = table(render_ner.entity_rows(result), ENTITY_COLUMNS)
        pieces = table(render_ner.piece_rows(result), PIECE_COLUMNS)
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

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "ner")
        gr.Markdown("Type a sentence and see which words the model marks as people, organisations and places.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", value=EXAMPLES[0][0], lines=2, elem_id="ner-text")
                self.lesson_inputs = {"ner-text": text}  # what the Lessons tab may fill in
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "ner")
                run = gr.Button("Find entities", variant="primary", elem_id="ner-run")
        with gr.Row():
            with gr.Column(scale=1):
                highlighted = gr.HighlightedText(
                    label="Entities in the text", show_legend=True, elem_id="ner-highlighted",
                    color_map=render_ner.color_map(render_ner.CONLL_LABELS, "simple"))
                entities = gr.Dataframe(headers=ENTITY_COLUMNS, label="Entities with confidence",
                                        interactive=False, wrap=True, elem_id="ner-entities")
                info = gr.Markdown(elem_id="ner-info")
            with gr.Column(scale=1):
                aggregation = gr.Radio(list(NER_STRATEGIES), value="simple", label="Aggregation: pieces → entities",
                                       info="How sub-word tags are grouped (as in transformers' pipeline).",
                                       elem_id="ner-aggregation")
                pieces = gr.Dataframe(headers=PIECE_COLUMNS, label="Raw tags per sub-word piece",
                                      interactive=False, wrap=True, elem_id="ner-pieces")
        with gr.Accordion("Raw output (what the API returns, in the pipeline's format)", open=False):
            raw = gr.JSON()
        gr.Examples(EXAMPLES, [text, aggregation])
        explainer(explainer_text(self.lab))
        models = [self.model] + ([session_models] if session_models is not None else [])
        event = dict(fn=self.ner, inputs=[text, aggregation, *models],
                     outputs=[highlighted, entities, pieces, info, raw], **lane(self.lab, QUICK))
        then = dict(fn=self.legend, inputs=[aggregation, *models], outputs=highlighted, api_visibility="private",
                    **lane(self.lab, QUICK))
        run.click(**event, api_name="ner").success(**then)
        text.submit(**event, api_visibility="private").success(**then)
        # .input, not .change: a user flipping the switch re-runs; an example filling it in does not.
        aggregation.input(**event, api_visibility="private").success(**then)
