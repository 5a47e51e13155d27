"""One upload opener for every reader: the same checks and the same messages, whatever the task."""

import pytest

from lab.settings import DataLimits
from training.data import ner_data, qa_data
from training.data.data import DataError, open_upload, read_table

READERS = {
    "classification": (lambda path, limits: read_table(path, limits), "a.csv", "text,label\n" + "good,pos\n" * 200),
    "ner": (lambda path, limits: ner_data.load_ner(path, limits=limits), "a.conll", "Ann B-PER\nruns O\n\n" * 200),
    "qa": (lambda path, limits: qa_data.load_qa(path, limits), "a.json", '{"data": []}' + " " * 4000),
}


@pytest.mark.parametrize("task", READERS)
def test_every_reader_refuses_a_big_file_with_the_same_message(task, tmp_path):
    read, name, body = READERS[task]
    (tmp_path / name).write_text(body)
    with pytest.raises(DataError) as caught:
        read(tmp_path / name, DataLimits(max_bytes=1000))
    assert caught.value.args[0].key == "msg.data.too_big"
    assert "the cap is 0.000953674 MB (LAB_MAX_UPLOAD_MB)" in str(caught.value)


@pytest.mark.parametrize("task", READERS)
def test_every_reader_says_a_missing_file_is_missing(task, tmp_path):
    read, name, _ = READERS[task]
    with pytest.raises(DataError) as caught:
        read(tmp_path / name, DataLimits())
    assert caught.value.args[0].key == "msg.data.no_such_file" and name in str(caught.value)


@pytest.mark.parametrize("task", READERS)
def test_every_reader_refuses_a_renamed_spreadsheet(task, tmp_path):
    read, name, _ = READERS[task]
    (tmp_path / name).write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(DataError) as caught:
        read(tmp_path / name, DataLimits())
    assert caught.value.args[0].key == "msg.data.not_csv"


def test_the_opener_notes_how_it_decoded(tmp_path):
    (tmp_path / "a.conll").write_bytes("Zoë B-PER\n".encode("cp1252"))
    notes = []
    text, encoding = open_upload(tmp_path / "a.conll", DataLimits(), notes)
    assert text == "Zoë B-PER\n" and encoding == "cp1252" and notes[0].key == "msg.data.note.not_utf8"
