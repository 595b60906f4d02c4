"""A report as a CSV file for spreadsheet programs."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from crm_core.services.reports.figures import COLUMNS, Report
from crm_core.spreadsheet import safe_cell


def render_csv(report: Report) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs show Chinese names correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in [*report.rows, report.total]:
        writer.writerow(_cells(row))
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _cells(row: Mapping[str, object]) -> list[object]:
    # agent and queue names come from people: no formula runs when the file is opened
    return ["" if row[c] is None else safe_cell(row[c]) for c in COLUMNS]
