"""A student's path through the Fine-tune tab: upload a CSV, train, read the metrics, use the model."""

import random
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
    before = {d.name for d in RUNS_DIR.iterdir()}  # the session's folder appears with its upload
    page.locator("#ft-file input[type=file]").set_input_files(str(csv))
    info = page.locator("#ft-data-info")
    expect(info).to_contain_text("30 rows")
    expect(info).to_contain_text("Suggested max length")
    epochs = page.get_by_label("Epochs")
    epochs.fill("2")
    page.locator("#ft-train").click()
    status = page.locator("#ft-status")
    expect(status).to_contain_text("is now in the Classification tab", timeout=240_000)
    # the charts as drawn: the loss with its validation loss beside it, the score on a numeric axis
    loss_legend = page.locator("#ft-curves svg g.role-legend-label text")
    expect(loss_legend).to_have_text(["run-1 · train loss", "run-1 · validation loss"])
    assert page.locator("#ft-curves svg g.role-mark.mark-line path").count() == 2
    score = page.locator("#ft-score svg")
    expect(score.locator("g.role-legend-label text")).to_have_text(["run-1 · validation accuracy"])
    assert "linear scale" in score.locator("g.role-axis[aria-label^='Y-axis']").get_attribute("aria-label")
    line = score.locator("g.role-mark.mark-line path").first.get_attribute("d")
    assert line.count("L") >= 2  # one point per evaluation: 2 epochs, 2 evaluations each
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


def _drawn_labels(axis) -> list[dict]:
    """An axis's labels as drawn (those the chart did not hide): text, anchor point, the rotation's
    cosine and sine, and the text's own width and height before rotation."""
    return axis.locator("g.role-axis-label text").evaluate_all(
        "texts => texts.filter(t => t.getAttribute('opacity') !== '0').map(t => {"
        " const m = t.getScreenCTM(), b = t.getBBox(), s = Math.hypot(m.a, m.b);"
        " return {text: t.textContent, x: m.e, y: m.f, cos: m.a / s, sin: m.b / s, w: b.width, h: b.height}; })")


def _apart(a: dict, b: dict) -> bool:
    """Two labels drawn at the same angle do not overlap: far enough apart along their baseline, or
    across it (rotated labels side by side)."""
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    along = abs(dx * a["cos"] + dy * a["sin"])
    across = abs(-dx * a["sin"] + dy * a["cos"])
    return along >= min(a["w"], b["w"]) or across >= 0.8 * min(a["h"], b["h"])


def test_token_length_histogram_draws_ranges_in_order_with_readable_labels(page, tmp_path):
    rng = random.Random(0)
    words = "the film was good bad long story acting plot music scene".split()
    lengths = [rng.choice([3, 4, 5, 6, 7, 8]) for _ in range(40)] + [rng.randint(20, 98) for _ in range(20)]
    csv = tmp_path / "lengths.csv"
    csv.write_text("text,label\n" + "".join(f"{' '.join(rng.choices(words, k=n))},{'ab'[i % 2]}\n"
                                           for i, n in enumerate(lengths)))
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-file input[type=file]").set_input_files(str(csv))
    expect(page.locator("#ft-data-info")).to_contain_text("60 rows")
    axis = page.locator("#ft-lengths svg g.role-axis[aria-label^='X-axis']")
    expect(axis).to_have_count(1)
    labels = _drawn_labels(axis)
    starts = [int(label["text"].split("–")[0]) for label in labels]
    assert len(starts) >= 15 and starts == sorted(starts), starts  # every range, in numeric order
    for a, b in zip(labels, labels[1:]):  # neighbours do not overlap
        assert _apart(a, b), (a, b)
    # the tallest bar is the short texts' range, drawn first
    bars = page.locator("#ft-lengths svg g.role-mark path").evaluate_all(
        "paths => paths.map(p => { const r = p.getBoundingClientRect(); return [r.left, r.height]; })")
    tallest = max(bars, key=lambda bar: bar[1])
    assert tallest[0] == min(left for left, _ in bars)


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
