"""A student's path through the Fine-tune tab: upload a CSV, train, read the metrics, use the model."""

import time

from playwright.sync_api import expect

from tests.conftest import RUNS_DIR

ROWS = ([("a wonderful film", "pos"), ("great acting, good story", "pos"), ("I loved it", "pos"),
         ("good fun for all", "pos"), ("a great, moving story", "pos")] +
        [("a boring film", "neg"), ("bad acting, dull story", "neg"), ("I hated it", "neg"),
         ("awful from start to end", "neg"), ("a dull, bad plot", "neg")]) * 3


def test_upload_train_and_use_the_model(page, screenshot, tmp_path):
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in ROWS))
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-file input[type=file]").set_input_files(str(csv))
    info = page.locator("#ft-data-info")
    expect(info).to_contain_text("30 rows")
    expect(info).to_contain_text("Suggested max length")
    epochs = page.get_by_label("Epochs")
    epochs.fill("2")
    before = {d.name for d in RUNS_DIR.iterdir()}
    page.locator("#ft-train").click()
    status = page.locator("#ft-status")
    expect(status).to_contain_text("is now in the Classification tab", timeout=240_000)
    expect(page.locator("#ft-results")).to_contain_text("accuracy")
    expect(page.locator("#ft-confusion")).to_contain_text("→ pos")
    expect(page.locator("#ft-runs")).to_contain_text("run-1")
    page.locator("#ft-try-text textarea").fill("a wonderful, moving film")
    page.locator("#ft-try").click()
    expect(page.locator("#ft-after")).to_contain_text("pos")
    screenshot(page, "fine-tune")
    # the Classification tab now uses the new model (this session's)
    page.get_by_role("tab", name="Classification").click()
    page.locator("#cls-text textarea").fill("a boring film")
    page.locator("#cls-run").click()
    expect(page.locator("#cls-info")).to_contain_text("run-1")
    expect(page.locator("#cls-label")).to_contain_text("neg")
    # closing the tab deletes this session's folder (and only it) after the grace period (2 s here)
    mine = [d for d in RUNS_DIR.iterdir() if d.name not in before and (d / "run-1").is_dir()]
    assert len(mine) == 1
    # a folder no session owns (another test's sessions may end meanwhile: theirs may go, this one must not)
    bystander = RUNS_DIR / "not-a-session-of-this-test"
    (bystander / "run-1").mkdir(parents=True, exist_ok=True)
    page.context.close()
    deadline = time.monotonic() + 30
    while mine[0].exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not mine[0].exists()
    assert (bystander / "run-1").is_dir()


def test_start_from_the_sentiment_sample(page):
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-dataset-card")).to_contain_text("written for this project")
    page.locator("#ft-use-dataset").click()
    info = page.locator("#ft-data-info")
    expect(info).to_contain_text("rows")
    expect(info).to_contain_text("negative")
    expect(page.locator("#ft-file")).to_contain_text(".csv")


def test_ner_fine_tune_from_the_sample_then_the_ner_tab_uses_it(page):
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-task").get_by_text("NER (token classification)").click()
    expect(page.locator("#ft-dataset-card")).to_contain_text("ner")
    expect(page.get_by_text("NER: label every sub-word piece")).to_be_visible()
    page.locator("#ft-use-dataset").click()
    expect(page.locator("#ft-data-info")).to_contain_text("42 sentences")
    page.get_by_label("Epochs").fill("1")
    page.locator("#ft-train").click()
    expect(page.locator("#ft-status")).to_contain_text("is now in the NER tab", timeout=240_000)
    per_type = page.locator("#ft-per-class")
    for kind in ("PER", "ORG", "LOC"):
        expect(per_type).to_contain_text(kind)
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill("Angela Merkel visited Paris.")
    page.locator("#ner-run").click()
    expect(page.locator("#ner-info")).to_contain_text("run-1")
