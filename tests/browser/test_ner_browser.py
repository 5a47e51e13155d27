"""A person's path through the NER tab, in a real browser (a tiny random model answers)."""

from playwright.sync_api import expect

from tests.conftest import NER_LABELS


def test_ner_tab_highlights_entities_and_shows_piece_tags(page, screenshot):
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill("Angela Merkel visited Paris.")
    page.locator("#ner-run").click()
    info = page.locator("#ner-info")
    expect(info).to_contain_text("Answered by")
    expect(info).to_contain_text("aggregation simple")

    highlighted = page.locator("#ner-highlighted")
    expect(highlighted).to_contain_text("Paris")
    legend = highlighted.get_by_test_id("highlighted-text:category-legend").locator(".legend-item")
    expect(legend).to_have_text(["PER", "ORG", "LOC", "MISC"])
    # The raw table: one row per sub-word piece, "Merkel" split in two, each with a B-/I-/O tag.
    pieces = page.locator("#ner-pieces")
    expect(pieces).to_contain_text("##kel")
    rows = [r.split() for r in pieces.get_by_role("row").all_inner_texts()][1:]  # after the header
    assert [r[1] for r in rows] == ["angela", "mer", "##kel", "visited", "paris", "."]
    assert all(r[4] in NER_LABELS for r in rows)  # the "tag" column
    spans = highlighted.locator(".token.highlighted")
    n_simple = spans.count()
    expect(page.locator("#ner-entities")).to_contain_text("type")

    # Switching the aggregation re-runs at once; "none" shows every piece's raw tag.
    page.locator("#ner-aggregation").get_by_text("none", exact=True).click()
    expect(info).to_contain_text("aggregation none")
    expect(legend).to_contain_text(["B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
    expect(pieces).to_contain_text("##kel")
    assert spans.count() >= n_simple  # ungrouped: at least as many highlighted spans
    page.locator("#ner-aggregation").get_by_text("first", exact=True).click()
    expect(info).to_contain_text("aggregation first")
    screenshot(page, "ner")


def test_ner_empty_text_shows_an_error(page):
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill("   ")
    page.locator("#ner-run").click()
    expect(page.get_by_text("The text is empty").first).to_be_visible()
