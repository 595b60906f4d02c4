"""Daily, weekly, monthly, quarterly and annual call-center statistics per queue, team and agent.

`periods` says what a report covers, `aggregate` keeps the `report_daily`
pre-aggregate equal to the call records (ADR 0021), `service` reads a report from it,
`figures` is the document it answers (ADR 0092) and `export` its CSV file. Every
figure's formula: docs/metrics.md.
"""

from crm_core.services.reports.export import render_csv
from crm_core.services.reports.figures import (
    COLUMNS,
    DayFigures,
    Report,
    ReportDocument,
    ReportRow,
    Sums,
)
from crm_core.services.reports.periods import Grouping, Period, ReportConfig, period_bounds
from crm_core.services.reports.service import ReportService

__all__ = [
    "COLUMNS",
    "DayFigures",
    "Grouping",
    "Period",
    "Report",
    "ReportConfig",
    "ReportDocument",
    "ReportRow",
    "ReportService",
    "Sums",
    "period_bounds",
    "render_csv",
]
