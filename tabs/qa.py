"""Question answering tab: find the answer's span in a context, two numbers per token."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gradio as gr

from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import QA_MAX_TOP_K
from lab.tokenization import check_text
from tabs.common import SLOW, explainer, head_banner, lane, model_dropdown, model_line, table, user_errors
from tabs.components import Slider

if TYPE_CHECKING:
    from lab.qa import QAResult

# torch: imported after the page is served.
lab_qa = lazy_import("lab.qa")
render_qa = lazy_import("lab.render_qa")

EXPLAINER = """
**Extractive QA: the answer is a piece of the context.** The model reads the question and the
context together (`[CLS] question [SEP] context [SEP]`) and gives every token two numbers: how
likely the answer *starts* there and how likely it *ends* there. The chart shows both as bars.
The answer is the pair (start, end) with the highest start + end score, as long as the end is
not before the start, both lie in the context (never in the question), and the span is at most
"max answer length" tokens long. The score is P(start) × P(end): the two red bars multiplied.

**Long contexts.** A model reads at most a few hundred tokens at once (max length). A longer
context is cut into windows, each with the whole question; neighbouring windows share "stride"
tokens, so an answer cut by one window's edge is whole in the next. Every window proposes spans
and the best one over all windows wins; the shaded part of the context is its window.

**No answer.** `[CLS]` (the purple bar) is the model's "not in this text" vote. When its start +
end score beats the best span's by more than the threshold, the tab answers nothing. Raise the
threshold to always get a span; lower it (below 0) to say "no answer" more readily. Models
trained on SQuAD 1 never learned to vote for `[CLS]`; SQuAD 2 models did.
"""

LIGHTHOUSE = (
    "The lighthouse on Carrow Point was built in 1871 from granite cut on the island itself. "
    "Its lamp burned oil at first, then gas, and since 1958 it has run on electricity. The last "
    "keeper, Mira Olsen, left in 1989, when the light was made automatic."
)
BEES = (
    "Honeybees share where food is with a waggle dance on the comb. The angle of the dance "
    "against the vertical gives the direction of the flowers relative to the sun, and the length "
    "of the waggle run tells the other bees how far away they are."
)
# Long enough for several windows at max length 128, to watch the answer come from a later one.
CANAL = (
    "The town of Elderbrook grew up around a canal dug in the 1790s to carry coal from the hills "
    "to the river port. For fifty years barges pulled by horses moved slowly along the towpath, "
    "and the town's inns, stables and rope works all lived from that traffic. When the railway "
    "arrived in 1846 the canal lost most of its trade within a decade, and the locks began to "
    "decay.\n\n"
    "For almost a century the water lay still. Parts of the channel silted up, willows grew in "
    "the lock chambers, and the old warehouses were turned into a school, a brewery and later "
    "flats. Children skated on the frozen basin in hard winters, which is how most people in the "
    "town still remember it.\n\n"
    "Restoration began in 1972, led by a volunteer society that met above the bakery on Mill "
    "Street. Its members cleared the channel by hand at weekends and rebuilt six locks over "
    "twenty years. The society's founder, a retired engineer named Harriet Vance, insisted that "
    "every lock gate be made of oak, as the originals had been. The canal reopened to boats in "
    "1994, and today it carries holiday narrowboats instead of coal."
)

EXAMPLES = [
    ["Who was the last keeper?", LIGHTHOUSE, 384, 128],
    ["When was the light made automatic?", LIGHTHOUSE, 384, 128],
    ["What does the length of the waggle run tell the other bees?", BEES, 384, 128],
    ["Who founded the restoration society?", CANAL, 128, 32],
    ["What colour was the keeper's boat?", LIGHTHOUSE, 384, 128],
]


def _summary(result: QAResult) -> str:
    best = result.best
    where = f"window {best.window + 1} of {len(result.windows)}"
    if result.no_answer:
        line = (
            f"**No answer.** The [CLS] score ({result.null_score:.2f}) beats the best span "
            f"({result.best_logit:.2f}) by {result.null_score - result.best_logit:.2f}, more than the "
            f"threshold. The best span was “{best.text}” ({where})."
        )
    else:
        line = (
            f"**Score {render_qa.percent(result.score)}** = P(start) × P(end) in {where} "
            f"(start + end logit {result.best_logit:.2f}; [CLS] {result.null_score:.2f})."
        )
    windows = (f"{len(result.windows)} windows" if len(result.windows) > 1 else "1 window")
    return f"{line}\n\n{windows} of at most {result.max_length} tokens, stride {result.stride}."


class QaTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.model: gr.Dropdown | None = None

    @user_errors
    def qa(self, question: str, context: str, top_k: int = 5, max_length: int = 384, stride: int = 128,
           max_answer_len: int = 30, no_answer_threshold: float = 0.0, model: str | None = None,
           session_models: dict | None = None):
        """Answer the question from the context; ``session_models`` is the session state (lab.session)."""
        check_text(question, self.lab.settings.max_text_chars, "question")
        check_text(context, self.lab.settings.max_text_chars, "context")
        loaded = self.lab.model("qa", model, session_models)
        start = time.perf_counter()
        result = lab_qa.answer_question(loaded.model, loaded.tokenizer, question, context, int(max_length), int(stride),
                                 int(max_answer_len), int(top_k), float(no_answer_threshold))
        info = _summary(result) + "\n\n" + model_line(loaded, time.perf_counter() - start)
        if result.warnings:
            info += "\n\n" + "\n".join(f"- {w}" for w in result.warnings)
        return (
            result.answer,
            info,
            render_qa.context_html(context, result),
            render_qa.probability_svg(result),
            table(render_qa.candidate_rows(result)),
            render_qa.raw_output(result),
        )

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "qa")
        gr.Markdown("Ask a question about a paragraph: the model marks where in the text the answer starts and ends.")
        with gr.Row():
            with gr.Column(scale=3):
                question = gr.Textbox(label="Question", value=EXAMPLES[0][0], elem_id="qa-question")
                context = gr.Textbox(label="Context", value=LIGHTHOUSE, lines=6, elem_id="qa-context")
                self.lesson_inputs = {"qa-question": question, "qa-context": context}  # for the Lessons tab
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "qa")
                top_k = Slider(1, QA_MAX_TOP_K, value=5, step=1, label="Top-k candidates")
                max_answer_len = Slider(1, 100, value=30, step=1, label="Max answer length (tokens)")
                threshold = Slider(-10, 10, value=0.0, step=0.5, label="No-answer threshold",
                                      info="Answer nothing when [CLS] beats the best span by more than this.",
                                      elem_id="qa-threshold")
                run = gr.Button("Find the answer", variant="primary", elem_id="qa-run")
        with gr.Accordion("Long contexts: windows", open=False):
            with gr.Row():
                max_length = Slider(32, 512, value=384, step=8, label="Max length (tokens per window)",
                                       info="Question + context slice + special tokens.")
                stride = Slider(0, 256, value=128, step=8, label="Stride (tokens shared by neighbouring windows)")
        with gr.Row():
            answer = gr.Textbox(label="Answer", interactive=False, elem_id="qa-answer")
            info = gr.Markdown(elem_id="qa-info")
        highlight = gr.HTML(label="The answer in the context", elem_id="qa-highlight")
        chart = gr.HTML(label="Start and end probability per token", elem_id="qa-chart")
        candidates = gr.Dataframe(label="Top-k candidate spans", interactive=False, wrap=True,
                                  elem_id="qa-candidates")
        with gr.Accordion("Raw output (what the API returns)", open=False):
            raw = gr.JSON()
        gr.Examples(EXAMPLES, [question, context, max_length, stride])
        explainer(EXPLAINER)
        inputs = [question, context, top_k, max_length, stride, max_answer_len, threshold, self.model]
        if session_models is not None:
            inputs.append(session_models)
        event = dict(fn=self.qa, inputs=inputs, outputs=[answer, info, highlight, chart, candidates, raw],
                     **lane(self.lab, SLOW))
        run.click(**event, api_name="qa")
        question.submit(**event, api_visibility="private")
