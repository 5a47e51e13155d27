"""Handlers answer by name: each event's outputs are one named tuple, wired to its components in the
API's order, and a handler leaves out what it does not change."""

import gradio as gr
import pandas as pd
import pytest

from lab.context import Lab
from lab.settings import Settings
from tabs.common import named_outputs

SKIP = gr.skip()


def test_an_output_left_out_is_skipped_and_the_order_is_the_fields():
    Answer = named_outputs("Answer", "chart table info")
    answer = Answer(info="done")
    assert answer.info == "done" and answer.chart == SKIP and answer.table == SKIP
    assert list(answer) == [SKIP, SKIP, "done"]  # what Gradio and an API caller receive
    assert answer.chart is not answer.table  # a fresh update each: Gradio may edit the one it gets
    assert Answer.wire(info=3, chart=1, table=2) == [1, 2, 3]


def test_a_name_that_is_not_an_output_and_a_wiring_that_misses_one_are_refused():
    Answer = named_outputs("Answer", "chart table info")
    with pytest.raises(TypeError, match="no output tabel"):
        Answer(tabel=1)
    with pytest.raises(TypeError, match="needs table"):
        Answer.wire(chart=1, info=3)


@pytest.fixture
def lab(tmp_path):
    return Lab(Settings(offline=True, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache"))


def test_the_class_runs_answer_names_its_table_chart_and_note(lab):
    from tabs.classroom import ClassTab
    from training.runs.classroom import ClassBoard

    board = ClassBoard("s3cret")
    board.share("Ana", "run-1", "classification", "sms.csv", {"strategy": "full", "learning_rate": 5e-5,
                "batch_size": 16, "epochs": 3, "max_length": 128, "class_weights": False}, 0.9, "accuracy", 1)
    answer = ClassTab(lab, board).runs("s3cret")
    assert isinstance(answer.table, pd.DataFrame) and answer.table["student"].tolist() == ["Ana"]
    assert "1" in answer.note and not answer.chart.empty


def test_switching_the_task_hides_the_column_pickers_and_says_its_metric(lab):
    from tabs.finetune import FinetuneTab
    from training.tasks import registry

    tab = FinetuneTab(lab)
    ner, classification = tab.switch_task("ner"), tab.switch_task("classification")
    assert ner.text_column["visible"] is False and ner.class_weights["visible"] is False
    assert classification.label_column["visible"] is True
    assert ner.metric_note.key == registry.TASKS["ner"].tab_key("metric_note") and ner.file["value"] is None


@pytest.mark.slow  # builds the Fine-tune and Transfer tabs' layouts
def test_each_event_is_wired_in_the_order_of_its_outputs(lab):
    from tabs.finetune import FinetuneTab, Training
    from tabs.transfer import CrossCompare, CrossMap, Curves, TransferTab

    with gr.Blocks() as demo:
        state = gr.State({})
        FinetuneTab(lab).build(state)
        TransferTab(lab).build(state)
    by_api = {fn.api_name: fn for fn in demo.fns.values()}

    def ids(api_name):
        return [block.elem_id for block in by_api[api_name].outputs]

    # the API's answer of /finetune: metrics, status, the two charts, ..., the runs table and the pick
    outputs = by_api["finetune"].outputs
    assert len(outputs) == len(Training._fields)
    assert ids("finetune")[:4] == ["ft-results", "ft-status", "ft-curves", "ft-score"]
    assert ids("finetune")[4:6] == ["ft-per-class", "ft-confusion"] and ids("finetune")[7] == "ft-download"
    assert outputs[8] is state and ids("finetune")[10] == "ft-runs"
    assert ids("learning_curves") == ["tr-curves", "tr-curves-table", "tr-curves-info"] and len(Curves._fields) == 3
    assert ids("crosslingual_compare") == ["tr-xl-chart", "tr-xl-table", "tr-xl-info"] and len(CrossCompare._fields) == 3
    assert ids("crosslingual_map") == ["tr-xl-map-multilingual", "tr-xl-map-english", "tr-xl-map-info"]
    assert len(CrossMap._fields) == 3


@pytest.mark.slow  # loads the embedded encoder's tokenizer
def test_an_inspected_upload_is_read_by_name(lab, tmp_path):
    from tabs.finetune import FinetuneTab

    upload = tmp_path / "reviews.csv"
    rows = [("a fine film", "pos"), ("dull and long", "neg"), ("I loved it", "pos")] * 10
    upload.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in rows), encoding="utf-8")
    answer = FinetuneTab(lab).inspect_data(str(upload), "", "", "default", "classification")
    assert answer.text_column["value"] == "text" and answer.label_column["value"] == "label"
    assert sorted(answer.classes["value"]["name"]) == ["neg", "pos"] and answer.info
    assert len(answer.preview) > 0 and answer.max_length["value"] >= 8
