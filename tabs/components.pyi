"""Gradio's numeric inputs, checked with the field's name before any handler runs.

Through the API a slider or number box can receive ``None``, a string or NaN; Gradio's own check
then fails with a bare TypeError ("Error" in the UI). These subclasses answer such a value with
the field's label and range. Same class names as Gradio's: the browser draws them as usual.
"""

from __future__ import annotations

import math

import gradio as gr

from lab import i18n
from tabs.i18n import request_language


def _name(label, fallback: str, language: str) -> str:
    """A field's label as words: a translated label is said in ``language``."""
    if isinstance(label, gr.i18n.I18nData):
        return i18n.text(label.key, language)
    return str(label) if label else i18n.text(fallback, language)


def check_number(value, label, minimum: float | None, maximum: float | None, fallback: str = "shared.this_field"):
    """``value`` if it is a finite number within [minimum, maximum]; otherwise a gr.Error naming the
    field, in the language of the request."""
    language = request_language()
    name = _name(label, fallback, language)
    bounded = minimum is not None and maximum is not None
    values = {"name": name, "min": f"{minimum:g}", "max": f"{maximum:g}"} if bounded else {"name": name}
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        key = "shared.number.not_a_number" + ("_between" if bounded else "")
        raise gr.Error(i18n.text(key, language, got=repr(value), **values), print_exception=False)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        key = "shared.number.out_of_range" + ("_between" if bounded else "")
        raise gr.Error(i18n.text(key, language, got=f"{value:g}", **values), print_exception=False)
    return value

from gradio.events import Dependency

class Slider(gr.Slider):
    def preprocess(self, payload):
        check_number(payload, self.label, self.minimum, self.maximum, "shared.this_slider")
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Number(gr.Number):
    def preprocess(self, payload):
        check_number(payload, self.label, self.minimum, self.maximum, "shared.this_number")
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component