from playwright.sync_api import expect


def test_models_tab_measures_the_embedded_encoder(page, screenshot):
    page.get_by_role("tab", name="Models").click()
    page.locator("#mc-run").click()
    table = page.locator("#mc-table")
    expect(table).to_contain_text("all-MiniLM-L6-v2 (embedded)")
    expect(table).to_contain_text("384")
    expect(page.get_by_text("Next-sentence prediction needs a model").first).to_be_visible()
    screenshot(page, "models")
