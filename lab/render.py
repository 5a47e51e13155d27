"""HTML for the lab's visualisations, as pure functions of plain data (no gradio here).

Everything user-typed goes through ``html.escape``: pasted <script> tags show as text.
The look comes from assets/style.css (classes ``tok-*``, ``bar-*``).
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from lab import i18n
from lab.i18n import Safe, plain

if TYPE_CHECKING:
    from lab.fill_mask import FillMaskResult
    from lab.tokenization import BatchRow, Piece

# The kinds of piece a chip is drawn as; their words are ``view.tok.kind.<kind>`` in the catalogs.
KINDS = ("special", "pad", "unk", "continuation", "word")


# Markdown's own characters; & < > become HTML entities first, which Markdown shows as text.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
# GitHub-flavoured Markdown links a bare ``https://...`` or ``name@host``: as entities they are text.
_AUTOLINK = str.maketrans({":": "&#58;", "@": "&#64;"})


def md_text(value: object, language: str | None = None) -> Safe:
    """User text (a label name, a typed word, a message quoting them) for a Markdown output: shown as
    typed, never as markup.

    HTML tags come out as text (``<img onerror=...>`` is no image), and Markdown's own characters
    are escaped (a label ``*bold*``, ``[x](y)`` or ``https://x`` is no emphasis and no link). A message is escaped
    once, as a whole, in ``language``; the result is ``Safe``, so a message quoting it does not escape it again."""
    return Safe(_MARKDOWN.sub(r"\\\1", escape(plain(value, language), quote=False)).translate(_AUTOLINK))


def pieces_html(pieces: list[Piece], language: str = i18n.DEFAULT) -> str:
    """Chips, one per piece: the piece, its id, and the characters it came from; the legend and
    tooltips in ``language``."""
    titles = {kind: i18n.text(f"view.tok.kind.{kind}", language) for kind in KINDS}
    chips = []
    for p in pieces:
        span = "" if p.start is None else i18n.plain_text("view.tok.chars", language, start=p.start, end=p.end,
                                                     source=p.source)
        title = f"#{p.index} · id {p.id} · {titles[p.kind]}" + (f" · {span}" if span else "")
        segment = "" if p.segment is None else f" tok-seg{p.segment}"
        chips.append(
            f'<span class="tok-chip tok-{p.kind}{segment}" title="{escape(title)}" '
            f'data-start="{"" if p.start is None else p.start}" data-end="{"" if p.end is None else p.end}">'
            f'<span class="tok-text">{escape(p.token)}</span>'
            f'<span class="tok-id">{p.id}</span>'
            f'<span class="tok-src">{escape(p.source) if p.source else "&nbsp;"}</span></span>'
        )
    legend = " ".join(
        f'<span class="tok-chip tok-{kind} tok-legend">{escape(title)}</span>'
        for kind, title in titles.items()
    )
    return (
        f'<div class="tok-row" id="token-chips">{"".join(chips)}</div>'
        f'<div class="tok-legend-row">{legend}</div>'
    )


def source_html(text: str, pieces: list[Piece], segment: int = 0, language: str = i18n.DEFAULT) -> str:
    """The original text with each piece's characters underlined in turn (offsets made visible)."""
    spans = sorted((p.start, p.end, p.index) for p in pieces if p.segment == segment and p.start is not None)
    out, cursor = [], 0
    for n, (start, end, index) in enumerate(spans):
        out.append(escape(text[cursor:start]))
        shade = "a" if n % 2 == 0 else "b"
        tip = escape(i18n.text("view.tok.piece", language, index=index))
        out.append(f'<span class="src-piece src-{shade}" title="{tip}">{escape(text[start:end])}</span>')
        cursor = end
    out.append(escape(text[cursor:]))
    return f'<div class="src-text">{"".join(out)}</div>'


def batch_html(rows: list[BatchRow]) -> str:
    """The batch as the model receives it: one row per line, [PAD] greyed out (mask 0)."""
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="{"tok-masked" if m == 0 else ""}" title="id {tid}, mask {m}, type {tt}">'
            f"{escape(tok)}</td>"
            for tok, tid, m, tt in zip(row.pieces, row.input_ids, row.attention_mask, row.token_type_ids)
        )
        body.append(f"<tr><th>{i + 1}</th>{cells}</tr>")
    return f'<div class="batch-wrap"><table class="batch-grid">{"".join(body)}</table></div>'


def fill_mask_html(result: FillMaskResult, language: str = i18n.DEFAULT) -> str:
    """Every mask's ranked candidates as probability bars, plus the user's own words if asked."""
    blocks = []
    for n, mask in enumerate(result.masks, start=1):
        bars = "".join(_bar(c.word, c.score) for c in mask.candidates)
        extra = ""
        if mask.targets:
            extra = (f'<div class="bar-sub">{escape(i18n.text("view.fm.your_words", language))}</div>'
                     + "".join(_bar(c.word, c.score) for c in mask.targets))
        blocks.append(
            f'<div class="mask-block"><div class="mask-title">'
            f'{escape(i18n.plain_text("view.fm.mask_title", language, n=n, position=mask.position))}</div>'
            f"{bars}{extra}</div>"
        )
    note = ""
    if len(result.masks) > 1:
        note = f'<p class="lab-note">{escape(i18n.text("view.fm.independent", language))}</p>'
    return f'<div class="mask-grid">{"".join(blocks)}</div>{note}'


def _bar(word: str, score: float) -> str:
    pct = max(0.0, min(score, 1.0)) * 100
    return (
        f'<div class="bar-row"><span class="bar-word">{escape(word)}</span>'
        f'<span class="bar-track"><span class="bar-fill" style="width:{pct:.1f}%"></span></span>'
        f'<span class="bar-val">{pct:.1f}%</span></div>'
    )
