"""The README's screenshots: what a user sees with the embedded model, taken in headless Chromium.

Starts ``python app.py`` as a host would (offline, loopback, a free port), walks every tab with
the lectures' examples, and writes ``docs/screenshots/<tab>.png``. The answers are the real
embedded heads' (``assets/models/``); the Fine-tune shot trains on the project's sentiment sample
with the tab's defaults (about 20 s on 2 cores), the Transfer shot trains the topics sample's learning
curves (about 70 s).

    python docs/take_screenshots.py
    python docs/take_screenshots.py --only fill-mask,qa --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, start_app, stop_app, wait_for_page  # noqa: E402

CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
# Chromium's own background traffic has nowhere to go on a closed network: switch it off.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
QA_CONTEXT = (
    "Honeybees share where food is with a waggle dance on the comb. The angle of the dance gives "
    "the direction of the flowers, and the length of the waggle run tells how far away they are."
)


def tokenizer(page, expect) -> None:
    page.locator("#tok-text textarea").fill("Unbelievably, I love playing with my dogs!")
    page.locator("#tok-run").click()
    expect(page.locator("#token-chips .tok-chip").first).to_contain_text("[CLS]")
    page.locator("#batch-run").click()
    expect(page.locator(".batch-grid td.tok-masked").first).to_be_visible()


def attention(page, expect) -> None:
    page.locator("#tok-text textarea").fill("The dog chased the ball because it was bored.")
    page.locator("#attn-tokenizer").get_by_text("Attention", exact=True).click()
    page.locator("#attn-tokenizer-run").click()
    expect(page.locator("#attn-tokenizer-info")).to_contain_text("Layer")


def _ask(page, expect, tab: str, prefix: str, text: str) -> None:
    """Open ``tab``, type ``text`` into its box, run it, and wait for the answer's model line."""
    page.get_by_role("tab", name=tab).click()
    page.locator(f"#{prefix}-text textarea").fill(text)
    page.locator(f"#{prefix}-run").click()
    expect(page.locator(f"#{prefix}-info")).to_contain_text("Answered by")


def fill_mask(page, expect) -> None:
    _ask(page, expect, "Fill-mask", "fm", "I ___ dogs and cats.")


def classification(page, expect) -> None:
    _ask(page, expect, "Classification", "cls", "A wonderful, moving film, even if the ending drags a little.")
    expect(page.locator("#saliency-text .sal-word").first).to_be_visible()


def ner(page, expect) -> None:
    _ask(page, expect, "NER", "ner", "Angela Merkel grew up in Hamburg and later worked for the CDU in Berlin.")


def qa(page, expect) -> None:
    page.get_by_role("tab", name="Question answering").click()
    page.locator("#qa-question textarea").fill("What does the angle of the dance give?")
    page.locator("#qa-context textarea").fill(QA_CONTEXT)
    page.locator("#qa-run").click()
    expect(page.locator("#qa-info")).to_contain_text("Answered by")
    expect(page.locator("#qa-chart svg")).to_be_visible()


def fine_tune(page, expect) -> None:
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-file input[type=file]").set_input_files(str(ROOT / "assets" / "samples" / "sentiment.csv"))
    expect(page.locator("#ft-data-info")).to_contain_text("rows")
    page.locator("#ft-train").click()
    expect(page.locator("#ft-status")).to_contain_text("is now in the Classification tab", timeout=600_000)
    page.locator("#ft-try-text textarea").fill("The waiter was friendly and the soup was delicious.")
    page.locator("#ft-try").click()
    expect(page.locator("#ft-after")).to_contain_text("positive")


def models(page, expect) -> None:
    page.get_by_role("tab", name="Models").click()
    page.locator("#mc-run").click()
    expect(page.locator("#mc-table")).to_contain_text("all-MiniLM-L6-v2 (embedded)")


def transfer(page, expect) -> None:
    """Maps and probes of the sentiment sample and the shipped SST-2 head; curves of the topics sample."""
    page.get_by_role("tab", name="Transfer").click()
    page.locator("#tr-map-run").click()
    expect(page.locator("#tr-map-info")).to_contain_text("Separation")
    page.locator("#tr-probe-run").click()
    expect(page.locator("#tr-probe-info")).to_contain_text("Best")
    page.locator("#tr-context-run").click()
    expect(page.locator("#tr-between td")).to_have_count(16)
    data = page.locator("#tr-data input")
    data.click()
    data.fill("Topics")
    page.get_by_role("option", name="Topics (the lab's own sample)").click()
    page.locator("#tr-curves-run").click()
    expect(page.locator("#tr-curves-info")).to_contain_text("Done", timeout=600_000)


def lessons(page, expect) -> None:
    """The crosslingual step, the whole page in Traditional Chinese, its self-check revealed."""
    page.locator("#language").get_by_text("繁體中文").click()
    page.get_by_role("tab", name="課程").click()
    page.locator("#lesson-step input").click()
    page.get_by_role("option", name="9.", exact=False).first.click()
    page.locator("#lesson-answer label").first.click()
    page.locator("#lesson-check").click()
    expect(page.locator("#lesson-feedback")).not_to_be_empty()


def indonesian(page, expect) -> None:
    """The page in Bahasa Indonesia: the Fill-mask tab on its Indonesian example (an English-only
    model's guesses: the crosslingual lesson)."""
    page.locator("#language").get_by_text("Bahasa Indonesia").click()
    page.get_by_role("tab", name="Isi [MASK]").click()
    page.get_by_text("Saya [MASK] anjing dan kucing.").click()
    page.locator("#fm-run").click()
    expect(page.locator("#fm-info")).to_contain_text("Dijawab oleh")


SHOTS = {"tokenizer": tokenizer, "attention": attention, "fill-mask": fill_mask, "classification": classification,
         "ner": ner, "qa": qa, "fine-tune": fine_tune, "transfer": transfer,
         "models": models, "lessons": lessons, "indonesian": indonesian}


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="Where the PNGs go.")
    parser.add_argument("--only", default="", help="Comma-separated shots to take (default: all of "
                                                   + ", ".join(SHOTS) + ").")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(SHOTS)
    unknown = set(names) - set(SHOTS)
    if unknown:
        parser.error(f"unknown shots: {', '.join(sorted(unknown))}")

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    written = []
    with tempfile.TemporaryDirectory(prefix="lab-shots-") as tmp:
        proc = start_app(port, {}, Path(tmp) / "app.log")
        try:
            wait_for_page(url, proc)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                for name in names:
                    context = browser.new_context(viewport={"width": 1280, "height": 1000})
                    page = context.new_page()
                    page.set_default_timeout(120_000)
                    page.goto(url)
                    page.get_by_role("tab", name="Tokenizer").wait_for()
                    SHOTS[name](page, expect)
                    path = args.out / f"{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    written.append(path)
                    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
                    context.close()
                browser.close()
        finally:
            stop_app(proc)
    return written


if __name__ == "__main__":
    main()
