"""A person's path through the Tokenizer and Fill-mask tabs, in a real browser."""

from playwright.sync_api import expect


def test_tokenizer_tab_shows_pieces(page, screenshot):
    expect(page.locator("#offline-notice")).to_contain_text("Running offline")
    page.locator("#tok-text textarea").fill("Unbelievably, I love playing with my dogs!")
    page.locator("#tok-run").click()
    chips = page.locator("#token-chips .tok-chip")
    expect(chips.first).to_contain_text("[CLS]")
    texts = chips.locator(".tok-text").all_inner_texts()
    assert texts[:3] == ["[CLS]", "un", "##bel"] and texts[-1] == "[SEP]"
    expect(page.locator("#token-chips .tok-continuation").first).to_be_visible()
    expect(page.locator("#tok-summary")).to_contain_text("tokens")
    page.locator("#batch-run").click()
    expect(page.locator(".batch-grid td.tok-masked").first).to_be_visible()
    screenshot(page, "tokenizer")


def test_fill_mask_tab_ranks_words(page, screenshot):
    page.get_by_role("tab", name="Fill-mask").click()
    page.locator("#fm-text textarea").fill("The ___ was good but the [MASK] was slow.")
    page.locator("#fm-run").click()
    expect(page.locator(".mask-block")).to_have_count(2)
    expect(page.locator("#fm-info")).to_contain_text("Answered by")
    best = page.locator("#fm-best textarea").input_value()
    assert best.startswith("The ") and "[MASK]" not in best
    expect(page.get_by_text("predicted on its own")).to_be_visible()
    screenshot(page, "fill-mask")


def test_fill_mask_without_mask_shows_an_error(page):
    page.get_by_role("tab", name="Fill-mask").click()
    page.locator("#fm-text textarea").fill("I love dogs.")
    page.locator("#fm-run").click()
    expect(page.get_by_text("No mask in the text").first).to_be_visible()
