from playwright.sync_api import expect


def test_models_tab_measures_the_embedded_encoder(page, screenshot):
    page.get_by_role("tab", name="Models").click()
    page.locator("#mc-run").click()
    table = page.locator("#mc-table")
    expect(table).to_contain_text("all-MiniLM-L6-v2 (embedded)")
    expect(table).to_contain_text("384")
    expect(page.get_by_text("Next-sentence prediction needs a model").first).to_be_visible()
    screenshot(page, "models")


def test_the_measurements_fit_a_1400_px_page(page):
    """"tokens" and "ms per input" are what the tab measures: they are seen without scrolling sideways."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("tab", name="Models").click()
    page.locator("#mc-run").click()
    table = page.locator("#mc-table")
    expect(table).to_contain_text("all-MiniLM-L6-v2 (embedded)")
    for column in ("tokens", "ms per input"):
        header = table.locator("th", has_text=column).first
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1400, (column, box)
