"""Class tab: the instructor's view of the runs students shared. Built only when the host sets
``LAB_INSTRUCTOR_TOKEN``, and shown only to a page opened with ``?token=<it>``; every endpoint
checks the token again, so the API gives nothing without it."""

from __future__ import annotations

import gradio as gr
from gradio.utils import get_upload_folder

from lab import i18n, session
from lab.context import Lab
from tabs.common import explainer, named_outputs, user_errors
from tabs.i18n import request_language, t
from training.runs.classroom import ClassBoard

# What the class_runs endpoint answers, in the API's order.
ClassRuns = named_outputs("ClassRuns", "table chart note")


class ClassTab:
    def __init__(self, lab: Lab, board: ClassBoard):
        self.lab = lab
        self.board = board

    def reveal(self, request: gr.Request):
        """On page load: the tab and its token for a page opened with the instructor's ?token=."""
        token = request.query_params.get("token") if request is not None else None
        if self.board.allows(token):
            return gr.update(visible=True), token
        return gr.update(visible=False), ""

    @user_errors
    def runs(self, token: str):
        self.board.check(token)
        frame = self.board.frame()
        summary = self.board.by_strategy()
        language = request_language()
        note = (i18n.text("class.note", language, runs=len(frame), students=frame["student"].nunique())
                if len(frame) else i18n.text("class.none", language))
        return ClassRuns(table=frame, chart=summary, note=note)

    @user_errors
    def export(self, token: str, request: gr.Request = None) -> str:
        """The CSV in the instructor's session's folder in Gradio's cache: it goes when the session ends."""
        self.board.check(token)
        key = getattr(request, "session_hash", None)
        return str(self.board.export(session.served_dir(self.lab.settings.runs_dir, get_upload_folder(), key) / "class"))

    def build(self, tab: gr.Tab, demo: gr.Blocks) -> None:
        token = gr.Textbox(visible=False)  # filled on load for the instructor's page; an API caller passes it
        gr.Markdown(t("class.intro"))
        with gr.Row():
            refresh = gr.Button(t("class.refresh"), variant="primary", elem_id="class-refresh")
            export = gr.Button(t("class.export"), elem_id="class-export")
        note = gr.Markdown(elem_id="class-note")
        table = gr.Dataframe(interactive=False, elem_id="class-runs", label=t("class.table"))
        chart = gr.BarPlot(x="strategy", y="mean score", title=t("class.chart"),
                           y_lim=[0, 1], height=300, elem_id="class-chart", x_label_angle=-20, tooltip="all")
        file = gr.File(label=t("class.file"), interactive=False)
        explainer(t("class.explainer"))
        demo.load(self.reveal, None, [tab, token], api_visibility="private")
        refresh.click(self.runs, token, ClassRuns.wire(table=table, chart=chart, note=note), api_name="class_runs")
        export.click(self.export, token, file, api_name="export_class_runs")
