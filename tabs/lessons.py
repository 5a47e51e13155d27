"""Lessons tab: the lecture as short steps (lab/lessons.py, one data file per language), each with a
button that opens the live tab with the step's inputs filled in, and a self-check question."""

from __future__ import annotations

import gradio as gr

from lab import i18n, lessons
from lab.context import Lab
from tabs.common import expected, user_errors
from tabs.i18n import t


class LessonsTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    @staticmethod
    def _choices(language: str) -> list[tuple[str, str]]:
        return [(f"{i + 1}. {s.title}", s.id) for i, s in enumerate(lessons.steps(language))]

    @user_errors
    def show(self, language: str, step_id: str | None = None):
        """A step's text, its button, and its question (the first step when none is chosen)."""
        language = i18n.normalize(language) or i18n.DEFAULT
        steps = lessons.steps(language)
        current = lessons.step(language, step_id) if step_id in {s.id for s in steps} else steps[0]
        body = f"## {current.title}\n\n{current.body}\n\n**{current.check.question}**"
        choices = [(text, i) for i, text in enumerate(current.check.choices)]
        return (gr.update(choices=self._choices(language), value=current.id), body,
                gr.update(value=current.label), gr.update(choices=choices, value=None), "")

    @user_errors
    def check(self, language: str, step_id: str, choice: int | None = None) -> str:
        if choice is None:  # "Check" pressed before an answer is picked: a hint, not an error
            lessons.step(language, step_id)  # an unknown step or language is still refused
            return expected(i18n.msg("lessons.pick_answer"))  # in the asker's language, as errors are
        return lessons.reveal(language, step_id, int(choice))[1]

    def localize(self, language: str) -> tuple:
        """The steps in the page's language (the switch at the top, or the browser's)."""
        return (language, *self.show(language, None))

    def build(self, session_models: gr.State | None = None) -> None:
        # Follows the switch at the top of the page; an input of /lesson and /check_lesson, where a
        # caller may also name a language another way ("zh-Hant", "id-ID": lab.i18n.normalize).
        self.language = gr.Textbox(value=i18n.DEFAULT, label="Language", elem_id="lesson-language", visible=False)
        self.step = gr.Dropdown(self._choices("en"), value=lessons.steps("en")[0].id, label=t("lessons.step"),
                                elem_id="lesson-step")
        self.body = gr.Markdown(elem_id="lesson-body")
        self.try_it = gr.Button(lessons.steps("en")[0].label, variant="primary", elem_id="lesson-try")
        self.answer = gr.Radio([], label=t("lessons.your_answer"), elem_id="lesson-answer")
        self.reveal = gr.Button(t("lessons.check"), elem_id="lesson-check")
        self.feedback = gr.Markdown(elem_id="lesson-feedback")
        outputs = [self.step, self.body, self.try_it, self.answer, self.feedback]
        self.localized_outputs = [self.language, *outputs]
        self.step.input(self.show, [self.language, self.step], outputs, api_name="lesson")
        self.reveal.click(self.check, [self.language, self.step, self.answer], self.feedback, api_name="check_lesson")

    def connect(self, demo: gr.Blocks, tabs: gr.Tabs, inputs: dict[str, gr.components.Component]) -> None:
        """The step's button opens its tab and fills its inputs."""
        targets = [inputs[key] for key in lessons.INPUTS if key in inputs]
        keys = [key for key in lessons.INPUTS if key in inputs]

        def open_step(language: str, step_id: str):
            current = lessons.step(language, step_id)
            return (gr.Tabs(selected=current.tab),
                    *[current.inputs[key] if key in current.inputs else gr.skip() for key in keys])

        self.try_it.click(open_step, [self.language, self.step], [tabs, *targets], api_visibility="private")
