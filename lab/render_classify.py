"""HTML for the Classification tab's saliency: the text itself, each word shaded by its weight.

A pure function of a ``Saliency``; the text between words (spaces, line breaks) is kept as
typed, and everything from the user is escaped. Colours are inline so the view needs no css.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from lab.options import SALIENCY_METHODS as METHODS

if TYPE_CHECKING:
    from lab.saliency import Saliency

# Blue and orange stay apart for the common colour-vision deficiencies, unlike green and red.
FOR = (37, 99, 235)
AGAINST = (234, 88, 12)


def _background(weight: float) -> str:
    r, g, b = FOR if weight >= 0 else AGAINST
    return f"rgba({r},{g},{b},{min(abs(weight), 1.0) * 0.75:.2f})"


def saliency_html(saliency: Saliency) -> str:
    """The text with each word highlighted by weight; its pieces and weight in the tooltip."""
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
    label = escape(saliency.label)
    if saliency.signed:
        legend = (
            f'<span style="background:{_background(1)};padding:1px 6px;border-radius:4px">pushed towards '
            f"“{label}”</span> "
            f'<span style="background:{_background(-1)};padding:1px 6px;border-radius:4px">pushed away from '
            f"“{label}”</span>"
        )
    else:
        legend = (
            f'<span style="background:{_background(1)};padding:1px 6px;border-radius:4px">mattered most for '
            f"“{label}” (either way)</span>"
        )
    method = escape(METHODS.get(saliency.method, saliency.method))
    note = f"Weights by {method}; darker = stronger. Hover a word to see its sub-word pieces and weight."
    if saliency.truncated:
        note += " The text was longer than the model reads: the unshaded end was cut off."
    return (
        f'<div class="sal-text" id="saliency-text" style="font-size:1.1em;line-height:2;white-space:pre-wrap">'
        f'{"".join(out)}</div>'
        f'<div class="sal-legend" style="font-size:0.85em;margin-top:4px">{legend}</div>'
        f'<p class="lab-note">{note}</p>'
    )
