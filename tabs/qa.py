"""Question answering tab: find the answer's span in a context, two numbers per token."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gradio as gr

from lab import i18n
from lab.context import Lab
from lab.lazy import lazy_import
from lab.options import QA_MAX_LENGTH, QA_MAX_TOP_K, QA_STRIDE
from lab.tokenization import check_text
from tabs.common import SLOW, explainer, head_banner, lane, model_dropdown, model_line, table, user_errors
from tabs.components import Slider
from tabs.i18n import Examples, request_language, t

if TYPE_CHECKING:
    from lab.qa import QAResult

# torch: imported after the page is served.
lab_qa = lazy_import("lab.qa")
render_qa = lazy_import("lab.render_qa")

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

# For the Indonesian and Chinese classes: a paragraph in the language (the offline head is English,
# SQuAD) and the same facts in English.
BOROBUDUR_ID = (
    "Candi Borobudur dibangun pada abad ke-9 oleh wangsa Syailendra di Jawa Tengah. "
    "Candi ini ditemukan kembali pada tahun 1814 oleh Thomas Stamford Raffles, lalu dipugar "
    "besar-besaran bersama UNESCO antara tahun 1975 dan 1982."
)
BOROBUDUR = (
    "Borobudur temple was built in the 9th century by the Sailendra dynasty in Central Java. "
    "It was rediscovered in 1814 by Thomas Stamford Raffles and restored with UNESCO between 1975 and 1982."
)
TAIPEI_101_ZH = (
    "台北101位於台北市信義區，於2004年完工，高508公尺，曾是世界最高的建築。"
    "大樓由建築師李祖原設計，外型像一節節向上生長的竹子。"
)
TAIPEI_101 = (
    "Taipei 101 stands in the Xinyi district of Taipei. It was completed in 2004, is 508 metres tall, "
    "and was the tallest building in the world until 2010. The architect C. Y. Lee designed it to look "
    "like a stalk of bamboo growing upwards."
)

# Per language: what a student of that class would ask. The first Indonesian and Chinese rows are
# in the language, what an English-only model makes of them: the Indonesian question names Raffles,
# which both languages spell alike, and gets "1814"; the Chinese one gets a rough span around
# "508公尺" with a score of a few percent. The English rows answer well; the last is unanswerable.
EXAMPLES = {
    "en": [
        ["Who was the last keeper?", LIGHTHOUSE, 384, 128],
        ["When was the light made automatic?", LIGHTHOUSE, 384, 128],
        ["What does the length of the waggle run tell the other bees?", BEES, 384, 128],
        ["Who founded the restoration society?", CANAL, 128, 32],
        ["What colour was the keeper's boat?", LIGHTHOUSE, 384, 128],
    ],
    "id": [
        ["Thomas Stamford Raffles menemukan candi ini pada tahun berapa?", BOROBUDUR_ID, 384, 128],
        ["Who rediscovered Borobudur?", BOROBUDUR, 384, 128],
        ["Which dynasty built Borobudur?", BOROBUDUR, 384, 128],
        ["Who founded the restoration society?", CANAL, 128, 32],
        ["What colour was the keeper's boat?", LIGHTHOUSE, 384, 128],
    ],
    "zh-TW": [
        ["台北101有多少公尺高？", TAIPEI_101_ZH, 384, 128],
        ["Who designed Taipei 101?", TAIPEI_101, 384, 128],
        ["How tall is Taipei 101?", TAIPEI_101, 384, 128],
        ["Who founded the restoration society?", CANAL, 128, 32],
        ["What colour was the keeper's boat?", LIGHTHOUSE, 384, 128],
    ],
}


def _summary(result: QAResult, language: str) -> str:
    best = result.best
    where = i18n.text("qa.where", language, window=best.window + 1, windows=len(result.windows))
    if result.no_answer:
        line = i18n.text("qa.no_answer", language, null=f"{result.null_score:.2f}", best=f"{result.best_logit:.2f}",
                         margin=f"{result.null_score - result.best_logit:.2f}", span=best.text, where=where)
    else:
        line = i18n.text("qa.scored", language, score=render_qa.percent(result.score), where=where,
                         best=f"{result.best_logit:.2f}", null=f"{result.null_score:.2f}")
    windows = (i18n.text("qa.windows", language, n=len(result.windows)) if len(result.windows) > 1
               else i18n.text("qa.one_window", language))
    return line + "\n\n" + i18n.text("qa.window_size", language, windows=windows, max_length=result.max_length,
                                      stride=result.stride)


class QaTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.model: gr.Dropdown | None = None

    @user_errors
    def qa(self, question: str, context: str, top_k: int = 5, max_length: int = QA_MAX_LENGTH, stride: int = QA_STRIDE,
           max_answer_len: int = 30, no_answer_threshold: float = 0.0, model: str | None = None,
           session_models: dict | None = None):
        """Answer the question from the context; ``session_models`` is the session state (lab.session)."""
        check_text(question, self.lab.settings.max_text_chars, "question")
        check_text(context, self.lab.settings.max_text_chars, "context")
        loaded = self.lab.model("qa", model, session_models)
        start = time.perf_counter()
        result = lab_qa.answer_question(loaded.model, loaded.tokenizer, question, context, int(max_length), int(stride),
                                 int(max_answer_len), int(top_k), float(no_answer_threshold))
        language = request_language()
        info = _summary(result, language) + "\n\n" + model_line(loaded, time.perf_counter() - start, language)
        if result.warnings:
            info += "\n\n" + "\n".join(f"- {i18n.say(w, language)}" for w in result.warnings)
        return (
            result.answer,
            info,
            render_qa.context_html(context, result, language),
            render_qa.probability_svg(result, language),
            table(render_qa.candidate_rows(result), language=language),
            render_qa.raw_output(result),
        )

    def localize(self, language: str) -> list:
        """The examples and the answer box's label in the page's language."""
        return [self.examples.localize(language), gr.Textbox(label=i18n.text("qa.answer", language))]

    def build(self, session_models: gr.State | None = None) -> None:
        head_banner(self.lab, "qa")
        gr.Markdown(t("qa.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                question = gr.Textbox(label=t("qa.question"), value=EXAMPLES["en"][0][0], elem_id="qa-question")
                context = gr.Textbox(label=t("qa.context"), value=LIGHTHOUSE, lines=6, elem_id="qa-context")
                self.lesson_inputs = {"qa-question": question, "qa-context": context}  # for the Lessons tab
            with gr.Column(scale=1):
                self.model = model_dropdown(self.lab, "qa")
                top_k = Slider(1, QA_MAX_TOP_K, value=5, step=1, label=t("qa.top_k"))
                max_answer_len = Slider(1, 100, value=30, step=1, label=t("qa.max_answer_len"))
                threshold = Slider(-10, 10, value=0.0, step=0.5, label=t("qa.threshold"),
                                      info=t("qa.threshold_info"),
                                      elem_id="qa-threshold")
                run = gr.Button(t("qa.run"), variant="primary", elem_id="qa-run")
        with gr.Accordion(t("qa.windows_accordion"), open=False):
            with gr.Row():
                max_length = Slider(32, 512, value=QA_MAX_LENGTH, step=8, label=t("qa.max_length"),
                                       info=t("qa.max_length_info"))
                stride = Slider(0, 256, value=QA_STRIDE, step=8, label=t("qa.stride"))
        with gr.Row():
            # In English here, a plain string: the API's description of /qa names its first return
            # by this label ("Answer"); localize() says it in the page's language.
            answer = gr.Textbox(label=i18n.text("qa.answer", i18n.DEFAULT), interactive=False, elem_id="qa-answer")
            info = gr.Markdown(elem_id="qa-info")
        highlight = gr.HTML(label=t("qa.highlight"), elem_id="qa-highlight")
        chart = gr.HTML(label=t("qa.chart"), elem_id="qa-chart")
        candidates = gr.Dataframe(label=t("qa.candidates"), interactive=False, wrap=True,
                                  elem_id="qa-candidates")
        with gr.Accordion(t("shared.raw_output"), open=False):
            raw = gr.JSON()
        self.examples = Examples(EXAMPLES, [question, context, max_length, stride])
        explainer(t("qa.explainer"))
        inputs = [question, context, top_k, max_length, stride, max_answer_len, threshold, self.model]
        if session_models is not None:
            inputs.append(session_models)
        event = dict(fn=self.qa, inputs=inputs, outputs=[answer, info, highlight, chart, candidates, raw],
                     **lane(self.lab, SLOW))
        run.click(**event, api_name="qa")
        question.submit(**event, api_visibility="private")
        self.localized_outputs = [self.examples.dataset, answer]  # what localize() updates
