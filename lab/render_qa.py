"""The QA tab's views as pure functions of a ``QAResult``: highlighted context, chart, tables.

Everything from the user (context, question, tokens) goes through ``html.escape``. Styles are
inline so the view needs nothing from the stylesheet. Windows are numbered from 1 for people.
"""

from __future__ import annotations

from html import escape

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from lab.qa import QAResult

ANSWER_STYLE = "background:#ffe08a;border-radius:4px;padding:1px 2px;font-weight:600"
REJECTED_STYLE = "border-bottom:2px dotted #d62728"
WINDOW_STYLE = "background:#eaf1fb;border-radius:4px"
START_COLOR, END_COLOR, CHOSEN_COLOR = "#4a7fd4", "#e08a2e", "#d62728"
OTHER_COLOR, CLS_COLOR = "#b8bec9", "#6a4c93"
MAX_TICK_LABELS = 60
BAR_WIDTH = 0.85  # in tokens


def percent(p: float) -> str:
    """A probability as a percentage with 3 significant digits (0.0087% stays readable)."""
    return f"{p * 100:.3g}%"


def context_html(context: str, result: QAResult) -> str:
    """The context with the answer marked and, when there are several windows, the answer's window shaded.

    With no answer, the best span is underlined (dotted) instead, to show what lost to [CLS].
    """
    best = result.best
    w_start, w_end = result.windows[best.window]
    mark_style, mark_class = (REJECTED_STYLE, "qa-rejected") if result.no_answer else (ANSWER_STYLE, "qa-mark")
    title = "best span, below the no-answer score" if result.no_answer else f"answer, score {percent(best.score)}"
    inner = (
        escape(context[w_start:best.char_start])
        + f'<mark class="{mark_class}" style="{mark_style}" title="{escape(title)}">'
        + escape(context[best.char_start:best.char_end]) + "</mark>"
        + escape(context[best.char_end:w_end])
    )
    n = len(result.windows)
    if n > 1:
        inner = (f'<span class="qa-window" style="{WINDOW_STYLE}" title="window {best.window + 1} of {n}">'
                 f"{inner}</span>")
        legend = (f"Shaded: window {best.window + 1} of {n}, the one the answer came from "
                  f"(characters {w_start}–{w_end}).")
    else:
        legend = "The whole context fits in one window."
    body = escape(context[:w_start]) + inner + escape(context[w_end:])
    return (f'<div class="qa-passage" style="line-height:1.9;white-space:pre-wrap">{body}</div>'
            f'<p class="lab-note">{legend}</p>')


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


def probability_figure(result: QAResult) -> Figure:
    """Start and end probability per token of the answer's window, the chosen start and end in red.

    The two rows are the lecture's "two numbers per token": the answer runs from the red bar on
    top to the red bar below. Question and special tokens are grey ([CLS] purple: its share is
    the no-answer signal); spans may only use the coloured context tokens.
    """
    w, best = result.window, result.best
    n = len(w.tokens)
    # The server draws this for every answer, so it is built for speed (it was most of a QA call's
    # time): fixed margins in inches instead of a layout engine (which draws the figure to lay it
    # out), each row's bars as one collection instead of a patch per token, tick labels once.
    width, height = min(16.0, max(8.0, 0.16 * n)), 5.0
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=1.25 / height, top=1 - 0.45 / height,
                        hspace=0.12)
    ax_start, ax_end = fig.subplots(2, 1)
    for ax, probs, color, chosen, name in (
        (ax_start, result.start_probs, START_COLOR, best.start_token, "start"),
        (ax_end, result.end_probs, END_COLOR, best.end_token, "end"),
    ):
        colors = [
            CHOSEN_COLOR if i == chosen else CLS_COLOR if i == w.cls_index
            else color if w.context_mask[i] else OTHER_COLOR
            for i in range(n)
        ]
        half = BAR_WIDTH / 2
        bars = [((i - half, 0.0), (i - half, p), (i + half, p), (i + half, 0.0)) for i, p in enumerate(probs)]
        ax.add_collection(PolyCollection(bars, facecolors=colors, edgecolors="none"))
        ax.set_xlim(-0.5 - 0.02 * n, n - 0.5 + 0.02 * n)
        ax.set_ylabel(f"P({name})")
        ax.set_ylim(0, max(max(probs) * 1.25, 1e-6))
        ax.annotate(f"{name}: {w.tokens[chosen]} ({percent(probs[chosen])})", xy=(chosen, probs[chosen]),
                    xytext=(0, 4), textcoords="offset points", ha="center", color=CHOSEN_COLOR, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    step = 1 if n <= MAX_TICK_LABELS else -(-n // MAX_TICK_LABELS)
    ticks = sorted(set(range(0, n, step)) | {best.start_token, best.end_token})
    ax_start.set_xticks([])  # the rows share their tokens: labelled once, below
    ax_end.set_xticks(ticks, [w.tokens[i] for i in ticks], rotation=90, fontsize=8)
    ax_end.set_xlabel("tokens of the window")
    verdict = "no answer ([CLS] wins)" if result.no_answer else f"answer score {percent(best.score)} = P(start) × P(end)"
    fig.suptitle(f"Window {best.window + 1} of {len(result.windows)} · {verdict}", fontsize=11)
    return fig
