"""Real Chromium (Debian's /usr/bin/chromium) driven by the playwright pip package."""

import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

# A model call on a busy 2-core machine can take several seconds: wait as a person would.
expect.set_options(timeout=60_000)

CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
# What each browser test ended on, for looking at after a failure: LAB_SCREENSHOT_DIR, else a temp
# folder. Never docs/screenshots: the README shows the real model's answers (docs/take_screenshots.py),
# and these tests run tiny random models whose answers are noise.
SCREENSHOTS = Path(os.environ.get("LAB_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="lab-browser-shots-"))
# Chromium's own background traffic has nowhere to go on a closed network: switch it off.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str):
    """A fresh browser context (its own session) on ``url``, once the page has drawn its tabs."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.get_by_role("tab", name="Tokenizer").wait_for()
    return context, pg


@pytest.fixture
def page(browser, app_url):
    context, pg = open_page(browser, app_url)
    yield pg
    context.close()


@pytest.fixture
def screenshot():
    def take(pg, name: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
