"""A student following the Lessons tab: a step's button opens the live tab with its input filled in,
the self-check reveals, and the lessons follow the browser's language."""

from playwright.sync_api import expect


def test_a_lesson_opens_the_fill_mask_tab_with_its_sentence(page):
    page.get_by_role("tab", name="Lessons").click()
    page.locator("#lesson-step input").click()
    page.get_by_role("option", name="4.", exact=False).first.click()
    expect(page.locator("#lesson-body")).to_contain_text("[MASK]")
    page.locator("#lesson-answer label").first.click()
    page.locator("#lesson-check").click()
    expect(page.locator("#lesson-feedback")).not_to_be_empty()
    page.locator("#lesson-try").click()
    expect(page.locator("#fm-text textarea")).to_have_value("She [MASK] the book from her brother.")
    expect(page.locator("#fm-text textarea")).to_be_visible()  # the Fill-mask tab is open


def test_the_first_lesson_opens_the_transfer_tab_on_the_topics_sample(page):
    page.get_by_role("tab", name="Lessons").click()  # step 1 is shown first
    expect(page.locator("#lesson-body")).to_contain_text("Train the curves")
    page.locator("#lesson-try").click()
    expect(page.locator("#tr-data input")).to_have_value("Topics (the lab's own sample)")
    expect(page.locator("#tr-curves-run")).to_be_visible()  # the Transfer tab is open


def test_the_lessons_follow_the_browsers_language(browser, app_url):
    context = browser.new_context(locale="id-ID", extra_http_headers={"Accept-Language": "id-ID,id;q=0.9"})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.get_by_role("tab", name="Pelajaran").click()
        expect(page.locator("#language input[value=id]")).to_be_checked()
        expect(page.locator("#lesson-check")).to_have_text("Periksa")
    finally:
        context.close()
