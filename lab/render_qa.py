"""The QA tab's views as pure functions of a ``QAResult``: highlighted context, chart, tables.

Everything from the user (context, question, tokens) goes through ``html.escape``. Styles are
inline so the view needs nothing from the stylesheet. Windows are numbered from 1 for people.
"""

from __future__ import annotations

from html import escape

from lab import i18n
from lab.qa import QAResult

ANSWER_STYLE = "background:#ffe08a;border-radius:4px;padding:1px 2px;font-weight:600"
REJECTED_STYLE = "border-bottom:2px dotted #d62728"
WINDOW_STYLE = "background:#eaf1fb;border-radius:4px"
START_COLOR, END_COLOR, CHOSEN_COLOR = "#4a7fd4", "#e08a2e", "#d62728"
OTHER_COLOR, CLS_COLOR = "#b8bec9", "#6a4c93"


def percent(p: float) -> str:
    """A probability as a percentage with 3 significant digits (0.0087% stays readable)."""
    return f"{p * 100:.3g}%"


def context_html(context: str, result: QAResult, language: str = i18n.DEFAULT) -> str:
    """The context with the answer marked and, when there are several windows, the answer's window shaded.

    With no answer, the best span is underlined (dotted) instead, to show what lost to [CLS].
    """
    best = result.best
    w_start, w_end = result.windows[best.window]
    mark_style, mark_class = (REJECTED_STYLE, "qa-rejected") if result.no_answer else (ANSWER_STYLE, "qa-mark")
    title = (i18n.text("view.qa.rejected", language) if result.no_answer
             else i18n.text("view.qa.answer", language, score=percent(best.score)))
    inner = (
        escape(context[w_start:best.char_start])
        + f'<mark class="{mark_class}" style="{mark_style}" title="{escape(title)}">'
        + escape(context[best.char_start:best.char_end]) + "</mark>"
        + escape(context[best.char_end:w_end])
    )
    n = len(result.windows)
    if n > 1:
        window = escape(i18n.text("view.qa.window", language, n=best.window + 1, total=n))
        inner = f'<span class="qa-window" style="{WINDOW_STYLE}" title="{window}">{inner}</span>'
        legend = i18n.text("view.qa.shaded", language, n=best.window + 1, total=n, start=w_start, end=w_end)
    else:
        legend = i18n.text("view.qa.one_window", language)
    body = escape(context[:w_start]) + inner + escape(context[w_end:])
    return (f'<div class="qa-passage" style="line-height:1.9;white-space:pre-wrap">{body}</div>'
            f'<p class="lab-note">{escape(legend)}</p>')


def candidate_rows(result: QAResult) -> list[dict]:
    """The top-k candidates as table rows, best first."""
    return [
        {"rank": r, "answer": c.text, "score": round(c.score, 6), "start+end logit": round(c.logit, 3),
         "window": c.window + 1, "characters": f"{c.char_start}–{c.char_end}"}
        for r, c in enumerate(result.candidates, start=1)
    ]


def token_rows(result: QAResult) -> list[dict]:
    """Per token of the answer's window: the token, its start and end probability, and its part."""
    w = result.window
    return [
        {"index": i, "token": tok, "start": round(s, 5), "end": round(e, 5),
         "part": "context" if w.context_mask[i] else ("[CLS]" if i == w.cls_index else "question/special")}
        for i, (tok, s, e) in enumerate(zip(w.tokens, result.start_probs, result.end_probs))
    ]


def raw_output(result: QAResult) -> dict:
    """What the API's JSON output holds: the answer, every candidate, and the per-token probabilities."""
    return {
        "answer": result.answer,
        "start": result.char_start,
        "end": result.char_end,
        "score": round(result.score, 5),
        "no_answer": result.no_answer,
        "null_score": round(result.null_score, 4),
        "best_span_logit": round(result.best_logit, 4),
        "window": result.best.window + 1,
        "windows": [{"window": i + 1, "start": a, "end": b} for i, (a, b) in enumerate(result.windows)],
        "max_length": result.max_length,
        "stride": result.stride,
        "candidates": candidate_rows(result),
        "tokens": token_rows(result),
    }


def _short(token: str, limit: int = 14) -> str:
    return token if len(token) <= limit else token[:limit - 1] + "…"


def _width(text: str, size: float) -> float:
    """About how wide ``text`` is drawn at ``size`` px: a CJK character takes a full em, others ~0.56."""
    return sum(size if ord(ch) > 0x2E80 else 0.56 * size for ch in text)


def probability_svg(result: QAResult, language: str = i18n.DEFAULT) -> str:
    """Start and end probability per token of the answer's window as an SVG bar chart, the chosen
    start and end in red.

    The two rows are the lecture's "two numbers per token": the answer runs from the red bar on
    top to the red bar below. Question and special tokens are grey ([CLS] purple: its share is
    the no-answer signal); spans may only use the coloured context tokens. Every bar names its
    token and both probabilities on hover, every token is labelled, and a window wider than the
    page scrolls sideways.

    SVG text rather than a matplotlib PNG: the server drew and encoded a PNG for every answer,
    ~390 ms of CPU for a 64-token window (15x the model's forward pass, and most of the CPU a
    class's QA requests took under load); this string takes ~1 ms and the browser draws it.
    """
    w, best = result.window, result.best
    n = len(w.tokens)
    col, left, right, top, row_h, gap = 13, 58, 12, 48, 110, 26  # px
    label_h = 9 + 5.6 * max(len(_short(t)) for t in w.tokens)  # rotated token labels below
    width = left + col * n + right
    height = top + 2 * row_h + gap + label_h + 8
    verdict = (i18n.text("view.qa.no_answer", language) if result.no_answer
               else i18n.text("view.qa.score", language, score=percent(best.score)))
    title = i18n.text("view.qa.title", language, n=best.window + 1, total=len(result.windows), verdict=verdict)
    words = {name: i18n.text(f"view.qa.{name}", language) for name in ("start", "end")}
    parts = [
        f'<div class="qa-chart-scroll" style="overflow-x:auto"><svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height:.0f}" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-label="{escape(title)}" style="font-family:sans-serif;background:#fff">',
        f'<text x="{left}" y="18" font-size="14" font-weight="600">{escape(title)}</text>',
    ]
    legend = ((START_COLOR, "start"), (END_COLOR, "end"), (OTHER_COLOR, "other"), (CLS_COLOR, "cls"),
              (CHOSEN_COLOR, "chosen"))
    x = left
    for color, key in legend:
        name = i18n.text(f"view.qa.legend.{key}", language)
        parts.append(f'<rect x="{x}" y="27" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14:.1f}" y="36" font-size="11" fill="#444">{escape(name)}</text>')
        x += 24 + _width(name, 11)
    for r, (probs, color, chosen, name) in enumerate((
        (result.start_probs, START_COLOR, best.start_token, "start"),
        (result.end_probs, END_COLOR, best.end_token, "end"),
    )):
        y0 = top + r * (row_h + gap) + row_h  # the row's baseline
        scale = (row_h - 16) / max(max(probs), 1e-6)  # the tallest bar leaves room for its label
        p_name = escape(i18n.text("view.qa.p", language, name=words[name]))
        parts.append(f'<text x="{left - 8}" y="{y0 - row_h / 2:.1f}" font-size="12" text-anchor="end">{p_name}</text>'
                     f'<text x="{left - 8}" y="{y0 - row_h + 20:.1f}" font-size="10" fill="#666" '
                     f'text-anchor="end">{percent(max(probs))}</text>'
                     f'<line x1="{left}" x2="{left + col * n}" y1="{y0}" y2="{y0}" stroke="#999"/>')
        for i, p in enumerate(probs):
            fill = (CHOSEN_COLOR if i == chosen else CLS_COLOR if i == w.cls_index
                    else color if w.context_mask[i] else OTHER_COLOR)
            h = max(p * scale, 0.5)  # a hairline even for ~0: every token has a visible bar
            tip = i18n.plain_text("view.qa.tip", language, token=w.tokens[i], i=i, start=percent(result.start_probs[i]),
                            end=percent(result.end_probs[i]))
            parts.append(f'<rect class="qa-bar-{name}" x="{left + i * col + 1.5}" y="{y0 - h:.1f}" '
                         f'width="{col - 3}" height="{h:.1f}" fill="{fill}"><title>{escape(tip)}</title></rect>')
        cx = left + chosen * col + col / 2
        anchor = "end" if cx > width - 90 else "start" if cx < left + 60 else "middle"  # stay inside
        parts.append(f'<text x="{cx:.1f}" y="{y0 - probs[chosen] * scale - 4:.1f}" font-size="11" '
                     f'fill="{CHOSEN_COLOR}" text-anchor="{anchor}">{escape(words[name])}: {escape(w.tokens[chosen])} '
                     f'({percent(probs[chosen])})</text>')
    y_labels = top + 2 * row_h + gap + 6
    for i, token in enumerate(w.tokens):
        cx = left + i * col + col / 2 + 3
        weight = ' font-weight="700"' if i in (best.start_token, best.end_token) else ""
        parts.append(f'<text transform="translate({cx:.1f},{y_labels:.0f}) rotate(-90)" font-size="9" '
                     f'text-anchor="end"{weight}>{escape(_short(token))}</text>')
    parts.append("</svg></div>")
    return "".join(parts)
