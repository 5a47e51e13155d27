"""The instructor's class chart in a real browser: every bar's name can be read."""

import dataclasses

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_page
from tests.conftest import INSTRUCTOR_TOKEN, RUNS_DIR, _serve

STRATEGIES = ["full", "freeze_lower", "frozen_encoder", "lora", "features"]


def share_runs(demo) -> None:
    """A class's shared runs of one lesson: every way of training, two students each."""
    board = demo.lab_tabs["Fine-tune"].board
    for n, strategy in enumerate(STRATEGIES * 2):
        config = {"strategy": strategy, "learning_rate": 5e-5, "batch_size": 16, "epochs": 3, "max_length": 128}
        board.share(f"Student {n}", "run-1", "classification", "sms.csv", config, 0.8 + n / 50, "accuracy", 30)


@pytest.fixture(scope="module")
def shared_class_url(app_settings):
    yield from _serve(dataclasses.replace(app_settings, instructor_token=INSTRUCTOR_TOKEN,
                                          runs_dir=RUNS_DIR / "class-chart"), prepare=share_runs)


def test_every_bar_of_the_class_chart_is_named_in_full(browser, shared_class_url, screenshot):
    context, page = open_page(browser, f"{shared_class_url}?token={INSTRUCTOR_TOKEN}")
    try:
        page.get_by_role("tab", name="Class", exact=True).click()
        page.locator("#class-refresh").click()
        expect(page.locator("#class-note")).to_contain_text("10 shared run")
        chart = page.locator("#class-chart")
        expect(chart.locator("canvas, svg").first).to_be_visible()
        page.wait_for_timeout(1000)
        screenshot(page, "class-chart")
        labels = chart.evaluate("""e => [...e.querySelectorAll(".role-axis-label")].filter(axis =>
            axis.closest("[aria-label^='X-axis']")).flatMap(axis => [...axis.querySelectorAll("text")]).map(text => {
              const box = text.getBoundingClientRect(), frame = e.getBoundingClientRect();
              return {name: text.textContent, inside: box.left >= frame.left && box.right <= frame.right
                      && box.top >= frame.top && box.bottom <= frame.bottom};
            })""")
        names = sorted(STRATEGIES)
        assert sorted(label["name"] for label in labels) == names  # whole names, no "…"
        assert [label["name"] for label in labels if not label["inside"]] == []  # and drawn inside the chart
    finally:
        context.close()
