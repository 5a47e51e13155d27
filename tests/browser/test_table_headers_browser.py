"""Column headers of the result tables wrap between words, never inside one."""

import pytest
from playwright.sync_api import expect

# For every header cell matched by the selector, what a reader would see wrong: a word whose
# letters do not all sit on one line (broken across lines), or a letter drawn outside its cell.
SPLIT_WORDS_JS = """
(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const edge = cell.getBoundingClientRect();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest("button")) continue;  // the column's menu button
      const text = node.nodeValue;
      const range = document.createRange();
      let word = "", tops = [];
      const end = () => {
        if (word && Math.max(...tops) - Math.min(...tops) > 2) split.push([word, cell.innerText.trim()]);
        word = ""; tops = [];
      };
      for (let i = 0; i < text.length; i++) {
        if (/\\s/.test(text[i])) { end(); continue; }
        range.setStart(node, i); range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        if (box.left < edge.left - 1 || box.right > edge.right + 1) split.push(["outside its cell", cell.innerText.trim()]);
        word += text[i]; tops.push(box.top);
      }
      end();
    }
  }
  return split;
}
"""


def headers_drawn(page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts() if text.strip()]


@pytest.mark.parametrize("width", [1280, 800])
def test_tokenizer_batch_headers_wrap_between_words(page, screenshot, width):
    page.set_viewport_size({"width": width, "height": 1000})
    page.locator("#batch-run").click()
    expect(page.locator("#batch-table th").first).to_be_visible()
    page.locator("#mask-run").click()
    expect(page.locator("#mask-table th").first).to_be_visible()
    page.wait_for_timeout(500)
    screenshot(page, f"batch-headers-{width}")
    for table in ("#batch-table", "#mask-table"):
        cells = f"{table} thead th"
        assert headers_drawn(page, cells), table
        assert page.evaluate(SPLIT_WORDS_JS, cells) == [], table


def test_ner_table_headers_wrap_between_words(page, screenshot):
    page.set_viewport_size({"width": 1000, "height": 1000})
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-run").click()
    for table in ("#ner-entities", "#ner-pieces"):
        expect(page.locator(f"{table} thead th").first).to_be_visible()
    page.wait_for_timeout(500)
    screenshot(page, "ner-headers")
    for table in ("#ner-entities", "#ner-pieces"):
        cells = f"{table} thead th"
        assert headers_drawn(page, cells), table
        assert page.evaluate(SPLIT_WORDS_JS, cells) == [], table
