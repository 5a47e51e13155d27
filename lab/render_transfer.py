"""Small value grids as HTML tables (the contextual-vector view): a number in every cell, shaded by it."""

from __future__ import annotations

import unicodedata
from html import escape

import numpy as np

from lab import i18n


def grid_html(rows: list[str], columns: list[str], values: np.ndarray, caption: str = "",
              low: float = 0.0, high: float = 1.0, elem_class: str = "lab-grid") -> str:
    """``values[i, j]`` under ``columns[j]`` in row ``rows[i]``; the shade runs from ``low`` (white) to
    ``high`` (full blue), so grids drawn with the same bounds compare by eye. Labels are escaped."""
    values = np.asarray(values, dtype=float)
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"values {values.shape} do not fit {len(rows)} rows x {len(columns)} columns")
    shade = np.clip((values - low) / (high - low or 1.0), 0.0, 1.0)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for i, name in enumerate(rows):
        cells = "".join(
            f'<td data-v="{values[i, j]:.4f}" title="{escape(name)} · {escape(columns[j])}: {values[i, j]:.3f}" '
            f'style="background:rgba(74,127,212,{shade[i, j]:.2f})">{values[i, j]:.2f}</td>'
            for j in range(len(columns))
        )
        body.append(f'<tr><th class="grid-row">{escape(name)}</th>{cells}</tr>')
    note = f'<p class="lab-note">{escape(caption)}</p>' if caption else ""
    return (f"<style>{_CSS}</style><div class=\"grid-wrap\">{note}<table class=\"{elem_class}\">"
            f"<tr><th></th>{head}</tr>{''.join(body)}</table></div>")


def short(text: str, limit: int = 60) -> str:
    """A sentence as a row label: cut with an ellipsis past ``limit`` characters."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


_CSS = (
    ".grid-wrap{overflow:auto}"
    ".lab-grid{border-collapse:collapse;font-size:13px}"
    ".lab-grid th{padding:3px 6px;font-weight:normal;white-space:nowrap}"
    ".lab-grid th.grid-row{text-align:right;max-width:420px;overflow:hidden;text-overflow:ellipsis}"
    ".lab-grid td{padding:3px 8px;text-align:center;font-family:ui-monospace,monospace;"
    "border:1px solid rgba(128,128,128,.15)}"
)


PALETTE = ("#4a7fd4", "#d4634a", "#3f9e6b", "#9a5fc2")


def _columns(text: str) -> int:
    """How many narrow characters ``text`` is as wide as: a Chinese character counts two (room for a legend)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def log_curves_svg(points: list[tuple[str, int, float]], title: str = "", width: int = 640,
                   height: int = 320, language: str = i18n.DEFAULT) -> str:
    """Accuracy (0..1) against examples on a log₂ axis, one line per series: (series, examples, accuracy).
    The axis title and the points' tooltips are in ``language``; the series names as given.

    Gradio's plots have no log axis; 16, 64, 256 and 1,024 examples sit evenly spaced here, as the
    lecture draws them. Each point has a tooltip with its numbers; series keep their order of appearance.
    """
    import math

    left, right, top, bottom = 48, 200, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = sorted({n for _, n, _ in points}) or [16, 1024]
    low, high = math.log2(min(xs[0], 16)), math.log2(max(xs[-1], 64))

    def px(n: int) -> float:
        return left + (math.log2(n) - low) / (high - low) * plot_w

    def py(acc: float) -> float:
        return top + (1 - acc) * plot_h

    def point(name: str, n: int, acc: float) -> str:
        return i18n.plain_text("transfer.chart.point", language, series=name, examples=f"{n:,}", accuracy=f"{acc:.1%}")

    parts = [f'<text x="{left}" y="16" class="c-title">{escape(title)}</text>']
    for acc in (0, 0.25, 0.5, 0.75, 1.0):
        y = py(acc)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="c-grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{acc:.0%}</text>')
    ticks = sorted({*xs, *[2 ** k for k in range(int(low), int(high) + 1, 2)]})
    for n in ticks:
        parts.append(f'<text x="{px(n):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{n:,}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">'
                 f'{escape(i18n.text("transfer.chart.x_axis", language))}</text>')
    series = list(dict.fromkeys(name for name, _, _ in points))
    for k, name in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        line = sorted((n, acc) for s, n, acc in points if s == name)
        path = " ".join(f"{px(n):.1f},{py(acc):.1f}" for n, acc in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, acc in line:
            parts.append(f'<circle cx="{px(n):.1f}" cy="{py(acc):.1f}" r="4" fill="{colour}" class="c-point" '
                         f'data-series="{escape(name)}" data-examples="{n}" data-accuracy="{acc:.4f}">'
                         f'<title>{escape(point(name, n, acc))}</title></circle>')
        y = top + 14 + 20 * k
        parts.append(f'<rect x="{left + plot_w + 14}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left + plot_w + 32}" y="{y + 1}">{escape(name)}</text>')
    style = ("<style>.lab-curves text{font-size:12px;fill:currentColor}.lab-curves .c-title{font-size:14px}"
             ".lab-curves .c-grid{stroke:rgba(128,128,128,.25)}</style>")
    return (f'{style}<svg class="lab-curves" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')


def grouped_bars_svg(groups: list[str], series: list[str], values: dict[tuple[str, str], float], title: str = "",
                     chance: float | None = None, chance_label: str = "", width: int = 720,
                     height: int = 320) -> str:
    """Accuracy (0..1) as bars grouped on the x axis: ``values[(series, group)]``, one colour per series
    (legend on the right, wide enough for the longest name), a dashed line at ``chance`` when given
    (named in the legend). Names are shown as given, escaped; each bar has a tooltip with its numbers
    and data attributes a test can read."""
    longest = max([_columns(name) for name in (*series, chance_label)] or [0])
    left, right, top, bottom = 48, 48 + 7 * longest, 28, 40
    plot_w, plot_h = max(width - left - right, 240), height - top - bottom
    width = left + plot_w + right
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)

    def py(acc: float) -> float:
        return top + (1 - acc) * plot_h

    parts = [f'<text x="{left}" y="16" class="c-title">{escape(title)}</text>']
    for acc in (0, 0.25, 0.5, 0.75, 1.0):
        y = py(acc)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="c-grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{acc:.0%}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        parts.append(f'<text x="{left + (g + 0.5) * slot:.1f}" y="{top + plot_h + 18}" '
                     f'text-anchor="middle">{escape(group)}</text>')
        for k, name in enumerate(series):
            if (name, group) not in values:
                continue
            acc = values[name, group]
            x, y = x0 + k * bar, py(acc)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{top + plot_h - y:.1f}" '
                         f'fill="{PALETTE[k % len(PALETTE)]}" class="c-bar" data-series="{escape(name)}" '
                         f'data-group="{escape(group)}" data-accuracy="{acc:.4f}">'
                         f'<title>{escape(name)} · {escape(group)}: {acc:.1%}</title></rect>'
                         f'<text x="{x + bar / 2 - 1:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                         f'class="c-value">{acc:.0%}</text>')
    legend = left + plot_w + 14
    for k, name in enumerate(series):
        y = top + 14 + 20 * k
        parts.append(f'<rect x="{legend}" y="{y - 9}" width="12" height="12" '
                     f'fill="{PALETTE[k % len(PALETTE)]}"/><text x="{legend + 18}" y="{y + 1}">'
                     f'{escape(name)}</text>')
    if chance is not None:
        y = py(chance)
        key = top + 14 + 20 * len(series)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="c-chance"/>'
                     f'<line x1="{legend}" x2="{legend + 12}" y1="{key - 3}" y2="{key - 3}" class="c-chance"/>'
                     f'<text x="{legend + 18}" y="{key + 1}">{escape(chance_label)} ({chance:.0%})</text>')
    style = ("<style>.lab-bars text{font-size:12px;fill:currentColor}.lab-bars .c-title{font-size:14px}"
             ".lab-bars .c-value{font-size:10px}.lab-bars .c-grid{stroke:rgba(128,128,128,.25)}"
             ".lab-bars .c-chance{stroke:currentColor;stroke-dasharray:4 3;opacity:.6}</style>")
    return (f'{style}<svg class="lab-bars" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')


# A language's marker on the translations map: the shape tells the language, the colour the label.
SHAPES = ("circle", "square", "triangle")
LABEL_COLOURS = ("#3f9e6b", "#d4634a", "#4a7fd4", "#9a5fc2")  # the first label green, the second red


def _marker(shape: str, x: float, y: float, colour: str, attributes: str, tip: str) -> str:
    body = f'fill="{colour}" stroke="#fff" stroke-width="0.8" {attributes}><title>{escape(tip)}</title>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" {body}</rect>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}" {body}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" {body}</circle>'


def translation_map_svg(points: np.ndarray, languages: list[str], labels: list[str], texts: list[str],
                        pairs: list[int], language_names: dict[str, str], label_names: dict[str, str],
                        title: str = "", subtitle: str = "", width: int = 460, height: int = 420) -> str:
    """A 2-D map of sentences in several languages: one marker per sentence (shape: its language in the
    order of ``language_names``; colour: its label in the order of ``label_names``, the first green, the
    second red), a thin line joining a
    sentence to its translations (the points sharing its number in ``pairs``). Texts are escaped tooltips."""
    points = np.asarray(points, dtype=float)
    left, right, top, bottom = 12, 12, 44, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = points.min(0), points.max(0)
    span = np.where(high - low > 0, high - low, 1.0)

    def xy(i: int) -> tuple[float, float]:
        u = (points[i] - low) / span
        return left + u[0] * plot_w, top + (1 - u[1]) * plot_h

    shape = {lang: SHAPES[k % len(SHAPES)] for k, lang in enumerate(language_names)}
    colour = {label: LABEL_COLOURS[k % len(LABEL_COLOURS)] for k, label in enumerate(label_names)}
    parts = [f'<text x="{left}" y="16" class="c-title">{escape(title)}</text>',
             f'<text x="{left}" y="34">{escape(subtitle)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="c-frame"/>']
    groups: dict[int, list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(pair, []).append(i)
    for pair, members in groups.items():
        path = " ".join("{:.1f},{:.1f}".format(*xy(i)) for i in members + members[:1])
        parts.append(f'<polyline points="{path}" class="c-link" data-pair="{pair}"/>')
    for i in range(len(points)):
        x, y = xy(i)
        parts.append(_marker(shape[languages[i]], x, y, colour[labels[i]],
                             f'class="c-point" data-pair="{pairs[i]}" data-language="{escape(languages[i])}"',
                             f"{pairs[i] + 1}. {language_names[languages[i]]} · {label_names[labels[i]]}: {texts[i]}"))
    x, y = left, top + plot_h + 20
    for lang, name in language_names.items():
        parts.append(_marker(shape[lang], x + 5, y - 4, "#888", "", name)
                     + f'<text x="{x + 14}" y="{y}">{escape(name)}</text>')
        x += 22 + 7 * _columns(name)
    x, y = left, top + plot_h + 42
    for label, name in label_names.items():
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour[label]}"/>'
                     f'<text x="{x + 14}" y="{y}">{escape(name)}</text>')
        x += 22 + 7 * _columns(name)
    style = ("<style>.lab-tmap text{font-size:12px;fill:currentColor}.lab-tmap .c-title{font-size:14px}"
             ".lab-tmap .c-frame{fill:none;stroke:rgba(128,128,128,.3)}"
             ".lab-tmap .c-link{fill:none;stroke:rgba(128,128,128,.45);stroke-width:1}</style>")
    return (f'{style}<svg class="lab-tmap" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')
