"""What a data summary and a run's results send to the browser stays small whatever the data, and
user text in Markdown is shown as typed."""

from types import SimpleNamespace

from lab.render import md_text
from training.data import reader
from training.tasks import results


def test_result_tables_show_the_most_supported_classes_and_sum_the_rest():
    n = 30
    names = [f"c{i}" for i in range(n)]
    # class i has i + 1 validation examples, all right except one of each predicted as c0
    matrix = [[0] * n for _ in range(n)]
    for i in range(n):
        matrix[i][i] = i
        matrix[i][0] += 1
    report = {"labels": names, "confusion": matrix,
              "per_class": {name: {"precision": 1.0, "recall": 0.5, "f1": 0.6, "support": i + 1}
                            for i, name in enumerate(names)}}
    result = SimpleNamespace(val_report=report, misclassified=[])
    per, confusion, _ = results.result_tables("classification", result)
    shown = [f"c{i}" for i in range(10, 30)]
    assert list(confusion["true \\ predicted"]) == shown + ["10 other classes"]
    assert confusion.shape == (21, 22)
    assert int(confusion.to_numpy()[:, 1:].sum()) == sum(map(sum, matrix))  # nothing lost, only summed
    assert list(per["class"]) == shown
    few = results.result_tables("classification", SimpleNamespace(
        val_report={**report, "labels": names[:3], "confusion": [row[:3] for row in matrix[:3]]}, misclassified=[]))
    assert few[1].shape == (3, 4)


def test_the_class_chart_keeps_the_largest_classes():
    counts = {f"class-{i}": 2 for i in range(10_000)} | {"big": 50}
    chart = reader.top_counts(counts)
    assert len(chart) == reader.TABLE_CLASSES + 1 and chart["name"][0] == "big"
    assert chart["name"].iloc[-1] == "9,981 other classes" and chart["count"].sum() == sum(counts.values())


def test_user_text_in_markdown_is_shown_as_typed():
    assert md_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert\\(1\\)&gt;"
    assert md_text("*bold* [link](http://x) a_b `code`") == \
        "\\*bold\\* \\[link\\]\\(http&#58;//x\\) a\\_b \\`code\\`"
    assert md_text("see https://evil.invalid or mail me@evil.invalid") == \
        "see https&#58;//evil\\.invalid or mail me&#64;evil\\.invalid"
    assert md_text("plain words") == "plain words"
