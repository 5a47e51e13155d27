import zipfile
from pathlib import Path

import pandas as pd
import pytest

from lab.errors import LabInputError
from tests.shared import shared_data
from training.data.data import (
    DataError,
    DataLimits,
    DataSummary,
    TextDataset,
    build_dataset,
    guess_columns,
    load_for_training,
    read_table,
    split_dataset,
    summarize,
)

REVIEWS = [
    ("a gripping, beautifully shot film", "positive"),
    ("dull and far too long", "negative"),
    ("the cast is wonderful", "positive"),
    ("I walked out after an hour", "negative"),
    ("funny, warm and smart", "positive"),
    ("a mess from start to finish", "negative"),
]


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def csv_text(rows=REVIEWS, header="text,label", sep=",") -> str:
    lines = [header] if header else []
    lines += [f"{t}{sep}{y}" if sep != "," or "," not in t else f'"{t}",{y}' for t, y in rows]
    return "\n".join(lines) + "\n"


def error(match: str):
    return pytest.raises(DataError, match=match)


# ---- reading: encodings, delimiters, quoting, headers -------------------------------------


def test_data_error_is_a_lab_input_error():
    assert issubclass(DataError, LabInputError)


def test_utf8_plain(tmp_path):
    df = read_table(write(tmp_path, csv_text()))
    assert list(df.columns) == ["text", "label"] and len(df) == 6
    assert df.loc[0, "text"] == "a gripping, beautifully shot film"
    assert df.attrs["encoding"] == "utf-8" and df.attrs["notes"] == [] and df.attrs["has_header"]
    assert all(pd.api.types.is_string_dtype(df[c]) for c in df.columns)


def test_utf8_bom_does_not_leak_into_the_header(tmp_path):
    df = read_table(write(tmp_path, csv_text().replace("film", "café"), encoding="utf-8-sig"))
    assert list(df.columns) == ["text", "label"]
    assert df.loc[0, "text"].endswith("café")


def test_latin1_is_decoded_with_a_note(tmp_path):
    rows = [("crème brûlée was très bon", "positive"), ("déjà vu, all over again", "negative")] * 2
    df = read_table(write(tmp_path, csv_text(rows), encoding="latin-1"))
    assert df.loc[0, "text"] == "crème brûlée was très bon"
    assert df.attrs["encoding"] in ("cp1252", "latin-1")
    (note,) = df.attrs["notes"]
    assert "isn't valid UTF-8" in note and "line 2" in note and "latin-1" in note


def test_utf16_with_bom(tmp_path):
    df = read_table(write(tmp_path, csv_text().replace("film", "film 🎬"), encoding="utf-16"))
    assert list(df.columns) == ["text", "label"] and len(df) == 6
    assert df.loc[0, "text"].endswith("🎬")


def test_utf16_without_bom_is_detected(tmp_path):
    df = read_table(write(tmp_path, csv_text(), encoding="utf-16-le"))
    assert list(df.columns) == ["text", "label"] and len(df) == 6
    assert "UTF-16" in df.attrs["notes"][0]


def test_invalid_utf16_says_why_and_how_to_fix(tmp_path):
    path = write(tmp_path, b"\xff\xfe" + "text,label\n".encode("utf-16-le") + b"\x00\xdc\x41\x00")  # lone surrogate
    with error(r"isn't valid UTF-16.*save it as UTF-8"):
        read_table(path)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, sep):
    rows = [("one, two; three", "a"), ("four | five", "b"), ("six", "a"), ("seven", "b")]
    content = f"text{sep}label\n" + "".join(
        f'"{t}"{sep}{y}\n' if sep in t else f"{t}{sep}{y}\n" for t, y in rows)
    df = read_table(write(tmp_path, content, name="data.tsv" if sep == "\t" else "data.csv"))
    assert df.attrs["delimiter"] == sep
    assert df["text"].tolist() == [t for t, _ in rows] and df["label"].tolist() == ["a", "b", "a", "b"]


def test_tsv_with_commas_and_stray_quotes_in_texts(tmp_path):
    content = 'text\tlabel\nit \'s " fine " , really\t1\n" quoted start , no end\t0\nplain\t1\nmore , commas , here\t0\n'
    df = read_table(write(tmp_path, content, name="train.tsv"))
    assert df.attrs["delimiter"] == "\t" and len(df) == 4
    assert df.loc[1, "text"] == '" quoted start , no end'


def test_quoted_newlines_and_crlf(tmp_path):
    content = 'text,label\r\n"first line\r\nsecond line",pos\r\nshort,neg\r\n"a, b",pos\r\n,neg\r\n'
    df = read_table(write(tmp_path, content))
    assert len(df) == 4 and df.loc[0, "text"] == "first line\r\nsecond line"
    assert list(df.attrs["lines"]) == [2, 4, 5, 6]
    with error(r"empty text.*line 6\b"):  # the line in the file, counting the quoted newline
        build_dataset(df, "text", "label")
    df = read_table(write(tmp_path, 'text,label\n"two\nlines"\nok,neg\nfine,pos\n', name="short.csv"))
    with error(r"no label in column 'label' \(line 2\)"):
        build_dataset(df, "text", "label")


def test_headerless_file_is_detected_and_columns_named_by_content(tmp_path):
    df = read_table(write(tmp_path, csv_text(header=None)))
    assert not df.attrs["has_header"] and len(df) == 6
    assert list(df.columns) == ["text", "label"]
    assert "No header line found" in df.attrs["notes"][0]
    flipped = "".join(f'{y},"{t}"\n' for t, y in REVIEWS)
    df = read_table(write(tmp_path, flipped, name="flipped.csv"))
    assert list(df.columns) == ["label", "text"] and df.loc[0, "label"] == "positive"


def test_headerless_with_integer_labels(tmp_path):
    content = "".join(f'"{t}",{int(y == "positive")}\n' for t, y in REVIEWS)
    df = read_table(write(tmp_path, content))
    assert list(df.columns) == ["text", "label"] and len(df) == 6


def test_header_with_unusual_names_is_still_a_header(tmp_path):
    rows = "".join(f'"{t}",{i % 2}\n' for i, (t, _) in enumerate(REVIEWS))
    df = read_table(write(tmp_path, "Phrase,Sentiment Value\n" + rows))
    assert df.attrs["has_header"] and list(df.columns) == ["Phrase", "Sentiment Value"]


def test_label_value_that_looks_like_a_header_name(tmp_path):
    content = "what time is it,question\nclose the door,command\nwhere are you,question\nsit down,command\n"
    df = read_table(write(tmp_path, content))
    assert not df.attrs["has_header"] and len(df) == 4


def test_duplicate_column_names_are_renamed(tmp_path):
    content = "text,label,label\n" + "".join(f'"{t}",{y},x\n' for t, y in REVIEWS)
    df = read_table(write(tmp_path, content))
    assert list(df.columns) == ["text", "label", "label_2"]
    assert "appears more than once" in df.attrs["notes"][0]


def test_fully_empty_rows_are_skipped_with_a_note(tmp_path):
    df = read_table(write(tmp_path, csv_text() + ",\n,\n"))
    assert len(df) == 6 and "Skipped 2 empty row(s) (line 8, 9)" in df.attrs["notes"][0]


# ---- reading: refusals ----------------------------------------------------------------------


def test_empty_file(tmp_path):
    with error("is empty.*header line"):
        read_table(write(tmp_path, ""))
    with error("is empty"):
        read_table(write(tmp_path, "\n \n", name="blank.csv"))
    with error("is empty"):
        read_table(write(tmp_path, b"\xef\xbb\xbf", name="bom.csv"))
    with error("holds no rows"):
        read_table(write(tmp_path, ",,\n,,\n", name="commas.csv"))


def test_header_only(tmp_path):
    with error(r"has a header \(text, label\) but no data rows.*below the header"):
        read_table(write(tmp_path, "text,label\n"))


def test_xlsx_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with error(r"not a text CSV.*Excel workbook \(.xlsx\).*Save As"):
        read_table(path)


def test_binary_file_is_refused(tmp_path):
    with error("not a text file.*binary"):
        read_table(write(tmp_path, bytes(range(256)) * 64))


def test_missing_file(tmp_path):
    with error("no such file"):
        read_table(tmp_path / "nope.csv")


def test_unquoted_delimiter_in_a_text_names_the_line(tmp_path):
    content = "text,label\ngood film,pos\ngood, but long,neg\nbad,neg\n"
    with error(r"line 3: 3 fields where the header has 2.*double quotes"):
        read_table(write(tmp_path, content))


def test_trailing_delimiters_are_tolerated(tmp_path):
    df = read_table(write(tmp_path, "text,label\ngood film,pos,\nbad film,neg,,\n"))
    assert df.values.tolist() == [["good film", "pos"], ["bad film", "neg"]]


def test_byte_cap(tmp_path):
    path = write(tmp_path, csv_text())
    with error(r"the cap is .* MB \(LAB_MAX_UPLOAD_MB\).*sample"):
        read_table(path, DataLimits(max_bytes=100))
    assert len(read_table(path, DataLimits(max_bytes=10_000))) == 6


def test_row_cap(tmp_path):
    path = write(tmp_path, csv_text())
    with error(r"more than 5 data rows, the cap \(LAB_MAX_ROWS\)"):
        read_table(path, DataLimits(max_rows=5))
    assert len(read_table(path, DataLimits(max_rows=6))) == 6
    df = read_table(path, DataLimits(max_rows=5), nrows=3)
    assert len(df) == 3 and "first 3 rows" in df.attrs["notes"][-1]


def test_text_length_cap_names_line_and_column(tmp_path):
    path = write(tmp_path, csv_text() + "x" * 300 + ",positive\n")
    with error(r"line 8, column 'text': 300 characters; the cap is 200 per text"):
        read_table(path, DataLimits(max_text_chars=200))


def test_absurdly_long_line(tmp_path):
    path = write(tmp_path, csv_text() + "word " * 40_000 + ",positive\n")
    with error(r"line 8: a text longer than the cap of 20,000 characters"):
        read_table(path, DataLimits())
    path = write(tmp_path, csv_text() + "word " * 5_000 + ",positive\n", name="long.csv")
    with error(r"line 8, column 'text': 25,000 characters; the cap is 20,000 per text"):
        read_table(path, DataLimits())
    # A stray opening quote past the sniffed sample swallows the lines after it.
    runaway = csv_text() + "more text,negative\n" * 4_000 + '"this quote never closes,positive\n'
    runaway += "more text,negative\n" * 2_000
    with error(r"line 4,008: a double quote opens a text that never closes, so the text runs on to line 6,008"):
        read_table(write(tmp_path, runaway, name="runaway.csv"), DataLimits())


def test_stray_quote_in_a_tsv_is_kept_as_text(tmp_path):
    df = read_table(write(tmp_path, 'text\tlabel\n' + '"no closing quote\tpositive\nfine\tnegative\n' * 3))
    assert len(df) == 6 and df.loc[0, "text"] == '"no closing quote'


def test_stray_quote_in_a_quoted_csv_names_its_line(tmp_path):
    with error(r"line 8: a double quote opens a text that never closes, so the text runs on to line 9"):
        read_table(write(tmp_path, csv_text() + '"no closing quote,positive\nfine,negative\n'))


def test_limits_from_env(monkeypatch):
    assert DataLimits.from_env() == DataLimits()
    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("LAB_MAX_ROWS", "1000")
    limits = DataLimits.from_env()
    assert limits.max_bytes == int(2.5 * 2**20) and limits.max_rows == 1000
    assert limits.max_text_chars == DataLimits().max_text_chars
    # the text boxes' cap (LAB_MAX_TEXT_CHARS) is a different setting from the upload's per-text cap
    monkeypatch.setenv("LAB_MAX_TEXT_CHARS", "10")
    assert DataLimits.from_env().max_text_chars == DataLimits().max_text_chars
    monkeypatch.setenv("LAB_MAX_UPLOAD_TEXT_CHARS", "300")
    assert DataLimits.from_env().max_text_chars == 300
    monkeypatch.setenv("LAB_MAX_ROWS", "lots")
    with pytest.raises(ValueError, match="LAB_MAX_ROWS must be a number"):
        DataLimits.from_env()


def test_the_readers_take_the_limits_their_caller_passes_and_never_read_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, csv_text())
    monkeypatch.setenv("LAB_MAX_ROWS", "3")  # the host's setting reaches a reader through Settings only
    assert len(read_table(path)) == len(REVIEWS)
    with error("cap"):
        read_table(path, DataLimits.from_env())
    # the label checks obey the caller's caps too, in the dataset and in the summary
    few_classes = DataLimits(max_classes=1)
    df = read_table(path)
    with error("trains at most 1 "):
        build_dataset(df, "text", "label", limits=few_classes)
    assert summarize(df, "text", "label", limits=few_classes).problems
    assert not summarize(df, "text", "label").problems
    with error("trains at most 1 "):
        load_for_training(path, limits=few_classes)


# ---- columns --------------------------------------------------------------------------------


@pytest.mark.parametrize(("columns", "expected"), [
    ({"id": ["1", "2", "3", "4"], "review_text": ["great stuff here", "awful, just awful", "fine I guess", "meh ok"],
      "stars": ["5", "1", "3", "3"]}, ("review_text", "stars")),
    ({"tweet_id": ["901", "902", "903", "904"], "user": ["ann", "bob", "cy", "dee"],
      "tweet": ["loving this weather!", "ugh, mondays", "new phone who dis", "so tired today"],
      "Sentiment": ["pos", "neg", "neu", "neg"]}, ("tweet", "Sentiment")),
    ({"Category": ["sport", "tech", "sport", "politics"],
      "Text": ["the match ended 2-1", "a new chip was shown", "the coach resigned", "the vote is today"]},
     ("Text", "Category")),
    ({"sentence": ["hide new secretions", "contains no wit", "that loves its characters", "remains utterly"],
      "label_id": ["0", "0", "1", "1"], "idx": ["0", "1", "2", "3"]}, ("sentence", "label_id")),
    ({"a": ["x1", "x2", "x3", "x4", "x5", "x6"], "b": ["long text one", "long text two", "long text three",
                                                     "long text four", "long text five", "long text six"],
      "c": ["u", "v", "u", "v", "u", "v"]}, ("b", "c")),
])
def test_guess_columns(columns, expected):
    assert guess_columns(pd.DataFrame(columns)) == expected


def test_guess_columns_needs_two_columns(tmp_path):
    df = read_table(write(tmp_path, "text\ngood\nbad\n"))
    with error("Only one column \\('text'\\).*text column and a label column"):
        guess_columns(df)


# ---- building: checks and label mappings ----------------------------------------------------


def test_unknown_column_lists_the_available_ones():
    df = pd.DataFrame({"sentence": ["a", "b"], "label": ["x", "y"]})
    with error(r"text column 'text' isn't in the file; its columns are 'sentence', 'label'"):
        build_dataset(df, "text", "label")
    with error("label column 'class' isn't in the file"):
        build_dataset(df, "sentence", "class")
    with error("both 'label'"):
        build_dataset(df, "label", "label")


def test_empty_and_nan_texts_name_their_lines(tmp_path):
    content = csv_text() + ",positive\n  ,negative\nNaN,positive\n"
    df = read_table(write(tmp_path, content))
    with error(r"3 row\(s\) have an empty text in column 'text' \(lines 8, 9 and 10\)\. Fill in"):
        build_dataset(df, "text", "label")


def test_missing_labels_name_their_rows():
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", None, float("nan"), "y"]})
    with error(r"2 row\(s\) have no label in column 'label' \(rows 2 and 3\)\. Label those rows"):
        build_dataset(df, "text", "label")


def test_single_class(tmp_path):
    df = read_table(write(tmp_path, csv_text([(t, "positive") for t, _ in REVIEWS])))
    with error(r"single class \('positive', 6 rows\).*at least two"):
        build_dataset(df, "text", "label")


def test_class_with_one_example(tmp_path):
    df = read_table(write(tmp_path, csv_text(REVIEWS + [("meh", "neutral")])))
    with error(r"single example: 'neutral' \(line 8\)\. Each class needs at least 2"):
        build_dataset(df, "text", "label")


def test_free_text_picked_as_label():
    df = pd.DataFrame({"text": [f"text {i}" for i in range(100)], "note": [f"note {i}" for i in range(100)]})
    with error("100 different values in 100 rows.*not a label"):
        build_dataset(df, "text", "note")


def test_all_problems_reported_at_once(tmp_path):
    df = read_table(write(tmp_path, csv_text() + ",positive\nok,\n"))
    with pytest.raises(DataError) as info:
        build_dataset(df, "text", "label")
    message = str(info.value)
    assert message.startswith("data.csv: ") and "empty text" in message and "no label" in message


def test_string_labels_sorted_and_mapped(tmp_path):
    ds = build_dataset(read_table(write(tmp_path, csv_text())), "text", "label")
    assert isinstance(ds, TextDataset) and len(ds) == 6
    assert ds.label_names == ["negative", "positive"] and ds.label2id == {"negative": 0, "positive": 1}
    assert ds.labels == [1, 0, 1, 0, 1, 0] and ds.rows == [1, 2, 3, 4, 5, 6]


def test_integer_labels_sorted_numerically():
    df = pd.DataFrame({"text": list("abcdefgh"), "label": ["10", "2", "2", "10", "1.0", "1", " 3", "3"]})
    ds = build_dataset(df, "text", "label")
    assert ds.label_names == ["1", "2", "3", "10"]
    assert ds.labels == [3, 1, 1, 3, 0, 0, 2, 2]
    assert ds.id2label == {0: "1", 1: "2", 2: "3", 3: "10"}


def test_validation_labels_follow_the_training_mapping():
    val = pd.DataFrame({"text": ["a", "b", "c"], "label": ["positive", "positive", "negative"]})
    ds = build_dataset(val, "text", "label", label_names=["positive", "negative"])
    assert ds.label_names == ["positive", "negative"] and ds.labels == [0, 0, 1]
    ints = build_dataset(pd.DataFrame({"text": ["a"], "label": ["1.0"]}), "text", "label", label_names=["0", "1"])
    assert ints.labels == [1]  # a single class is fine in a validation file


def test_validation_labels_unknown_to_training(tmp_path):
    content = "text,label\ngood,positive\nso-so,neutral\nbad,Negative\nok,neutral\n"
    df = read_table(write(tmp_path, content, name="val.csv"))
    with error(r"val.csv: .*training data doesn't have: 'neutral' \(lines 3 and 5\), 'Negative' \(line 4, "
               r"did you mean 'negative'\?.*must be among 'negative', 'positive'"):
        build_dataset(df, "text", "label", label_names=["negative", "positive"])


# ---- splitting -----------------------------------------------------------------------------


def make_ds(counts: dict[str, int]) -> TextDataset:
    names = sorted(counts)
    labels = [i for i, n in enumerate(names) for _ in range(counts[n])]
    return TextDataset([f"text {k}" for k in range(len(labels))], labels, names)


def test_split_is_stratified_and_complete():
    ds = make_ds({"a": 600, "b": 300, "c": 100})
    train, val, test = split_dataset(ds, 0.2, 0.1, seed=1)
    assert (len(train), len(val), len(test)) == (700, 200, 100)
    assert val.class_counts() == {"a": 120, "b": 60, "c": 20}
    assert test.class_counts() == {"a": 60, "b": 30, "c": 10}
    assert sorted(train.rows + val.rows + test.rows) == list(range(1, 1001))
    assert train.rows == sorted(train.rows)
    assert val.label_names == ds.label_names


def test_split_keeps_rare_classes_in_train_and_val():
    ds = make_ds({"common": 50, "rare": 2, "few": 3})
    train, val, test = split_dataset(ds, 0.1, 0.1, seed=0)
    for part in (train, val):
        assert all(n >= 1 for n in part.class_counts().values())
    assert test.class_counts()["few"] == 1 and test.class_counts()["rare"] == 0


def test_split_is_deterministic_for_a_seed():
    ds = make_ds({"a": 40, "b": 40})
    first, second = split_dataset(ds, 0.25, seed=7), split_dataset(ds, 0.25, seed=7)
    assert first[1].rows == second[1].rows and first[0].rows == second[0].rows
    assert first[2] is None
    assert split_dataset(ds, 0.25, seed=8)[1].rows != first[1].rows


def test_split_rejects_bad_fractions():
    with error("leave some data for training"):
        split_dataset(make_ds({"a": 5, "b": 5}), 0.6, 0.4)
    with error("between 0 and 1"):
        split_dataset(make_ds({"a": 5, "b": 5}), 0.0)


# ---- summary and the one-call loader --------------------------------------------------------


def test_summary_with_the_real_tokenizer(tmp_path, bert_tokenizer):
    rows = [("hello world", "a"), ("hello", "b"), ("unbelievably good", "a"), ("dogs and cats", "b")]
    df = read_table(write(tmp_path, csv_text(rows)))
    summary = summarize(df, "text", "label", tokenizer=bert_tokenizer)
    assert isinstance(summary, DataSummary) and summary.length_unit == "tokens"
    # [CLS] hello world [SEP]; [CLS] hello [SEP]; [CLS] un ##bel ##ie ##va ##bly good [SEP] ...
    expected = [len(bert_tokenizer(t)["input_ids"]) for t, _ in rows]
    assert summary.token_lengths == expected and summary.token_lengths[:2] == [4, 3]
    assert summary.suggested_max_length % 8 == 0 and summary.suggested_max_length >= max(expected)
    assert summary.rows == 4 and summary.columns == ["text", "label"]
    assert summary.class_counts == {"a": 2, "b": 2} and summary.label_mapping == {"a": 0, "b": 1}
    assert summary.preview["text"].tolist()[:2] == ["hello world", "hello"]
    assert summary.problems == [] and summary.truncated_share(3) == 0.75
    assert summary.percentiles((50, 100))[100] == max(expected)


def test_summary_caps_the_suggestion_and_lists_problems(tmp_path, bert_tokenizer):
    long = " ".join(["word"] * 700)
    df = pd.DataFrame({"text": [long, long, "short"], "label": ["x", "x", "y"]})
    summary = summarize(df, "text", "label", tokenizer=bert_tokenizer)
    assert summary.suggested_max_length == 512 and summary.token_lengths[0] == 702
    assert len(summary.problems) == 1 and "'y' (row 3)" in summary.problems[0]
    assert summary.preview.loc[0, "text"].endswith("…") and len(summary.preview.loc[0, "text"]) == 301


def test_summary_keeps_reading_notes(tmp_path):
    df = read_table(write(tmp_path, csv_text(header=None)))
    summary = summarize(df, "text", "label")
    assert summary.length_unit == "words" and summary.token_lengths[0] == 5
    assert any("No header" in n for n in summary.notes) and any("words" in n for n in summary.notes)


def test_load_for_training_guesses_and_checks(tmp_path):
    content = "id;review;sentiment\n" + "".join(f"{i};{t};{y}\n" for i, (t, y) in enumerate(REVIEWS))
    ds, summary = load_for_training(write(tmp_path, content))
    assert (summary.text_column, summary.label_column) == ("review", "sentiment")
    assert ds.label_names == ["negative", "positive"] and len(ds) == 6
    val_content = "id;review;sentiment\n0;so good;positive\n1;so bad;negative\n"
    val, val_summary = load_for_training(write(tmp_path, val_content, name="val.csv"), label_names=["positive", "negative"])
    assert val.label_names == ["positive", "negative"] and val.labels == [0, 1]
    assert val_summary.label_mapping == {"positive": 0, "negative": 1}
    with error("single example"):
        load_for_training(write(tmp_path, content + "99;meh;neutral\n", name="bad.csv"))


def test_sst2_train_file():
    sst2 = shared_data("sst2", "train.tsv")
    df = read_table(sst2, nrows=3000)
    assert len(df) == 3000 and df.attrs["delimiter"] == "\t" and df.attrs["has_header"]
    assert guess_columns(df) == ("text", "label")
    ds = build_dataset(df, "text", "label")
    assert ds.label_names == ["0", "1"] and all(n > 500 for n in ds.class_counts().values())
    with error("more than 3,000 data rows"):
        read_table(sst2, DataLimits(max_rows=3000))


def test_length_histogram_bins_are_numeric_ranges_in_order_with_empty_ones_shown():
    from training.data.reader import histogram

    lengths = [5, 6, 7, 9, 12, 60, 61, 100, 104]  # width 6 for 20 bins up to 104
    frame = histogram(lengths)
    starts = [int(label.split("–")[0]) for label in frame["length"]]
    assert starts == sorted(starts) and starts[0] == 0 and starts[-1] == 102
    assert all(b - a == 6 for a, b in zip(starts, starts[1:]))  # no range left out
    assert frame["texts"].sum() == len(lengths)
    assert frame.set_index("length")["texts"]["18–23"] == 0  # an empty range is a 0 bar, not a gap
    assert frame.set_index("length")["texts"]["60–65"] == 2
    assert list(histogram([3, 4, 4])["length"]) == ["3", "4"]  # width 1: the length itself
