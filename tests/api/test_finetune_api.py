"""/finetune's API contract: upload a CSV, train with defaults, then /classify uses the model."""

import random

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

POSITIVE = ["a wonderful film", "great acting and a good story", "I loved it", "good fun for everyone",
            "a great and moving story", "really good music"]
NEGATIVE = ["a boring film", "bad acting and a dull story", "I hated it", "awful from start to end",
            "a dull and bad plot", "really bad music"]


@pytest.fixture(scope="module")
def sentiment_csv(tmp_path_factory):
    rng = random.Random(0)
    rows = [(t, "positive") for t in POSITIVE * 3] + [(t, "negative") for t in NEGATIVE * 3]
    rng.shuffle(rows)
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    path.write_text("review,sentiment\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def test_finetune_with_defaults_then_classify_uses_it(app_url, sentiment_csv):
    client = Client(app_url, verbose=False)  # its own session: state stays with this client
    try:
        job = client.submit(handle_file(str(sentiment_csv)), api_name="/finetune")
        updates = list(job)
        final = job.result()
        metrics = final[0]
        assert metrics["status"] == "done" and metrics["model"] == "run-1"
        assert 0.0 <= metrics["accuracy"] <= 1.0 and "macro_f1" in metrics
        assert len(updates) >= 2  # streamed: progress before the final metrics
        per_class = final[4]
        assert sorted(row[0] for row in per_class["data"]) == ["negative", "positive"]
        confusion = final[5]
        assert confusion["headers"][1:] == ["→ negative", "→ positive"]
        assert sum(sum(row[1:]) for row in confusion["data"]) == 8  # stratified 20%: 4 of each class's 18 rows
        assert str(final[7]).endswith(".zip")
        best = metrics["best_metrics"]  # the kept checkpoint, said in the status with its epoch and scores
        assert f"Kept: the checkpoint of epoch {best['epoch']:.2f} (step {best['step']})" in final[1]
        assert f"validation loss {best['val_loss']:.3f}" in final[1]

        label, info, _ = client.predict("a wonderful film", api_name="/classify")
        assert {c["label"] for c in label["confidences"]} == {"negative", "positive"}
        assert "run-1" in info  # this session's fine-tuned model answered

        after, before, note = client.predict("a wonderful film", api_name="/predict_finetuned")
        assert after["label"] in {"negative", "positive"} and "run-1" in note
    finally:
        client.close()


def test_another_session_never_sees_the_model(client):
    # the shared `client` fixture is another session: its default classifier is the test app's own
    _, info, _ = client.predict("a wonderful film", api_name="/classify")
    assert "run-" not in info
    with pytest.raises(AppError, match="No model fine-tuned in this session"):
        client.predict("a wonderful film", api_name="/predict_finetuned")


def test_bad_upload_is_explained_before_training(client, tmp_path):
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"sentence {i},pos\n" for i in range(10)))
    with pytest.raises(AppError, match="class"):
        client.predict(handle_file(str(one_class)), api_name="/finetune")
    with pytest.raises(AppError, match="learning_rate"):
        client.predict(handle_file(str(one_class)), learning_rate=5.0, api_name="/finetune")


def test_one_click_sample_dataset_loads_like_an_upload(client):
    outputs = client.predict("Topics (the lab's own sample)", "100 rows", api_name="/load_dataset")
    path, info = outputs[0], outputs[1]
    assert str(path).endswith(".csv")
    assert "**100 rows**, 4 classes" in info and "Label mapping" in info
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip()
    assert header == "text,label"


def test_imbalanced_lesson_is_one_click(client):
    outputs = client.predict(api_name="/load_imbalanced_sample")
    dataset, size, card, path, info = outputs[:5]
    assert dataset.startswith("SMS spam") and size["value"] == "all 480 rows"
    assert "Class weights" in card and "recall" in card
    assert str(path).endswith("sms.csv")
    assert "**480 rows**, 2 classes" in info and "ham → 0" in info and "spam → 1" in info
