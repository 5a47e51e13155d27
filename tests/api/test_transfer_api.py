"""The Transfer tab's API: /embedding_map, /layer_probe, /learning_curves (+ cancel), /contextual_vectors,
/crosslingual_compare (+ cancel), /crosslingual_map and /crosslingual.

The test app's classifier is a tiny random model and its base encoder the embedded MiniLM: the
shapes and the plumbing are checked here, the sense of the numbers in tests/unit/test_transfer.py.
"""

import random
import re
import time

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

SENTIMENT = "Sentiment (the lab's own sample)"
TOPICS = "Topics (the lab's own sample)"
RUN_1 = "run-1 (this session: the rows it trained on)"


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """24 reviews: 20 training rows after the split, so a curve has two sizes (16 and 20)."""
    good = ["a wonderful film", "great acting", "I loved it", "good fun", "a moving story", "lovely music"]
    bad = ["a boring film", "bad acting", "I hated it", "awful plot", "a dull story", "terrible music"]
    rows = [(f"{t} {i}", "positive") for i, t in enumerate(good * 2)] + [(f"{t} {i}", "negative")
                                                                         for i, t in enumerate(bad * 2)]
    random.Random(0).shuffle(rows)
    path = tmp_path_factory.mktemp("transfer") / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    return path


def test_embedding_map_of_a_sample(client):
    before, after, info = client.predict(SENTIMENT, api_name="/embedding_map")
    assert before["columns"] == after["columns"] == ["x", "y", "label", "text", "prediction", "model"]
    assert len(before["data"]) == len(after["data"]) == 60  # the sample's stratified 20% validation rows
    assert {row[2] for row in before["data"]} == {"negative", "positive"}
    assert {row[4] for row in after["data"]} <= {"negative", "positive"}  # the fine-tuned model's predictions
    assert {row[5] for row in before["data"]} == {"before"} and {row[5] for row in after["data"]} == {"after"}
    assert "Separation of the classes" in info and "all-MiniLM-L6-v2" in info and "tiny-bert-cls" in info


def test_layer_probe_of_a_sample(client):
    bars, info = client.predict(TOPICS, api_name="/layer_probe")
    rows = bars["value"]["data"]
    layers = [r[0] for r in rows if r[2] == "probe on the frozen layer"]
    assert layers == ["embeddings"] + [f"layer {i}" for i in range(1, 7)]  # the embedded MiniLM's 6 layers
    assert all(0.0 <= r[1] <= 1.0 for r in rows)
    assert rows[-1][0] == "most common class" and rows[-1][1] == 0.25
    assert bars["sort"] == [r[0] for r in rows]  # drawn in layer order, not alphabetically
    assert "trained on 240 rows, scored on 60" in info
    assert "trained for other labels" in info  # the tiny classifier's labels are not the topics


def test_a_fine_tuned_run_is_mapped_on_its_own_validation_rows(app_url, small_csv):
    client = Client(app_url, verbose=False)  # its own session
    try:
        client.predict(handle_file(str(small_csv)), api_name="/finetune")
        before, after, info = client.predict(RUN_1, None, "run-1", "mean", "UMAP", api_name="/embedding_map")
        assert len(after["data"]) == 4  # the run's own validation split: 20% of 12 per class, rounded
        assert "run-1" in info and "UMAP" in info and "accurate on these rows" in info
        bars, info = client.predict(RUN_1, None, "run-1", api_name="/layer_probe")
        assert [r[0] for r in bars["value"]["data"]][-2:] == ["fine-tuned model", "most common class"]
        assert "Fine-tuned **run-1**" in info
    finally:
        client.close()


def test_another_session_cannot_map_that_run(client):
    with pytest.raises(AppError, match="Pick a dataset"):
        client.predict(RUN_1, api_name="/embedding_map")


def test_learning_curves_stream_points_for_an_upload(client, small_csv):
    job = client.submit(SENTIMENT, handle_file(str(small_csv)), ["pretrained", "frozen"], api_name="/learning_curves")
    updates = list(job)
    chart, table, info = job.result()
    assert "Expected time" in updates[0][2] and "sizes 16, 20" in updates[0][2]
    assert info == "Done: 4 of 4 runs."
    assert table["headers"] == ["examples", "accuracy", "series"]
    assert [(r[0], r[2]) for r in table["data"]] == [(16, "fine-tuned from pretrained"), (16, "frozen encoder + head"),
                                                     (20, "fine-tuned from pretrained"), (20, "frozen encoder + head")]
    assert chart.count("<circle") == 4 and "log scale" in chart


def test_a_second_session_gets_the_same_curves_from_the_class_cache(app_url, client, small_csv):
    first = client.predict(SENTIMENT, handle_file(str(small_csv)), ["pretrained", "frozen"], api_name="/learning_curves")
    other = Client(app_url, verbose=False)  # another student, the same data, model and settings
    try:
        started = time.monotonic()
        job = other.submit(SENTIMENT, handle_file(str(small_csv)), ["frozen", "pretrained"], api_name="/learning_curves")
        updates = list(job)
        chart, table, info = job.result()
        assert time.monotonic() - started < 30  # nothing trained: a busy machine still answers at once
        assert len(updates) == 1 and info.startswith("From the class's cache: 4 runs")
        assert table == first[1] and chart == first[0]
    finally:
        other.close()


def test_learning_curves_cancel_keeps_the_points_so_far(app_url, small_csv):
    client = Client(app_url, verbose=False)
    try:
        job = client.submit(SENTIMENT, handle_file(str(small_csv)), ["pretrained", "scratch"],
                            api_name="/learning_curves")
        deadline = time.monotonic() + 60
        while not job.outputs() and time.monotonic() < deadline:  # the estimate: the runs have started
            time.sleep(0.2)
        assert "Stopping" in client.predict(api_name="/cancel_learning_curves")
        _, table, info = job.result()
        assert info.startswith("Stopped") and len(table["data"]) < 4
    finally:
        client.close()
    assert "No learning curves" in Client(app_url, verbose=False).predict(api_name="/cancel_learning_curves")


def test_contextual_vectors_grids(client):
    to_static, between, info = client.predict("bank", "The bank of the river.\nThe bank lends money.", 6,
                                              api_name="/contextual_vectors")
    assert to_static.count('data-v="') == 2 * 7 and between.count('data-v="') == 4
    assert "emb" in to_static and "all-MiniLM-L6-v2" in info and "6 layers" in info


@pytest.mark.parametrize("args, message", [
    (("bank", "Only one sentence with bank."), "at least two"),
    (("bank", "No word.\nStill none."), "do not contain"),
    (("bank", "bank one\nbank two", 9), r"between 0 and 6 \(got 9\)"),
])
def test_contextual_mistakes_are_explained(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/contextual_vectors")


def test_transfer_views_explain_bad_data(client, tmp_path):
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"sentence {i},pos\n" for i in range(20)))
    with pytest.raises(AppError, match="class"):
        client.predict(SENTIMENT, handle_file(str(one_class)), api_name="/layer_probe")
    with pytest.raises(AppError, match="Pick a dataset"):
        client.predict("No such dataset", api_name="/embedding_map")
    with pytest.raises(AppError, match="Tick at least one"):
        client.predict(SENTIMENT, None, [], api_name="/learning_curves")


def test_the_crosslingual_comparison_can_be_cancelled_while_it_encodes(app_url):
    """First of the comparison's tests: nothing of the parallel set is in the feature cache yet."""
    client = Client(app_url, verbose=False)
    try:
        job = client.submit("id", api_name="/crosslingual_compare")
        deadline = time.monotonic() + 120
        while not job.outputs() and time.monotonic() < deadline:  # a progress line: it encodes
            time.sleep(0.1)
        assert "Encoding reviews" in job.outputs()[-1][2]
        assert "Stopping" in client.predict(api_name="/cancel_crosslingual")
        chart, _, info = job.result()
        assert info.startswith("Stopped") and 'class="c-bar"' not in chart
    finally:
        client.close()
    assert "No crosslingual" in Client(app_url, verbose=False).predict(api_name="/cancel_crosslingual")


def test_the_crosslingual_comparison_draws_three_setups_in_three_languages(client):
    chart, table, info = client.predict("en", api_name="/crosslingual_compare")
    assert table["headers"] == ["setup", "language", "trained on", "accuracy"] and len(table["data"]) == 9
    setups = {row[0]: {r[3] for r in table["data"] if r[0] == row[0]} for row in table["data"]}
    assert list(setups) == ["multilingual, trained on English", "English-only, trained on English",
                            "multilingual, trained in each language"]
    assert [r[2] for r in table["data"][6:]] == ["English", "Bahasa Indonesia", "Traditional Chinese"]
    bars = re.findall(r'class="c-bar" data-series="([^"]+)" data-group="([^"]+)" data-accuracy="([0-9.]+)"', chart)
    assert len(bars) == 9 and {float(a) for *_, a in bars} == {r[3] for r in table["data"]}
    assert "What was run" in info and "240 English reviews" in info and "multilingual-e5-small" in info


def test_the_crosslingual_comparison_in_indonesian(app_url):
    client = Client(app_url, verbose=False, headers={"Cookie": "lab_lang=id"})
    try:
        chart, table, info = client.predict("zh-TW", api_name="/crosslingual_compare")
    finally:
        client.close()
    assert table["headers"] == ["susunan", "bahasa", "dilatih dengan", "akurasi"]
    assert "multibahasa, dilatih dengan bahasa Mandarin Tradisional" in chart and "Apa yang dijalankan" in info


def test_the_translations_map_joins_each_review_to_its_translations(client):
    multilingual, english, info = client.predict(api_name="/crosslingual_map")
    for svg in (multilingual, english):
        assert svg.count('class="c-point"') == 120 and svg.count('class="c-link"') == 40
        assert svg.count('data-language="zh-TW"') == 40
    assert "multilingual-e5-small" in multilingual and "all-MiniLM-L6-v2" in english
    assert "(chance: 2.5%)" in info


def test_crosslingual_scores_the_parallel_set_in_three_languages(client):
    from lab.registry import MULTILINGUAL_NAME

    frame, note = client.predict("zh-TW", MULTILINGUAL_NAME, api_name="/crosslingual")
    rows = {r[0]: r for r in frame["data"]}
    assert list(rows) == ["en", "id", "zh-TW"] and rows["zh-TW"][2] == "yes" and rows["en"][2] == "no"
    assert all(0 <= r[1] <= 1 for r in rows.values())
    assert "fine-tuned on 160 reviews in Traditional Chinese only" in note


def test_crosslingual_refuses_a_language_without_a_sample(client):
    # the language is a dropdown of the samples' languages: Gradio refuses another before the handler
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("fr", api_name="/crosslingual")
