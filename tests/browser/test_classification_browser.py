"""A person's path through the Classification tab and the attention view, in a real browser."""

from playwright.sync_api import expect


def test_classification_tab_labels_and_highlights_words(page, screenshot):
    page.get_by_role("tab", name="Classification").click()
    page.locator("#cls-text textarea").fill("Unbelievably, I love dogs!")
    page.locator("#cls-run").click()
    expect(page.locator("#cls-info")).to_contain_text("Answered by")
    expect(page.locator("#cls-info")).to_contain_text("tiny-bert-cls")
    # the tiny model is random: either label may win, but both are listed with a probability
    expect(page.locator("#cls-label")).to_contain_text("negative")
    expect(page.locator("#cls-label")).to_contain_text("positive")
    words = page.locator("#saliency-text .sal-word")
    expect(words).to_have_count(6)
    assert words.all_inner_texts() == ["Unbelievably", ",", "I", "love", "dogs", "!"]
    assert "un ##bel ##ie ##va ##bly" in words.first.get_attribute("title")
    weights = [abs(float(w.get_attribute("data-weight"))) for w in words.all()]
    assert max(weights) == 1.0
    screenshot(page, "classification")


def test_classification_empty_text_shows_an_error(page):
    page.get_by_role("tab", name="Classification").click()
    page.locator("#cls-text textarea").fill("  ")
    page.locator("#cls-run").click()
    expect(page.get_by_text("The text is empty").first).to_be_visible()


def test_attention_view_draws_a_heatmap_for_the_tokenizer_text(page, screenshot):
    page.locator("#tok-text textarea").fill("The dog chased the ball.")
    page.locator("#attn-tokenizer").get_by_text("Attention", exact=True).click()
    slider = page.locator("#attn-tokenizer-layer input[type=range]")
    slider.focus()
    number = page.locator("#attn-tokenizer-layer input[type=number]")
    # layer 1 -> 3 with the keyboard, as a person would: one key, then the next once the
    # first has shown (a key pressed while Svelte redraws the slider is otherwise lost)
    for expected in ("2", "3"):
        slider.press("ArrowRight")
        expect(number).to_have_value(expected)
    slider.dispatch_event("change")  # Gradio commits a slider's value on release
    expect(number).to_have_value("3")
    page.locator("#attn-tokenizer-run").click()
    info = page.locator("#attn-tokenizer-info")
    expect(info).to_contain_text("Layer 3 of 6")
    expect(info).to_contain_text("all-MiniLM-L6-v2")
    rows = page.locator("#attn-tokenizer-map .attn-query")
    assert rows.all_inner_texts() == ["[CLS]", "the", "dog", "chased", "the", "ball", ".", "[SEP]"]
    expect(page.locator("#attn-tokenizer-map td")).to_have_count(64)
    screenshot(page, "attention")


def test_the_shipped_heads_card_is_reachable(page):
    page.get_by_role("tab", name="Classification").click()
    page.get_by_text("The embedded model's card").first.click()
    expect(page.locator("#card-classification")).to_contain_text("SST-2")
    expect(page.locator("#card-classification")).to_contain_text("whole review sentences")
