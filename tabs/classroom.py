"""Class tab: the instructor's view of the runs students shared. Built only when the host sets
``LAB_INSTRUCTOR_TOKEN``, and shown only to a page opened with ``?token=<it>``; every endpoint
checks the token again, so the API gives nothing without it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from lab.context import Lab
from tabs.common import explainer, user_errors
from training.classroom import ClassBoard

EXPLAINER = """
Each row is a run a student shared from the Fine-tune tab ("share with the class"), under the
name they typed: the way of training, the data, the settings, the validation score and the time
it took. Sort by any column; the chart averages the score per way of training, so the class sees
at a glance what full fine-tuning, frozen layers, LoRA and feature extraction bought on the same
data. Students never see each other's runs or models; this view needs the instructor's token.
"""


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
        note = (f"**{len(frame)}** shared run(s) from **{frame['student'].nunique()}** student(s)."
                if len(frame) else "No shared runs yet: students tick *Share with the class* in the Fine-tune tab.")
        return frame, summary, note

    @user_errors
    def export(self, token: str) -> str:
        self.board.check(token)
        return str(self.board.export(Path(tempfile.mkdtemp(prefix="lab-class-"))))

    def build(self, tab: gr.Tab, demo: gr.Blocks) -> None:
        token = gr.Textbox(visible=False)  # filled on load for the instructor's page; an API caller passes it
        gr.Markdown("The runs your students shared, live. Refresh to see new ones.")
        with gr.Row():
            refresh = gr.Button("Refresh", variant="primary", elem_id="class-refresh")
            export = gr.Button("Export as CSV", elem_id="class-export")
        note = gr.Markdown(elem_id="class-note")
        table = gr.Dataframe(interactive=False, elem_id="class-runs", label="Shared runs (click a header to sort)")
        chart = gr.BarPlot(x="strategy", y="mean score", title="Mean validation score by way of training",
                           y_lim=[0, 1], height=300, elem_id="class-chart", x_label_angle=-20)
        file = gr.File(label="Export", interactive=False)
        explainer(EXPLAINER)
        demo.load(self.reveal, None, [tab, token], api_visibility="private")
        refresh.click(self.runs, token, [table, chart, note], api_name="class_runs")
        export.click(self.export, token, file, api_name="export_class_runs")
