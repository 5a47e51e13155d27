"""User text inside a rendered result is escaped exactly once: a ``<`` reads as ``<`` in a chip's
tooltip and a legend, never as markup and never as ``&lt;`` written out."""

from html import unescape

from lab import i18n
from lab.render import pieces_html
from lab.render_classify import saliency_html
from lab.saliency import Saliency, WordWeight
from lab.tokenization import Piece

HOSTILE = '<b>&"x"'


def test_a_pieces_source_text_is_escaped_once_in_its_tooltip():
    html = pieces_html([Piece(1, "<", 5, "word", 0, len(HOSTILE), None, HOSTILE)])
    title = html.split('title="', 1)[1].split('"', 1)[0]
    assert "<b>" not in title and "&amp;lt;" not in title and "&amp;amp;" not in title
    assert unescape(title).endswith(f"“{HOSTILE}”")


def test_a_label_is_escaped_once_in_the_saliency_legend():
    word = WordWeight("good", 0, 4, ("good",), 0.8)
    html = saliency_html(Saliency("good", HOSTILE, "gradient_x_input", True, [word], [], False))
    legend = html.split('class="sal-legend"', 1)[1].split("</div>", 1)[0]
    assert "<b>" not in legend and "&amp;lt;" not in legend
    assert "&lt;b&gt;&amp;" in legend  # the label itself, shown as typed


def test_plain_text_fills_in_values_as_they_are():
    assert i18n.plain_text("view.tok.chars", "en", start=0, end=1, source="<&") == "chars 0–1: “<&”"
    assert "&lt;&amp;" in i18n.text("view.tok.chars", "en", start=0, end=1, source="<&")


def test_the_crosslingual_charts_escape_their_names_and_texts_once():
    import numpy as np

    from lab.render_transfer import grouped_bars_svg, translation_map_svg

    bars = grouped_bars_svg(["en", HOSTILE], ["a", "b"], {("a", "en"): 0.5, ("b", HOSTILE): 0.75}, HOSTILE, chance=0.5)
    assert "<b>" not in bars and "&amp;lt;" not in bars and bars.count('class="c-bar"') == 2
    assert 'data-group="&lt;b&gt;&amp;&quot;x&quot;"' in bars  # the missing pairs draw no bar
    drawn = translation_map_svg(np.array([[0, 0], [1, 1], [0, 1], [1, 0]]), ["en", "id", "en", "id"],
                                ["positive", "positive", "negative", "negative"], [HOSTILE, "b", "c", "d"], [0, 0, 1, 1],
                                {"en": "English", "id": "Indonesian"}, {"positive": "pos", "negative": "neg"})
    assert "<b>" not in drawn and "&amp;lt;" not in drawn and drawn.count('class="c-link"') == 2
    title = drawn.split("<title>", 2)[1].split("</title>", 1)[0]
    assert unescape(title) == f"1. English · pos: {HOSTILE}"
    assert drawn.count("<circle") >= 2 and drawn.count("<rect") >= 2  # a language's shape: English circles


def test_the_bars_legend_has_room_for_chinese_names():
    import re

    from lab.render_transfer import grouped_bars_svg

    name = "多語言，用各語言本身訓練"  # 12 characters, each as wide as two Latin ones
    svg = grouped_bars_svg(["x"], [name], {})
    width = float(svg.split('viewBox="0 0 ', 1)[1].split(" ", 1)[0])
    start = float(re.search(r'<text x="([0-9.]+)" y="[0-9.]+">' + name, svg).group(1))
    assert start + 12 * 12 <= width  # 12 px a character at the legend's font size
