"""The report document: a row of figures per group and the period's total, the per-day
series, and the additive counters they are computed from. The documents are TypedDicts
(ADR 0092): the JSON the console answers, checked by mypy here and by the console's
declared reply model there. Every figure's formula: docs/metrics.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

# pydantic validates TypedDicts from typing_extensions only before Python 3.12
from typing_extensions import TypedDict

from crm_core.domain.rounding import average, ratio
from crm_core.services.reports.periods import Grouping, Period


class ReportRow(TypedDict):
    """The figures of one group (a queue, team or agent) or of the total, in column order.
    A share or an average is null where it has no denominator (no calls)."""

    group: str
    calls_in: int
    calls_out: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    abandon_rate: float | None
    service_level: float | None
    avg_wait_seconds: float | None
    avg_talk_seconds: float | None
    within_3_rings_share: float | None
    missed_rings: int
    callbacks: int
    callbacks_within_window: int
    callbacks_within_window_share: float | None
    satisfaction_avg: float | None
    satisfaction_answers: int
    complaints_opened: int
    complaints_closed: int


# the columns of the table and of the CSV file: the row's keys, in their order
COLUMNS: Final[tuple[str, ...]] = tuple(ReportRow.__annotations__)


class DayFigures(TypedDict):
    """One day of the period's series (the charts)."""

    day: str  # YYYY-MM-DD
    calls_in: int
    answered: int
    abandoned: int


class ReportDocument(TypedDict):
    """A report as JSON (`GET /api/reports/{period}`)."""

    period: str
    group: str
    start: str  # first local day, YYYY-MM-DD
    end: str  # last local day (inclusive)
    columns: list[str]
    rows: list[ReportRow]
    total: ReportRow
    days: list[DayFigures]


@dataclass(slots=True)
class Sums:
    """Additive counters of one group; the shown figures are ratios of these."""

    calls_in: int = 0
    calls_out: int = 0
    offered: int = 0
    answered: int = 0
    answered_out: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    within_sl: int = 0
    within_rings: int = 0
    wait_answered_sum: float = 0.0
    talk_sum: float = 0.0
    missed_rings: int = 0
    callbacks: int = 0
    callbacks_in_time: int = 0
    survey_sum: int = 0
    survey_count: int = 0
    complaints_opened: int = 0
    complaints_closed: int = 0

    def figures(self, group: str) -> ReportRow:
        return {
            "group": group,
            "calls_in": self.calls_in,
            "calls_out": self.calls_out,
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "abandon_rate": ratio(
                self.abandoned - self.short_abandoned, self.offered - self.short_abandoned
            ),
            "service_level": ratio(self.within_sl, self.offered - self.short_abandoned),
            "avg_wait_seconds": average(self.wait_answered_sum, self.answered),
            "avg_talk_seconds": average(self.talk_sum, self.answered + self.answered_out),
            "within_3_rings_share": ratio(self.within_rings, self.answered),
            "missed_rings": self.missed_rings,
            "callbacks": self.callbacks,
            "callbacks_within_window": self.callbacks_in_time,
            "callbacks_within_window_share": ratio(self.callbacks_in_time, self.callbacks),
            "satisfaction_avg": average(float(self.survey_sum), self.survey_count, 2),
            "satisfaction_answers": self.survey_count,
            "complaints_opened": self.complaints_opened,
            "complaints_closed": self.complaints_closed,
        }


@dataclass(slots=True)
class Report:
    period: Period
    grouping: Grouping
    start: date  # first local day
    end: date  # last local day (inclusive)
    rows: list[ReportRow]
    total: ReportRow
    days: list[DayFigures] = field(default_factory=list)  # per-day series for charts

    def to_json(self) -> ReportDocument:
        return {
            "period": self.period.value,
            "group": self.grouping.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "columns": list(COLUMNS),
            "rows": self.rows,
            "total": self.total,
            "days": self.days,
        }
