"""A class at work: students fine-tune with feature extraction and share; only the instructor's token
sees the shared runs, through the Class tab's endpoints."""

import pandas as pd
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.conftest import INSTRUCTOR_TOKEN as TOKEN

TOPICS = "Topics (the lab's own sample)"


def _student_trains(url: str, name: str, share: bool) -> dict:
    student = Client(url, verbose=False)
    try:
        path = student.predict(TOPICS, "100 rows", api_name="/load_dataset")[0]
        from gradio_client import handle_file

        final = student.predict(handle_file(path), strategy="features", share_with_class=share, student_name=name,
                                api_name="/finetune")
        label, info, _ = student.predict("The striker scored twice in the final.", api_name="/classify")
        assert "run-1" in info  # the feature-extraction model answers in the Classification tab
        return final[0]
    finally:
        student.close()


def test_students_share_feature_runs_and_the_instructor_sees_them(class_url):
    metrics = _student_trains(class_url, "Ana", share=True)
    assert metrics["status"] == "done" and metrics["trainable_params"] < 10_000  # only the head
    _student_trains(class_url, "Budi", share=False)  # not shared: never listed
    instructor = Client(class_url, verbose=False)
    try:
        table, chart, note = instructor.predict(TOKEN, api_name="/class_runs")
        rows = pd.DataFrame(table["data"], columns=table["headers"])
        assert rows["student"].tolist() == ["Ana"] and rows["strategy"].tolist() == ["features"]
        assert 0.0 <= rows["score"][0] <= 1.0 and rows["data"][0].endswith(".csv")
        assert "1** shared run(s)" in note
        assert chart["data"][0][0] == "features"  # one task shared: its bars are named by strategy
        exported = pd.read_csv(instructor.predict(TOKEN, api_name="/export_class_runs"))
        assert exported["student"].tolist() == ["Ana"]
    finally:
        instructor.close()


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_without_the_token_the_class_view_gives_nothing(class_url, token):
    with pytest.raises(AppError, match="instructor's token"):
        Client(class_url, verbose=False).predict(token, api_name="/class_runs")
    with pytest.raises(AppError, match="instructor's token"):
        Client(class_url, verbose=False).predict(token, api_name="/export_class_runs")


def test_sharing_needs_a_name(class_url):
    student = Client(class_url, verbose=False)
    try:
        path = student.predict(TOPICS, "100 rows", api_name="/load_dataset")[0]
        from gradio_client import handle_file

        with pytest.raises(AppError, match="Type a name"):
            student.predict(handle_file(path), strategy="features", share_with_class=True, student_name="  ",
                            api_name="/finetune")
        for name, message in [("Ana\x1b[2J", "U\\+001B"), ("x" * 41, "at most 40")]:
            with pytest.raises(AppError, match=message):
                student.predict(handle_file(path), strategy="features", share_with_class=True, student_name=name,
                                api_name="/finetune")
    finally:
        student.close()


def test_an_app_without_a_token_has_no_class_endpoints(client):
    assert "/class_runs" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
