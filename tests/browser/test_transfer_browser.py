"""A student's path through the Transfer tab: fine-tune on an upload, then see the encoder before and after."""

from playwright.sync_api import expect

from tests.browser.test_finetune_browser import ROWS


def test_before_and_after_maps_of_a_model_fine_tuned_here(page, screenshot, tmp_path):
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in ROWS))
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-file input[type=file]").set_input_files(str(csv))
    expect(page.locator("#ft-data-info")).to_contain_text("30 rows")
    page.get_by_label("Epochs").fill("2")
    page.locator("#ft-train").click()
    expect(page.locator("#ft-status")).to_contain_text("is now in the Classification tab", timeout=240_000)

    page.get_by_role("tab", name="Transfer").click()
    # the run is listed and chosen, data and model, as soon as training ends
    expect(page.locator("#tr-data input")).to_have_value("run-1 (this session: the rows it trained on)")
    expect(page.locator("#tr-model input")).to_have_value("run-1")
    page.locator("#tr-map-run").click()
    info = page.locator("#tr-map-info")
    expect(info).to_contain_text("run-1")
    expect(info).to_contain_text("Separation of the classes")
    expect(info).to_contain_text("6 validation rows")  # 20% of 15 per class, rounded: the run's own split
    for side in ("#tr-map-before", "#tr-map-after"):
        # Vega draws each map (an SVG or canvas inside the plot), one mark per validation row
        expect(page.locator(f"{side} canvas, {side} svg.marks").first).to_be_visible()
    screenshot(page, "transfer-map")


def test_contextual_vectors_draw_two_grids(page):
    page.get_by_role("tab", name="Transfer").click()
    page.locator("#tr-context-run").click()
    expect(page.locator("#tr-to-static td")).to_have_count(4 * 7)  # 4 sentences x (embeddings + 6 layers)
    expect(page.locator("#tr-between td")).to_have_count(4 * 4)
    expect(page.locator("#tr-to-static")).to_contain_text("static vector")


def test_the_crosslingual_lesson_opens_the_comparison_and_the_map(page, screenshot):
    page.get_by_role("tab", name="Lessons").click()
    page.locator("#lesson-step input").click()
    page.get_by_role("option", name="10.", exact=False).first.click()
    expect(page.locator("#lesson-body")).to_contain_text("Compare the encoders")
    page.locator("#lesson-try").click()
    expect(page.locator("#tr-cross-language input")).to_have_value("English")
    run = page.locator("#tr-xl-run")
    expect(run).to_be_visible()  # the Transfer tab is open
    run.click()
    # three setups x three languages, drawn by the server as one SVG with a tooltip on each bar
    expect(page.locator("#tr-xl-chart rect.c-bar")).to_have_count(9, timeout=240_000)
    expect(page.locator("#tr-xl-info")).to_contain_text("What was run")
    expect(page.locator("#tr-xl-table")).to_contain_text("multilingual, trained in each language")
    page.locator("#tr-xl-map-run").click()
    for side in ("#tr-xl-map-multilingual", "#tr-xl-map-english"):
        expect(page.locator(f"{side} .c-point")).to_have_count(120, timeout=120_000)
        expect(page.locator(f"{side} polyline.c-link")).to_have_count(40)
    expect(page.locator("#tr-xl-map-info")).to_contain_text("chance: 2.5%")
    page.locator("#tr-xl-chart").scroll_into_view_if_needed()
    screenshot(page, "transfer-crosslingual")
