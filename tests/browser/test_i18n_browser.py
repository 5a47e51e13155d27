"""A student switches the page's language: Gradio's labels, the tab titles, the examples and the
server's messages follow, and a reload keeps the choice."""

from playwright.sync_api import expect

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
        page.locator("#lesson-check").click()  # no answer picked: the server's message, in Indonesian
        expect(page.get_by_text("Pilih jawaban dulu")).to_be_visible()

        page.reload()  # the choice is kept
        expect(page.get_by_role("tab", name="Pelajaran")).to_be_visible()
        expect(page.locator("#language input[value=id]")).to_be_checked()

        page.locator("#language label", has_text="繁體中文").click()
        expect(page.get_by_role("tab", name="填空")).to_be_visible()
        page.locator("#language label", has_text="English").click()
        expect(page.get_by_role("tab", name="Fill-mask")).to_be_visible()
    finally:
        context.close()
