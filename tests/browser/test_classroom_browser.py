"""The Class tab in a real browser: there for the instructor's link, absent for everyone else."""

from playwright.sync_api import expect

from tests.browser.conftest import open_page
from tests.conftest import INSTRUCTOR_TOKEN


def test_the_instructor_link_shows_the_class_tab(browser, class_url):
    context, page = open_page(browser, f"{class_url}?token={INSTRUCTOR_TOKEN}")
    try:
        page.get_by_role("tab", name="Class", exact=True).click()
        page.locator("#class-refresh").click()
        expect(page.locator("#class-note")).to_contain_text("shared run")
        # students of the same app see the switch to share, and no Class tab
        page.get_by_role("tab", name="Fine-tune").click()
        expect(page.locator("#ft-share")).to_be_visible()
    finally:
        context.close()


def test_a_student_or_a_wrong_token_sees_no_class_tab(browser, class_url):
    for url in (class_url, f"{class_url}?token=guess"):
        context, page = open_page(browser, url)
        try:
            page.get_by_role("tab", name="Fine-tune").click()
            expect(page.locator("#ft-share")).to_be_visible()
            expect(page.get_by_role("tab", name="Class", exact=True)).to_have_count(0)
        finally:
            context.close()


def test_without_a_token_set_there_is_no_sharing(page):
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-train")).to_be_visible()
    expect(page.locator("#ft-share")).to_have_count(0)
