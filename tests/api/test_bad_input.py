"""The bad-input catalogue, against the running app: every case gets a clear answer.

Two kinds of case, each a row of a table:

- refused: the call fails with a gradio_client ``AppError`` whose message says what is wrong and
  how to fix it (the regex checks both halves where the message has them);
- odd but valid (emoji only, RTL scripts, control characters, HTML tags, unusual CSV dialects):
  a normal answer, whose content is checked (e.g. tags come back escaped, never as markup).

After every case the server must still answer a cheap call (the ``server_still_up`` fixture).
Uploads are written into ``tmp_path`` by the test; most go to ``/inspect_data`` (no training),
a few to ``/finetune``, which must refuse them before any training starts.
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

LONG = "a" * 100_000  # 20x the app's 5,000-character cap on typed text
CONTEXT = "The lighthouse on Carrow Point was built in 1871. The last keeper, Mira Olsen, left in 1989."
SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)> I love <b>dogs</b>"
ARABIC = "ذهب الولد إلى المدرسة في الصباح"
HEBREW = "הילד הלך לבית הספר בבוקר"
EMOJI = "🤔🎉😀🐶🚀"
ONLY_CONTROL = "\x00\x01\x07\x1b\x7f\x00"
CHOICES = r"not in the list of choices"
SURROGATE = r"not a character \(a lone surrogate, .*remove it or paste the text again"  # Gradio's own refusal of a value no dropdown offers


@pytest.fixture(autouse=True)
def server_still_up(client):
    """Whatever a case sent, the app still serves the next caller."""
    yield
    chips, *_ = client.predict("ok", api_name="/tokenize")
    assert "[CLS]" in chips and "ok" in chips


# ------------------------------------------------------------------------------ text fields

INVISIBLE = r"only control or invisible characters \(such as NUL or zero-width spaces\), no words: type a sentence"


def refused(endpoint: str, *args, message: str, id: str, **kwargs):
    return pytest.param(endpoint, args, kwargs, message, id=id)


TEXT_REFUSED = [
    refused("/tokenize", "", message=r"text is empty: type a sentence", id="tokenize-empty"),
    refused("/tokenize", "  \n\t  \u3000", message=r"text is empty: type a sentence", id="tokenize-whitespace-only"),
    refused("/tokenize", LONG, message=r"100,000 characters; this app takes at most 5,000\. Shorten it",
            id="tokenize-100k-chars"),
    refused("/tokenize", ONLY_CONTROL, message=INVISIBLE, id="tokenize-only-control-chars-and-nul"),
    refused("/tokenize", "\u200b\u200d\u200f\ufeff", message=INVISIBLE, id="tokenize-only-zero-width-chars"),
    refused("/tokenize", "ok", LONG, message=r"second text has 100,000 characters.*Shorten it",
            id="tokenize-second-text-100k-chars"),
    refused("/tokenize_batch", "", message=r"batch is empty", id="tokenize_batch-empty"),
    refused("/tokenize_batch", "\n  \n\t\n", message=r"batch is empty", id="tokenize_batch-blank-lines"),
    refused("/tokenize_batch", LONG, message=r"batch has 100,000 characters.*Shorten it", id="tokenize_batch-100k-chars"),
    refused("/tokenize_batch", "a line\n" * 100, message=r"100 lines; use at most 32", id="tokenize_batch-100-lines"),
    refused("/tokenize_batch", "a line", max_length=2, message=r"Max length \(tokens\) must be between 4 and 128 \(got 2\)",
            id="tokenize_batch-max-length-2"),
    refused("/compare_tokenizers", "", message=r"text is empty: type a sentence", id="compare-empty"),
    refused("/compare_tokenizers", "ok", vocab_size=10, message=r"must be between 60 and \d+ \(got 10\)", id="compare-vocab-10"),
    refused("/fill_mask", "", message=r"text is empty: type a sentence", id="fill_mask-empty"),
    refused("/fill_mask", LONG, message=r"100,000 characters.*Shorten it", id="fill_mask-100k-chars"),
    refused("/fill_mask", "I love dogs and cats.", message=r"No mask in the text\. Write \[MASK\] \(or ___\)",
            id="fill_mask-no-mask"),
    refused("/fill_mask", "[MASK] " * 50, message=r"50 masks; use at most 10", id="fill_mask-50-masks"),
    refused("/fill_mask", "___ and ___ " * 6, message=r"12 masks; use at most 10", id="fill_mask-12-blanks"),
    refused("/fill_mask", ONLY_CONTROL, message=INVISIBLE, id="fill_mask-only-control-chars"),
    refused("/fill_mask", "I [MASK] it.", 0, message=r"Top-k must be between 1 and 20 \(got 0\)", id="fill_mask-top-k-0"),
    refused("/classify", "", message=r"text is empty: type a sentence", id="classify-empty"),
    refused("/classify", LONG, message=r"100,000 characters.*Shorten it", id="classify-100k-chars"),
    refused("/classify", "\x00" * 20, message=INVISIBLE, id="classify-only-nul"),
    refused("/ner", " \n ", message=r"text is empty: type a sentence", id="ner-whitespace-only"),
    refused("/ner", LONG, message=r"100,000 characters.*Shorten it", id="ner-100k-chars"),
    refused("/ner", "Angela Merkel visited Paris.", "biggest", message=CHOICES, id="ner-unknown-aggregation"),
    refused("/qa", "Who was the last keeper?", "", message=r"context is empty", id="qa-empty-context"),
    refused("/qa", "   ", CONTEXT, message=r"question is empty", id="qa-whitespace-question"),
    refused("/qa", "Who was the last keeper?", LONG, message=r"context has 100,000 characters.*Shorten it",
            id="qa-100k-context"),
    # A question longer than the whole context: no room is left for the context in a window.
    refused("/qa", "Why was the lighthouse built there " * 30, "It was built in 1871.",
            message=r"question is \d+ tokens long.*Shorten the question or raise the max length",
            id="qa-question-longer-than-context"),
    refused("/qa", "Who was it?", CONTEXT, 5, 64, 60, message=r"stride \(60\) must be smaller.*Use a stride below",
            id="qa-stride-too-large"),
    refused("/qa", "Who?", ONLY_CONTROL, message=INVISIBLE, id="qa-only-control-chars-context"),
    refused("/nsp", "", "It was empty.", message=r"first sentence is empty", id="nsp-empty"),
    refused("/nsp", "She opened the fridge.", LONG, message=r"second sentence has 100,000 characters",
            id="nsp-100k-chars"),
    refused("/model_cards", "", message=r"text is empty: type a sentence", id="model_cards-empty"),
    refused("/attention_classification", "", message=r"text is empty: type a sentence", id="attention-empty"),
    refused("/attention_fill_mask", LONG, message=r"100,000 characters.*Shorten it", id="attention-100k-chars"),
]


# A lone surrogate (what a broken decode leaves) is no character. gradio_client can't even encode one,
# so these go as raw JSON (escaped, as a browser's JSON.stringify sends them) to Gradio's REST API.
SURROGATE_CASES = [
    ("tokenize", ["I love \udcff dogs", "", None]),
    ("classify", ["\ud800 a fine film", None]),
    ("fill_mask", ["I [MASK] dogs.", 5, "love, \udcff", None]),
    ("qa", ["Who was it?", CONTEXT + " \udcff", 5, 384, 128, 30, 0, None]),
    ("ner", ["Angela \udfff Merkel", "simple", None]),
]


@pytest.mark.parametrize("endpoint,data", SURROGATE_CASES, ids=[f"{e}-lone-surrogate" for e, _ in SURROGATE_CASES])
def test_lone_surrogates_are_refused_before_the_tokenizer(app_url, endpoint, data):
    body = json.dumps({"data": data})  # ensure_ascii: the surrogate travels as the escape \udcff
    posted = httpx.post(f"{app_url}gradio_api/call/{endpoint}", content=body,
                        headers={"content-type": "application/json"}, timeout=30)
    assert posted.status_code == 200, posted.text
    event_id = posted.json()["event_id"]
    stream = httpx.get(f"{app_url}gradio_api/call/{endpoint}/{event_id}", timeout=60).text
    assert "event: error" in stream and re.search(SURROGATE, stream), stream


@pytest.mark.parametrize("endpoint,args,kwargs,message", TEXT_REFUSED)
def test_bad_text_is_refused_with_a_clear_message(client, endpoint, args, kwargs, message):
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(*args, **kwargs, api_name=endpoint)


def _plain(html: str) -> str:
    """The text an HTML fragment shows (tags dropped, entities kept)."""
    return re.sub(r"<[^>]+>", "", html)


def _no_raw_markup(html: str) -> None:
    """User text comes back as text: escaped, never as live tags."""
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;" in html


def _tokenize_emoji(out):
    chips, source, table, summary = out
    pieces = [row[1] for row in table["data"]]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "[UNK]" in pieces
    assert "tokens" in summary


def _tokenize_rtl(out):
    chips, source, table, _ = out
    pieces = [row[1] for row in table["data"]]
    assert len(pieces) > 3 and "[UNK]" not in pieces
    assert _plain(source) == ARABIC  # the source view shows the script as typed, in order


def _tokenize_rtl_mixed(out):
    _, source, table, _ = out
    assert "world" in [row[1] for row in table["data"]] and _plain(source) == HEBREW + " world"


def _tokenize_controls(out):
    _, _, table, _ = out
    pieces = [row[1] for row in table["data"]]
    assert not any(ch in p for p in pieces for ch in "\x00\x07\x1b")  # the normaliser drops them
    assert "bell" in pieces and "red" in pieces


def _tokenize_nul_inside(out):
    _, _, table, _ = out
    pieces = [row[1] for row in table["data"]]
    assert not any("\x00" in p for p in pieces) and "hello" in pieces


def _tokenize_html(out):
    chips, source, table, _ = out
    _no_raw_markup(chips)
    _no_raw_markup(source)
    assert "script" in [row[1] for row in table["data"]]


def _batch_html(out):
    grid, table = out
    _no_raw_markup(grid)
    assert len(table["data"]) == 2


def _compare_html(out):
    left, right, summary = out
    _no_raw_markup(left)
    _no_raw_markup(right)


def _fill_mask_ok(out):
    label, bars, best, info, raw = out
    assert len(label["confidences"]) == 5 and len(raw) == 1
    assert "[MASK]" not in best


def _fill_mask_html(out):
    label, bars, best, info, raw = out
    assert "<script" not in bars and "<img" not in bars and len(raw) == 1


def _fill_mask_targets_as_text(out):
    label, bars, best, info, raw = out  # the note about a split target quotes the typed word: as text
    assert "onerror" in info and "<img" not in info and "&lt;img" in info


def _classify_ok(out):
    words, raw = out  # /explain: the saliency of the predicted label
    assert set(raw["probabilities"]) == {"negative", "positive"}
    assert raw["saliency"]["words"] or raw["saliency"]["tokens"]


def _classify_rtl(out):
    words, raw = out
    assert raw["label"] in {"negative", "positive"} and ARABIC in _plain(words)


def _classify_html(out):
    words, raw = out
    _no_raw_markup(words)
    assert raw["label"] in {"negative", "positive"}


def _ner_ok(out):
    highlighted, entities, pieces, info, raw = out
    assert isinstance(raw, list) and "pieces" in info


def _ner_html(out):
    highlighted, entities, pieces, info, raw = out
    text = "".join(part["token"] for part in highlighted)
    assert text == SCRIPT  # shown as plain text by HighlightedText, every character kept


def _qa_ok(out):
    answer, info, highlight, chart, table, raw = out
    assert raw["no_answer"] or (answer and answer in ARABIC + " " + HEBREW)


def _qa_html(out):
    answer, info, highlight, chart, table, raw = out
    _no_raw_markup(highlight)
    assert raw["no_answer"] or answer in SCRIPT + " " + CONTEXT


def _attention_html(out):
    heatmap, info, raw = out
    _no_raw_markup(heatmap)
    assert "<" in raw["tokens"] and len(raw["weights"]) == len(raw["tokens"])


TEXT_ODD_BUT_VALID = [
    pytest.param("/tokenize", (EMOJI,), _tokenize_emoji, id="tokenize-only-emoji"),
    pytest.param("/tokenize", (ARABIC,), _tokenize_rtl, id="tokenize-rtl-arabic"),
    pytest.param("/tokenize", (HEBREW + " world",), _tokenize_rtl_mixed, id="tokenize-rtl-hebrew-mixed"),
    pytest.param("/tokenize", ("a bell\x07 and \x1b red\x1b text\x0c",), _tokenize_controls,
                 id="tokenize-control-characters"),
    pytest.param("/tokenize", ("hello\x00 world\x00",), _tokenize_nul_inside, id="tokenize-nul-inside-text"),
    pytest.param("/tokenize", (SCRIPT,), _tokenize_html, id="tokenize-html-tags-escaped"),
    pytest.param("/tokenize_batch", (SCRIPT + "\n<p>second</p>",), _batch_html, id="tokenize_batch-html-escaped"),
    pytest.param("/compare_tokenizers", (SCRIPT,), _compare_html, id="compare-html-escaped"),
    pytest.param("/fill_mask", (f"{EMOJI} [MASK] {EMOJI}",), _fill_mask_ok, id="fill_mask-emoji"),
    pytest.param("/fill_mask", (f"{ARABIC} [MASK]",), _fill_mask_ok, id="fill_mask-rtl-arabic"),
    pytest.param("/fill_mask", (f"{SCRIPT} [MASK]",), _fill_mask_html, id="fill_mask-html-escaped"),
    pytest.param("/fill_mask", ("I [MASK] dogs.", 5, "<img src=x onerror=alert(1)>"), _fill_mask_targets_as_text,
                 id="fill_mask-targets-html-as-text"),
    pytest.param("/explain", (EMOJI,), _classify_ok, id="classify-only-emoji"),
    pytest.param("/explain", (ARABIC,), _classify_rtl, id="classify-rtl-arabic"),
    pytest.param("/explain", ("great\x07 film\x00 \x1b[1m!",), _classify_ok, id="classify-control-characters"),
    pytest.param("/explain", (SCRIPT,), _classify_html, id="classify-html-escaped"),
    pytest.param("/ner", (EMOJI,), _ner_ok, id="ner-only-emoji"),
    pytest.param("/ner", (HEBREW,), _ner_ok, id="ner-rtl-hebrew"),
    pytest.param("/ner", (SCRIPT,), _ner_html, id="ner-html-as-text"),
    pytest.param("/qa", ("מי הלך?", ARABIC + " " + HEBREW), _qa_ok, id="qa-rtl"),
    pytest.param("/qa", ("Who was the last keeper?", SCRIPT + " " + CONTEXT), _qa_html, id="qa-html-escaped"),
    pytest.param("/attention_classification", (SCRIPT,), _attention_html, id="attention-html-escaped"),
]


@pytest.mark.parametrize("endpoint,args,check", TEXT_ODD_BUT_VALID)
def test_odd_but_valid_text_gets_a_normal_answer(client, endpoint, args, check: Callable):
    check(client.predict(*args, api_name=endpoint))


# ----------------------------------------------------------------------------------- uploads

GOOD_ROWS = "".join(f"sentence number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n"
                    for i in range(12))
GOOD = "text,label\n" + GOOD_ROWS
MB = 2**20


def _write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def _fifty_mb(tmp_path: Path) -> Path:
    """Just over the 50 MB cap, written in a few large chunks (fast)."""
    path = tmp_path / "big.csv"
    chunk = ("a perfectly ordinary sentence about dogs,pos\n" * 20_000).encode()
    with path.open("wb") as f:
        f.write(b"text,label\n")
        while f.tell() <= 50 * MB:
            f.write(chunk)
    return path


def _hundred_k_rows(tmp_path: Path) -> Path:
    rows = "".join(f"review {i} was {'fine' if i % 2 else 'poor'},{'pos' if i % 2 else 'neg'}\n"
                   for i in range(100_000))
    return _write(tmp_path, "many.csv", "text,label\n" + rows)


def _xlsx(tmp_path: Path, name: str) -> Path:
    """A real (minimal) zip archive, as an .xlsx is."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return path


MAKE: dict[str, Callable[[Path], Path]] = {
    "empty-file": lambda p: _write(p, "empty.csv", b""),
    "whitespace-only-file": lambda p: _write(p, "blank.csv", "\n  \n\t\n"),
    "header-only": lambda p: _write(p, "header.csv", "text,label\n"),
    "one-column": lambda p: _write(p, "one.csv", "text\nhello there\nhow are you\n"),
    "delimiter-inside-unquoted-text": lambda p: _write(p, "commas.csv", "text,label\nfine,pos\nbad, truly bad,neg\n"),
    "unclosed-quote": lambda p: _write(p, "quote.csv", "text,label\n" + '"hello, world",pos\n"bye, world",neg\n' * 5
                                       + '"never closes,neg\nok,pos\nfine,neg\n'),
    "stray-quote-plain-file": lambda p: _write(p, "stray.csv", 'text,label\n"a stray quote,pos\nok,neg\nfine,pos\n'
                                               + "x,neg\n" * 5),
    "xlsx-renamed-csv": lambda p: _xlsx(p, "data.csv"),
    "xlsx": lambda p: _xlsx(p, "data.xlsx"),
    "png-renamed-csv": lambda p: _write(p, "image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
    "gzip-renamed-csv": lambda p: _write(p, "data.csv.csv", b"\x1f\x8b\x08\x00" + bytes(200)),
    "binary-renamed-csv": lambda p: _write(p, "blob.csv", bytes(range(256)) * 64),
    "csv-bomb-very-long-line": lambda p: _write(p, "bomb.csv", "text,label\n" + "x" * 3_000_000 + ",pos\nok,neg\n"),
    "csv-bomb-long-quoted-field": lambda p: _write(p, "bomb2.csv", 'text,label\n"' + "y, " * 500_000 + '",pos\n'),
    "no-header": lambda p: _write(p, "noheader.csv", GOOD_ROWS),
    "odd-column-names": lambda p: _write(p, "odd.csv", "foo,bar\n" + GOOD_ROWS),
    "ten-thousand-classes": lambda p: _write(p, "ids.csv", "text,label\n" + "".join(
        f"row {i} of class {i // 2},class-{i // 2}\n" for i in range(20_000))),
    "label-300-chars": lambda p: _write(p, "long.csv", "text,label\n" + "".join(
        f"text {i},{('x' * 300) if i % 2 else 'short'}\n" for i in range(10))),
    "html-label-names": lambda p: _write(p, "html.csv", "text,label\n" + "".join(
        f"text {i},{'<img src=x onerror=alert(1)>' if i % 2 else '*bold* [link](http://x)'}\n" for i in range(10))),
    "duplicate-column-names": lambda p: _write(p, "dup.csv", "text,text,label\n" + "".join(
        f"first {i},second {i},{'a' if i % 2 else 'b'}\n" for i in range(10))),
    "latin-1": lambda p: _write(p, "latin.csv", "text,label\n" + "un café très bon,pos\nune crème brûlée ratée,neg\n" * 5,
                                "latin-1"),
    "utf-16-bom": lambda p: _write(p, "utf16.csv", GOOD, "utf-16"),
    "utf-16-le-no-bom": lambda p: _write(p, "utf16le.csv", GOOD, "utf-16-le"),
    "utf-8-bom": lambda p: _write(p, "bom.csv", codecs.BOM_UTF8 + GOOD.encode()),
    "semicolon-delimiter": lambda p: _write(p, "semi.csv", GOOD.replace(",", ";")),
    "tab-delimiter": lambda p: _write(p, "tabs.tsv", GOOD.replace(",", "\t")),
    "quoted-newlines": lambda p: _write(p, "multi.csv", "text,label\n" + "".join(
        f'"line one of {i}\nline two, with a comma",{"pos" if i % 2 else "neg"}\n' for i in range(10))),
    "nan-labels": lambda p: _write(p, "nan.csv", "text,label\n" + GOOD_ROWS + "what is this,NaN\nand this,\n"),
    "one-class": lambda p: _write(p, "oneclass.csv", "text,label\n" + "".join(f"sentence {i},pos\n" for i in range(10))),
    "class-with-one-example": lambda p: _write(p, "rare.csv", GOOD + "a lonely example,maybe\n"),
    "empty-texts": lambda p: _write(p, "notext.csv", GOOD + ",pos\n   ,neg\n"),
    "100k-rows": _hundred_k_rows,
}

UPLOAD_REFUSED = [
    ("empty-file", r"empty\.csv is empty\. Upload a CSV with a header line"),
    ("whitespace-only-file", r"is empty\. Upload a CSV"),
    ("header-only", r"has a header \(text, label\) but no data rows\. Add one example per line"),
    ("one-column", r"Only one column \('text'\).*Separate them with a comma, semicolon, tab or \|"),
    ("delimiter-inside-unquoted-text", r"line 3: 3 fields where the header has 2.*put such texts in double quotes"),
    ("unclosed-quote", r"line 12: a double quote opens a text that never closes, so the text runs on to line 14\. "
                       r"Close that quote or remove it"),
    ("xlsx-renamed-csv", r"not a text CSV: it looks like an Excel workbook.*Save As > 'CSV UTF-8'"),
    ("xlsx", r"Invalid file type\. Please upload a file that is one of these formats: \['\.csv', '\.tsv', '\.txt'"),
    ("png-renamed-csv", r"not a text CSV: it looks like a PNG image"),
    ("gzip-renamed-csv", r"gzip-compressed file\. Decompress it"),
    ("binary-renamed-csv", r"not a text file \(it holds binary data\)\. Upload a CSV or TSV saved as text"),
    ("csv-bomb-very-long-line", r"line 2: a text longer than the cap of 20,000 characters.*Shorten that text"),
    ("csv-bomb-long-quoted-field", r"line 2.*(characters; the cap is 20,000|longer than the cap of 20,000)"),
]


@pytest.mark.parametrize("case,message", UPLOAD_REFUSED, ids=[c for c, _ in UPLOAD_REFUSED])
def test_bad_upload_is_refused_by_inspect_data(client, tmp_path, case, message):
    path = MAKE[case](tmp_path)
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(handle_file(str(path)), api_name="/inspect_data")


def _summary_of(out) -> str:
    """The summary's Markdown as a reader sees its words: escapes of user text (``text\\_2``) undone, and
    the entities that keep ``:`` and ``@`` from making links (lab.render.md_text) read as the characters."""
    return re.sub(r"\\([^A-Za-z0-9\s])", r"\1", out[0]).replace("&#58;", ":").replace("&#64;", "@")


UPLOAD_ODD_BUT_VALID = [
    # (case, patterns the summary must contain)
    ("no-header", [r"\*\*12 rows\*\*", r"No header line found.*Add a header line"]),
    # Without real quoting elsewhere, a quote at the start of a text is read as a character, as GLUE's TSVs need.
    ("stray-quote-plain-file", [r"\*\*8 rows\*\*, 2 classes"]),
    ("odd-column-names", [r"\*\*12 rows\*\*, 2 classes", r"Text column \*\*foo\*\*", r"label column \*\*bar\*\*"]),
    ("duplicate-column-names", [r"'text' appears more than once; column 2 was renamed text_2"]),
    # what would stop training is listed (❌) before any training, and the answer stays small
    ("ten-thousand-classes", [r"❌ Column 'label' has 10,000 classes; this server trains at most 100 \(LAB_MAX_CLASSES\)"]),
    ("label-300-chars", [r"❌ 1 label\(s\) in column 'label' are longer than 100 characters.*a label is a class name"]),
    # label names are shown as typed, never as markup: no image tag, no emphasis, no link
    ("html-label-names", [r"&lt;img src=x onerror=alert\(1\)&gt; → 1", r"\*bold\* \[link\]\(http://x\) → 0"]),
    ("latin-1", [r"isn't valid UTF-8.*decoded as Windows-1252", r"\*\*10 rows\*\*"]),
    ("utf-16-bom", [r"\*\*12 rows\*\*, 2 classes", r"Text column \*\*text\*\*"]),
    ("utf-16-le-no-bom", [r"Decoded as UTF-16 \(LE", r"\*\*12 rows\*\*"]),
    ("utf-8-bom", [r"Text column \*\*text\*\*", r"\*\*12 rows\*\*"]),
    ("semicolon-delimiter", [r"\*\*12 rows\*\*, 2 classes", r"label column \*\*label\*\*"]),
    ("tab-delimiter", [r"\*\*12 rows\*\*, 2 classes"]),
    ("quoted-newlines", [r"\*\*10 rows\*\*, 2 classes"]),
    ("nan-labels", [r"❌ 2 row\(s\) have no label in column 'label' \(lines 14 and 15\)\. Label those rows or delete them"]),
    ("one-class", [r"❌ Column 'label' holds a single class \('pos', 10 rows\).*Add examples of another class"]),
    ("class-with-one-example", [r"❌ 1 class\(es\) have a single example: 'maybe' \(line 14\).*Add examples or remove"]),
    ("empty-texts", [r"❌ 2 row\(s\) have an empty text in column 'text' \(lines 14 and 15\)\. Fill in those texts"]),
    ("100k-rows", [r"\*\*100,000 rows\*\*, 2 classes", r"random sample of 10,000 texts"]),
]


@pytest.mark.parametrize("case,patterns", UPLOAD_ODD_BUT_VALID, ids=[c for c, _ in UPLOAD_ODD_BUT_VALID])
def test_odd_upload_is_read_and_explained(client, tmp_path, case, patterns):
    out = client.predict(handle_file(str(MAKE[case](tmp_path))), api_name="/inspect_data")
    summary = _summary_of(out)
    for pattern in patterns:
        assert re.search(pattern, summary, re.S), (pattern, summary)


def test_upload_over_the_50_mb_cap_is_refused_before_it_reaches_the_app(client, app_url, tmp_path):
    """The cap (50 MB, LAB_MAX_UPLOAD_MB) is the server's max_file_size: the client refuses to send the
    file and says so, and a client that sends it anyway gets a 413 naming the cap."""
    path = _fifty_mb(tmp_path)
    with pytest.raises((AppError, ValueError), match=r"exceeds the maximum file size of 52428800 bytes"):
        client.predict(handle_file(str(path)), api_name="/inspect_data")
    with path.open("rb") as f:
        response = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.csv", f, "text/csv")}, timeout=60)
    assert response.status_code == 413 and "maximum allowed size of 52428800 bytes" in response.text


def test_latin_1_text_is_decoded_not_mangled(client, tmp_path):
    out = client.predict(handle_file(str(MAKE["latin-1"](tmp_path))), api_name="/inspect_data")
    preview = out[5]
    assert "un café très bon" in [row[0] for row in preview["data"]]


def test_inspect_data_without_a_file(client):
    with pytest.raises(AppError, match=r"Upload a file first \(CSV or TSV: a text column and a label column\)"):
        client.predict(None, api_name="/inspect_data")


# /finetune: refused before training starts (a refusal returns in well under a training's time).

FINETUNE_REFUSED = [
    # (upload case or None for a good file, keyword settings, message)
    ("empty-file", {}, r"is empty\. Upload a CSV with a header line"),
    ("xlsx-renamed-csv", {}, r"looks like an Excel workbook"),
    ("nan-labels", {}, r"2 row\(s\) have no label in column 'label'.*Label those rows or delete them"),
    ("one-class", {}, r"single class \('pos', 10 rows\); a classifier needs at least two"),
    (None, {"text_column": "review"}, r"text column 'review' isn't in the file; its columns are 'text', 'label'\. "
                                      r"Pick the text column from those"),
    (None, {"text_column": "label", "label_column": "label"}, r"both 'label'\. Pick two different columns"),
    (None, {"learning_rate": 5.0}, r"learning_rate must be between 1e-06 and 0\.01 \(got 5\)"),
    (None, {"learning_rate": 0.0}, r"learning_rate must be between 1e-06 and 0\.01 \(got 0\)"),
    (None, {"learning_rate": -1e-5}, r"learning_rate must be between"),
    (None, {"epochs": 0}, r"epochs must be between 0\.01 and 50 \(got 0\)"),
    (None, {"epochs": 1000}, r"epochs must be between 0\.01 and 50 \(got 1000\)"),
    (None, {"batch_size": 0}, r"Batch size must be between 1 and 128 \(got 0\)"),
    (None, {"batch_size": 100_000}, r"Batch size must be between 1 and 128 \(got 100000\)"),
    (None, {"max_length": 4096}, r"Max length must be between 8 and 512 \(got 4096\)"),
    (None, {"max_length": 2}, r"Max length must be between 8 and 512 \(got 2\)"),
    (None, {"warmup_ratio": 0.9}, r"Warmup must be between 0 and 0\.5 \(got 0\.9\)"),
    (None, {"test_fraction": 0.9}, r"Test share must be between 0 and 0\.4 \(got 0\.9\)"),
    # a missing or non-numeric value through the API: the field's name, before any work
    (None, {"learning_rate": None}, r"Learning rate must be a number \(got None\)"),
    (None, {"batch_size": "sixteen"}, r"Batch size must be a number between 1 and 128 \(got 'sixteen'\)"),
    (None, {"epochs": None}, r"Epochs must be a number \(got None\)"),
    (None, {"seed": None}, r"Seed must be a number \(got None\)"),
    (None, {"seed": -1}, r"seed must be between 0 and 4,294,967,295 \(got -1\)"),
    (None, {"seed": 2**70}, r"seed must be between 0 and 4,294,967,295 \(got 1,180,591,620,717,411,303,424\)"),
    (None, {"strategy": "everything"}, CHOICES),
    ("ten-thousand-classes", {}, r"has 10,000 classes; this server trains at most 100"),
    # within every slider's range, but 128 x 512 tokens a step needs ~46 GB: refused before any work
    (None, {"batch_size": 128, "max_length": 512},
     r"would need about \d+\.\d GB of memory at its peak \(batch size 128 x max length 512 tokens\); this server "
     r"allows 6\.0 GB per training \(LAB_MAX_TRAIN_MEMORY_MB\)\. Lower the batch size or the max length"),
]


def _finetune_id(case) -> str:
    upload, settings, _ = case
    return "finetune-" + (upload or "-".join(f"{k}={v}" for k, v in settings.items()))


@pytest.mark.parametrize("upload,settings,message", FINETUNE_REFUSED, ids=[_finetune_id(c) for c in FINETUNE_REFUSED])
def test_finetune_refuses_before_training(client, tmp_path, upload, settings, message):
    path = MAKE[upload](tmp_path) if upload else _write(tmp_path, "good.csv", GOOD)
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(handle_file(str(path)), **settings, api_name="/finetune")


def test_finetune_without_a_file(client):
    with pytest.raises(AppError, match=r"Upload a file first \(CSV or TSV: a text column and a label column\)"):
        client.predict(None, api_name="/finetune")


def test_finetune_validation_file_with_unknown_labels(client, tmp_path):
    train = _write(tmp_path, "train.csv", GOOD)
    val = _write(tmp_path, "val.csv", "text,label\nfine,pos\nnot fine,NEG\nmeh,neutral\n")
    with pytest.raises(AppError, match=re.compile(r"training data doesn't have: 'NEG'.*did you mean 'neg'.*"
                                                  r"'neutral'.*fix those rows or delete them", re.S)):
        client.predict(handle_file(str(train)), validation_file=handle_file(str(val)), api_name="/finetune")


# ------------------------------------------------------------------------- typed model ids
# The test app is offline, so its dropdowns take no typed values: Gradio refuses anything not
# listed before a handler runs. tests/unit/test_model_safety.py checks the online path.

MODEL_REFUSED = [
    ("/fill_mask", ("I [MASK] it.", 5, "", "no-such-owner/no-such-model"), {}),
    ("/fill_mask", ("I [MASK] it.", 5, "", "../../etc/passwd"), {}),
    ("/classify", ("a fine film", "/etc/passwd"), {}),
    ("/tokenize", ("ok", "", "~/.cache/huggingface"), {}),
    ("/fill_mask", ("I [MASK] it.", 5, "", "tiny-bert-ner"), {}),  # a NER model asked to fill masks
    ("/qa", ("Who?", CONTEXT), {"model": "tiny-bert-cls"}),  # a classifier asked to answer questions
    ("/inspect_data", (None,), {"base_model": "../models"}),
    ("/finetune", (None,), {"base_model": "https://example.com/model.bin"}),
]


@pytest.mark.parametrize("endpoint,args,kwargs", MODEL_REFUSED,
                         ids=[f"{e.strip('/')}-{(list(a) + list(k.values()))[-1]}" for e, a, k in MODEL_REFUSED])
def test_typed_model_id_is_refused(client, endpoint, args, kwargs):
    with pytest.raises(AppError, match=CHOICES):
        client.predict(*args, **kwargs, api_name=endpoint)


# ------------------------------------------------------------------------- QA uploads


def test_json_nested_200000_deep_is_refused_by_inspect_data_and_finetune(client, tmp_path):
    path = _write(tmp_path, "deep.json", "[" * 200_000 + "]" * 200_000)
    message = r"nests lists or objects thousands of levels deep.*Upload the SQuAD file itself"
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(handle_file(str(path)), task="qa", api_name="/inspect_data")
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(handle_file(str(path)), task="qa", api_name="/finetune")


# ------------------------------------------------------------------------- wrong types
# Values a script may send that no component of the page would: each is refused by the parameter's
# name and the kind it takes, before the handler works on it (tabs/common.py user_errors).

SAMPLE = "Sentiment (the lab's own sample)"
WRONG_TYPES = [
    refused("/tokenize_batch", "a b\nc d", True, "yes", 16, message=r"truncation must be true or false \(got 'yes'\)",
            id="tokenize_batch-truncation-text"),
    refused("/tokenize_batch", "a b\nc d", [1], True, 16, message=r"padding must be true or false \(got list\)",
            id="tokenize_batch-padding-list"),
    refused("/layer_probe", SAMPLE, None, None, None, message=r"Pooling must be one of cls, mean, pooler \(got None\)",
            id="layer_probe-pooling-none"),
    refused("/embedding_map", SAMPLE, None, None, None, "PCA",
            message=r"Pooling must be one of cls, mean, pooler \(got None\)", id="embedding_map-pooling-none"),
    refused("/layer_probe", 5, None, None, "mean", message=r"data_choice must be text \(got 5\)",
            id="layer_probe-data-number"),
    refused("/embedding_map", {"title": SAMPLE}, None, None, "cls", "PCA", message=r"data_choice must be text \(got dict\)",
            id="embedding_map-data-dict"),
    refused("/attention_tokenizer", "ok", LONG, 1, "average",
            message=r"second text has 100,000 characters; this app takes at most 5,000", id="attention-second-text-100k"),
    refused("/fill_mask", "I [MASK] it.", 5, ",".join(["w"] * 50_000),
            message=r"50,000 words to score; this app scores at most 20", id="fill_mask-50000-targets"),
    refused("/fill_mask", "I [MASK] it.", 5, "x" * 1000, message=r"1,000 characters long; a word to score has at most 50",
            id="fill_mask-long-target"),
    refused("/explain", "a fine film", signed="no", message=r"signed must be true or false \(got 'no'\)",
            id="explain-signed-text"),
]


@pytest.mark.parametrize("endpoint,args,kwargs,message", WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_refused_by_name(client, endpoint, args, kwargs, message):
    with pytest.raises(AppError, match=re.compile(message, re.S)):
        client.predict(*args, **kwargs, api_name=endpoint)


@pytest.mark.parametrize("endpoint", ["/inspect_data", "/finetune"])
def test_a_list_as_a_column_name_is_refused_by_name(client, tmp_path, endpoint):
    path = _write(tmp_path, "good.csv", GOOD)
    with pytest.raises(AppError, match=r"text_column must be text \(got list\)"):
        client.predict(handle_file(str(path)), text_column=["text"], api_name=endpoint)
