"""The rendered results (chips, fill-mask bars, saliency, the QA chart) and the tables' headers say
their words in the page's language, never in English on a translated page."""

import json
import re
from xml.etree import ElementTree

import pytest
from transformers import AutoModelForMaskedLM, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from lab import i18n, render, render_classify, render_qa
from lab.classify import classify
from lab.fill_mask import fill_mask
from lab.qa import answer_question
from lab.settings import ASSETS_DIR
from lab.tokenization import tokenize_pieces
from tabs.common import table

# English that a translated page showed inside results before they followed the language.
ENGLISH = ["special token", "starts a word", "continues the previous piece", "Mask 1 (token", "Your words",
           "predicted on its own", "pushed towards", "pushed away", "Weights by", "Hover a word",
           "context (start)", "question / special", "chosen start / end", "answer score", "Window 1 of",
           "window 1 of", "The whole context fits", "Shaded:", "word's tag", "start+end logit", "ms per input"]


def english_in(text: str) -> list[str]:
    return [words for words in ENGLISH if words in text]


@pytest.mark.parametrize("language", ["id", "zh-TW"])
def test_chips_and_fill_mask_speak_the_language(bert_tokenizer, tiny_mlm_dir, language):
    pieces = tokenize_pieces(bert_tokenizer, "Unbelievably, I love dogs!")
    html = render.pieces_html(pieces, language) + render.source_html("Unbelievably, I love dogs!", pieces, 0, language)
    assert i18n.text("view.tok.kind.word", language) in html and not english_in(html)

    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    result = fill_mask(model, bert_tokenizer, "The [MASK] was good but the [MASK] was slow.", 3, ["food"])
    html = render.fill_mask_html(result, language)
    assert i18n.text("view.fm.mask_title", language, n=1, position=result.masks[0].position) in html
    assert not english_in(html)
    assert "Mask 1 (token #" in render.fill_mask_html(result)  # English stays the default


@pytest.mark.parametrize("language", ["id", "zh-TW"])
def test_saliency_legend_and_note_speak_the_language(tiny_cls_dir, bert_tokenizer, language):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cls_dir, attn_implementation="eager").eval()
    for signed in (True, False):
        result = classify(model, bert_tokenizer, "A <b>fine</b> film.", signed=signed)
        html = render_classify.saliency_html(result.saliency, language)
        assert not english_in(html) and "<b>" not in html  # the label and the text stay escaped
        assert i18n.catalog(language)["cls.method.integrated_gradients"] in html


@pytest.mark.parametrize("language", ["id", "zh-TW"])
def test_the_qa_chart_and_context_speak_the_language(tiny_qa_dir, bert_tokenizer, language):
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_qa_dir).eval()
    context = "The lamp burned oil & gas. " * 20
    result = answer_question(model, bert_tokenizer, "What did the lamp burn?", context, 64, 16, no_answer_threshold=10.0)
    html = render_qa.context_html(context, result, language)
    svg = render_qa.probability_svg(result, language)
    ElementTree.fromstring(svg.removeprefix('<div class="qa-chart-scroll" style="overflow-x:auto">')
                           .removesuffix("</div>"))  # still well-formed
    assert i18n.text("view.qa.legend.start", language) in svg and not english_in(html + svg)
    rows = table(render_qa.candidate_rows(result), language=language)
    assert i18n.text("col.start+end logit", language) in rows["headers"] and not english_in(str(rows["headers"]))


def test_table_headers_are_the_api_keys_without_a_language():
    rows = [{"word's tag": "B-PER 0.91", "ms per input": 3.2}]
    assert table(rows)["headers"] == ["word's tag", "ms per input"]
    assert table(rows, language="en")["headers"] == ["word's tag", "ms per input"]
    assert table(rows, language="zh-TW")["headers"] == ["詞的標籤", "每筆輸入毫秒"]
    assert table(rows, language="id")["data"] == [["B-PER 0.91", 3.2]]  # the data never changes
    assert table([{"unheard of": 1}], language="id")["headers"] == ["unheard of"]


def test_every_column_word_is_in_every_language_and_english_is_the_key():
    english = json.loads((ASSETS_DIR / "i18n" / "en" / "columns.json").read_text(encoding="utf-8"))
    assert all(value == key.removeprefix("col.") for key, value in english.items())
    for language in i18n.LANGUAGES:
        assert set(json.loads((ASSETS_DIR / "i18n" / language / "columns.json").read_text(encoding="utf-8"))) == set(english)


@pytest.mark.parametrize("language", ["en", "id", "zh-TW"])
def test_a_lessons_button_names_its_tab_as_the_page_titles_it(language):
    """"開啟 Transfer 分頁" on a page whose tab is titled 遷移 sends a student looking for a tab that isn't there."""
    from lab import lessons

    for step in lessons.steps(language):
        title = i18n.text(f"app.tab.{step.tab}", language)
        assert title in step.label, (step.id, step.label)
    series = [i18n.text(f"transfer.series.{key}", language) for key in ("pretrained", "scratch")]
    curves = next(s for s in lessons.steps(language) if s.tab == "transfer").body
    assert all(name in curves for name in series) or language == "en"
    if language != "en":
        assert not re.search(r"fine-tuned from pretrained|from scratch\*", curves)


@pytest.mark.parametrize("language", ["en", "id", "zh-TW"])
def test_every_dataset_card_shows_its_angle_brackets_as_text(language):
    """A card is Markdown: `token<TAB>tag` written bare was taken for an HTML tag and the card cut there."""
    from markdown_it import MarkdownIt

    from tabs.finetune import card_text
    from training.data import catalog

    md = MarkdownIt("commonmark", {"html": True})  # as a browser would take raw HTML in Markdown
    for card in (*catalog.SAMPLE_CARDS, *catalog.HUB_CARDS):
        text = card_text(card, language)
        html = md.render(text)
        assert "<TAB>" not in html, card.name  # no raw tag left for the browser to eat
        if "TAB" in text:
            assert "&lt;TAB&gt;" in html, card.name
