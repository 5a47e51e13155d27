"""Gradio's numeric inputs, checked with the field's name before any handler runs.

Through the API a slider or number box can receive ``None``, a string or NaN; Gradio's own check
then fails with a bare TypeError ("Error" in the UI). These subclasses answer such a value with
the field's label and range. Same class names as Gradio's: the browser draws them as usual.
"""

from __future__ import annotations

import math

import gradio as gr


def check_number(value, label: str, minimum: float | None, maximum: float | None):
    """``value`` if it is a finite number within [minimum, maximum]; otherwise a gr.Error naming the field."""
    bounds = f" between {minimum:g} and {maximum:g}" if minimum is not None and maximum is not None else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise gr.Error(f"{label} must be a number{bounds} (got {value!r}).", print_exception=False)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise gr.Error(f"{label} must be{bounds or ' in range'} (got {value:g}).", print_exception=False)
    return value

from gradio.events import Dependency

class Slider(gr.Slider):
    def preprocess(self, payload):
        check_number(payload, self.label or "This slider", self.minimum, self.maximum)
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Number(gr.Number):
    def preprocess(self, payload):
        check_number(payload, self.label or "This number", self.minimum, self.maximum)
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component