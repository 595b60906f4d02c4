"""What a report covers: its period (a day, week, month, quarter or year), how its rows are grouped,
and the thresholds and time zone its figures are counted under."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


class Period(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


class Grouping(enum.StrEnum):
    QUEUE = "queue"
    TEAM = "team"
    AGENT = "agent"


NONE_LABEL = "(none)"  # the group of calls without a queue, agent or team


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportConfig:
    service_level_seconds: float = 20.0
    ring_limit_seconds: float = 15.0
    short_abandon_seconds: float = 5.0
    timezone: str = "Asia/Shanghai"

    @property
    def thresholds(self) -> str:
        values = (self.service_level_seconds, self.ring_limit_seconds, self.short_abandon_seconds)
        return "/".join(f"{v:g}" for v in values)


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """First and last local day (inclusive) of the period containing `day`."""
    if period is Period.DAILY:
        return day, day
    if period is Period.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if period is Period.ANNUAL:
        return date(day.year, 1, 1), date(day.year, 12, 31)
    months = 1 if period is Period.MONTHLY else 3  # a calendar month or quarter
    first_month = months * ((day.month - 1) // months) + 1
    start = date(day.year, first_month, 1)
    after = first_month + months  # 13: January of the next year
    nxt = date(day.year + 1, 1, 1) if after > 12 else date(day.year, after, 1)
    return start, nxt - timedelta(days=1)


def days_between(start: date, end: date) -> list[date]:
    """Every day of [start, end]."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def day_start(day: date, tz: tzinfo) -> datetime:
    """The UTC moment a local day begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def as_date(value: object) -> date:
    """A day as a database driver returns it: a date, a datetime or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
