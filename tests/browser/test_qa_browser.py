"""A person's path through the Question answering tab, in a real browser."""

from playwright.sync_api import expect

CONTEXT = (
    "Honeybees share where food is with a waggle dance on the comb. The angle of the dance gives "
    "the direction of the flowers, and the length of the waggle run tells how far away they are."
)


def test_qa_tab_highlights_the_answer_and_draws_the_chart(page, screenshot):
    page.get_by_role("tab", name="Question answering").click()
    page.locator("#qa-question textarea").fill("What does the angle of the dance give?")
    page.locator("#qa-context textarea").fill(CONTEXT)
    # A tiny random model's [CLS] may beat every span; a high threshold asks for a span anyway.
    threshold = page.locator("#qa-threshold input[type=number]")
    threshold.fill("10")
    threshold.press("Enter")
    page.locator("#qa-run").click()
    expect(page.locator("#qa-info")).to_contain_text("Answered by")
    expect(page.locator("#qa-chart svg")).to_be_visible()
    bars = page.locator("#qa-chart svg rect.qa-bar-start")
    assert bars.count() > 10 and "P(start)" in bars.first.locator("title").text_content()
    mark = page.locator("#qa-highlight mark")
    expect(mark).to_have_count(1)
    answer = page.locator("#qa-answer textarea").input_value()
    assert answer and answer in CONTEXT and mark.inner_text() == answer
    expect(page.locator("#qa-candidates")).to_contain_text("rank")
    screenshot(page, "qa")


def test_qa_question_too_long_shows_an_error(page):
    page.get_by_role("tab", name="Question answering").click()
    page.locator("#qa-question textarea").fill("Why? " * 200)
    page.locator("#qa-run").click()
    expect(page.get_by_text("Shorten the question").first).to_be_visible()
