"""Exported tables that a spreadsheet opens as data, never as formulas.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run by Excel,
LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|...``). OWASP's advice for
CSV injection: prefix such a cell with a single quote, which the spreadsheet shows as text. Only
text cells change; numbers (a negative loss included) stay numbers.
"""

from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """``value`` as a spreadsheet should read it: text that would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell (and column name) passed through ``cell``."""
    out = table.map(cell)
    out.columns = [cell(c) for c in table.columns]
    return out


def nested(value: object) -> object:
    """JSON-able data (dicts, lists, scalars) with every text value passed through ``cell``; keys too."""
    if isinstance(value, dict):
        return {cell(k): nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nested(v) for v in value]
    return cell(value)
