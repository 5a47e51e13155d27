"""A student switches the page's language: Gradio's labels, the tab titles, the examples and the
server's messages follow, and a reload keeps the choice."""

import pytest
from playwright.sync_api import expect

from lab import i18n
from tests.browser.conftest import open_page


def test_the_language_switch_changes_labels_examples_and_messages(browser, app_url):
    context, page = open_page(browser, app_url)
    try:
        page.locator("#language label", has_text="Bahasa Indonesia").click()
        page.get_by_role("tab", name="Isi [MASK]").click()  # every tab title follows, shown or not
        expect(page.get_by_label("Teks dengan [MASK] atau ___")).to_be_visible()
        expect(page.get_by_text("Saya [MASK] anjing dan kucing.")).to_be_visible()  # the examples too
        page.get_by_text("Saya [MASK] anjing dan kucing.").click()
        expect(page.locator("#fm-text textarea")).to_have_value("Saya [MASK] anjing dan kucing.")

        page.get_by_role("tab", name="Pelajaran").click()
        expect(page.locator("#lesson-check")).to_have_text("Periksa")
        expect(page.locator("#lesson-body")).to_contain_text("transfer learning")
        page.locator("#lesson-check").click()  # no answer picked: the server's hint, in Indonesian
        expect(page.locator("#lesson-feedback")).to_contain_text("Pilih jawaban dulu")
        expect(page.locator(".toast-message-text.info")).to_contain_text("Pilih jawaban dulu")  # information, not an error

        page.reload()  # the choice is kept
        expect(page.get_by_role("tab", name="Pelajaran")).to_be_visible()
        expect(page.locator("#language input[value=id]")).to_be_checked()

        page.locator("#language label", has_text="繁體中文").click()
        expect(page.get_by_role("tab", name="填空")).to_be_visible()
        page.locator("#language label", has_text="English").click()
        expect(page.get_by_role("tab", name="Fill-mask")).to_be_visible()
    finally:
        context.close()


# English the translated page showed inside results, in tables and in Gradio's own widgets.
ENGLISH_LABELS = ["special token", "starts a word", "continues the previous piece", "Mask 1 (token", "Your words",
                  "pushed towards", "pushed away from", "Weights by", "context (start)", "question / special",
                  "chosen start / end", "The whole context fits", "start+end logit", "word's tag", "ms per input",
                  "parameters (M)", "Drop File Here", "Click to Upload", "Next-sentence prediction needs",
                  "Pick an answer first", "fine-tuned from pretrained", "Open the"]
UPLOAD_WORDS = {"id": "Letakkan File di Sini", "zh-TW": "拖放檔案至此處"}
# Each tab (in app.TABS order): the buttons that make it show its results, and what each draws.
RUNS = [("tokenizer", [("#tok-run", "#token-chips .tok-chip")]), ("fill-mask", [("#fm-run", ".mask-title")]),
        ("classification", [("#cls-run", "#saliency-text")]), ("ner", [("#ner-run", "#ner-info p")]),
        ("question-answering", [("#qa-run", "#qa-chart svg")]), ("fine-tune", []), ("transfer", []),
        ("models", [("#mc-run", "#mc-table >> text={ms}"), ("#nsp-run", "text=ℹ️")]),
        ("lessons", [("#lesson-check", "#lesson-feedback >> text=ℹ️")])]


@pytest.mark.parametrize("language", ["id", "zh-TW"])
def test_every_tab_speaks_the_chosen_language_results_and_upload_widget_included(browser, app_url, language):
    context, page = open_page(browser, app_url)
    try:
        page.get_by_role("tab", name="Fine-tune").click()  # the upload widget is drawn in English first
        expect(page.locator("#ft-file")).to_contain_text("Drop File Here")
        page.locator(f"#language input[value='{language}']").click()
        expect(page.locator("#ft-file")).to_contain_text(UPLOAD_WORDS[language])
        for index, (tab, buttons) in enumerate(RUNS):
            page.get_by_role("tab").nth(index).click()
            for button, drawn in buttons:
                page.locator(button).click()
                ms = i18n.text("col.ms per input", language)  # the key column, in the page's language
                expect(page.locator(drawn.format(ms=ms)).first).to_be_visible()
            page.wait_for_timeout(500)
            shown = page.locator("body").inner_text()
            assert [words for words in ENGLISH_LABELS if words in shown] == [], tab
            assert page.locator(".toast-body.error").count() == 0, tab  # expected situations are no red Error
    finally:
        context.close()


@pytest.mark.parametrize("language", ["en", "id"])
def test_the_run_history_page_names_inputs_in_the_pages_language(browser, app_url, language):
    """Gradio's footer "Runs" page lists a browser's past calls by the components' labels."""
    context, page = open_page(browser, app_url)
    try:
        page.locator(f"#language input[value='{language}']").click()
        page.locator("#tok-run").click()
        expect(page.locator("#token-chips .tok-chip").first).to_be_visible()
        page.goto(app_url + "gradio_api/runs")
        labels = page.locator("[data-testid=run-history] .value-label")
        expect(labels.first).to_be_visible()
        shown = labels.all_text_contents()  # as written (the page shows them in capitals)
        assert not [label for label in shown if "i18n" in label.lower()], shown
        assert i18n.text("tok.text", language) in shown
    finally:
        context.close()


# Draws each character in the page's own font; a machine without a CJK font draws every one as
# the same empty box ("tofu"), so distinct characters give identical pictures.
GLYPHS_JS = """(chars) => {
  const style = getComputedStyle(document.querySelector("[role=tab]"));
  return chars.map((char) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 40;
    const g = canvas.getContext("2d");
    g.font = `${style.fontWeight} 32px ${style.fontFamily}`;
    g.fillText(char, 2, 34);
    return canvas.toDataURL();
  });
}"""


def test_the_page_in_traditional_chinese_draws_its_characters(page):
    page.locator("#language input[value='zh-TW']").click()
    expect(page.get_by_role("tab", name="填空")).to_be_visible()
    characters = ["填", "空", "課", "程"]
    assert len(set(page.evaluate(GLYPHS_JS, characters))) == len(characters), "no CJK font: install fonts-noto-cjk"
