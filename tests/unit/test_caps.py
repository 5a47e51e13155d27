"""Caps on what one request may ask for, from lab/settings.py, refused with what to change."""

from __future__ import annotations

import pytest

from lab.errors import LabInputError
from lab.fill_mask import check_targets
from lab.settings import Settings
from training.transfer import transfer


def test_words_to_score_are_capped_in_number_and_length():
    settings = Settings()
    assert check_targets(" love, hate ,,", settings.max_fill_targets, settings.max_target_chars) == ["love", "hate"]
    assert check_targets(None, 3, 10) == []
    with pytest.raises(LabInputError, match=r"50,000 words to score; this app scores at most 20 at once"):
        check_targets(",".join(["w"] * 50_000), settings.max_fill_targets, settings.max_target_chars)
    with pytest.raises(LabInputError, match=r"is 51 characters long; a word to score has at most 50"):
        check_targets("ok, " + "x" * 51, settings.max_fill_targets, settings.max_target_chars)


def test_an_upload_too_big_for_the_transfer_views_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "".join(f"row {i},{'pos' if i % 2 else 'neg'}\n" for i in range(30_001)))
    assert transfer.count_lines(path) == 30_002
    parsed = []
    monkeypatch.setattr(transfer.tdata, "load_for_training", lambda *a, **k: parsed.append(a))
    with pytest.raises(LabInputError, match=r"big\.csv has about 30,001 rows; the Transfer views read at most 20,000 "
                                            r"\(they sample 2,500 of them\)\. Upload a sample"):
        transfer.file_data(path, "big.csv", max_rows=Settings().max_view_rows)
    assert parsed == []


def test_count_lines_counts_a_last_line_without_a_newline(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,label\na,b")
    assert transfer.count_lines(path) == 2
    path.write_bytes(b"")
    assert transfer.count_lines(path) == 0
