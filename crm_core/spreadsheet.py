"""CSV cells that a spreadsheet program will not run as formulas (CSV injection).

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with
an apostrophe, which spreadsheets show as text. Numbers stay numbers: only `str` values
are touched, so a negative figure in a report is still a figure.
"""

from __future__ import annotations

from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
