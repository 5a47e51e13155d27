"""HTML for the Classification tab's saliency: the text itself, each word shaded by its weight.

A pure function of a ``Saliency``; the text between words (spaces, line breaks) is kept as
typed, and everything from the user is escaped. Colours are inline so the view needs no css.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from lab import i18n
from lab.options import SALIENCY_METHODS as METHODS

if TYPE_CHECKING:
    from lab.saliency import Saliency

# Blue and orange stay apart for the common colour-vision deficiencies, unlike green and red.
FOR = (37, 99, 235)
AGAINST = (234, 88, 12)


def _background(weight: float) -> str:
    r, g, b = FOR if weight >= 0 else AGAINST
    return f"rgba({r},{g},{b},{min(abs(weight), 1.0) * 0.75:.2f})"


def _swatch(weight: float, words: str) -> str:
    return f'<span style="background:{_background(weight)};padding:1px 6px;border-radius:4px">{escape(words)}</span>'


def _method_name(method: str, language: str) -> str:
    """A saliency method in a sentence: lab.options' name in English, the tab's switch's words
    (``cls.method.<method>``) in another language."""
    key = f"cls.method.{method}"
    if language == i18n.DEFAULT or key not in i18n.catalog(i18n.DEFAULT):
        return METHODS.get(method, method)
    return i18n.text(key, language)


def saliency_html(saliency: Saliency, language: str = i18n.DEFAULT) -> str:
    """The text with each word highlighted by weight; its pieces and weight in the tooltip; the
    legend and note in ``language``."""
    text, out, cursor = saliency.text, [], 0
    for word in saliency.words:
        out.append(escape(text[cursor:word.start]))
        pieces = " ".join(word.tokens)
        title = f"{pieces}: {word.weight:+.2f}" if saliency.signed else f"{pieces}: {word.weight:.2f}"
        out.append(
            f'<span class="sal-word" data-weight="{word.weight:.4f}" title="{escape(title)}" '
            f'style="background:{_background(word.weight)};padding:1px 2px;border-radius:4px">'
            f"{escape(text[word.start:word.end])}</span>"
        )
        cursor = word.end
    out.append(escape(text[cursor:]))
    label = saliency.label
    if saliency.signed:
        legend = (_swatch(1, i18n.plain_text("view.sal.towards", language, label=label)) + " "
                  + _swatch(-1, i18n.plain_text("view.sal.away", language, label=label)))
    else:
        legend = _swatch(1, i18n.plain_text("view.sal.either", language, label=label))
    note = i18n.plain_text("view.sal.note", language, method=_method_name(saliency.method, language))
    if saliency.truncated:
        note += " " + i18n.text("view.sal.truncated", language)
    note = escape(note)
    return (
        f'<div class="sal-text" id="saliency-text" style="font-size:1.1em;line-height:2;white-space:pre-wrap">'
        f'{"".join(out)}</div>'
        f'<div class="sal-legend" style="font-size:0.85em;margin-top:4px">{legend}</div>'
        f'<p class="lab-note">{note}</p>'
    )
