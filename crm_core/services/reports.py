"""Daily, weekly and quarterly call-center statistics per queue, team and agent.

Call figures come from the `report_daily` pre-aggregate (ADR 0021): one row per local
day × queue × agent × direction, counted from `calls`/`call_offers` with SQL
aggregates. A watermark on `calls.id` tells which days got new call rows since they
were counted; those days (and days never counted, or counted under other thresholds)
are recounted before a report is read, so a report always equals its raw records.
Callbacks, surveys and complaints are small tables: they are aggregated straight
from their rows. Every figure's formula: docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.report_tables import report_daily, report_days, report_watermark
from crm_core.spreadsheet import safe_cell


class Period(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    QUARTERLY = "quarterly"


class Grouping(enum.StrEnum):
    QUEUE = "queue"
    TEAM = "team"
    AGENT = "agent"


NONE_LABEL = "(none)"


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


COLUMNS = (
    "group",
    "calls_in",
    "calls_out",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "abandon_rate",
    "service_level",
    "avg_wait_seconds",
    "avg_talk_seconds",
    "within_3_rings_share",
    "missed_rings",
    "callbacks",
    "callbacks_within_window",
    "callbacks_within_window_share",
    "satisfaction_avg",
    "satisfaction_answers",
    "complaints_opened",
    "complaints_closed",
)


class _DayCounts(TypedDict):
    """One row of `report_daily` (a day, queue, agent and direction) as counted."""

    calls: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within_sl: int
    answered_within_rings: int
    wait_answered_sum: float
    talk_sum: float
    hold_sum: float
    missed_rings: int


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

    def figures(self, group: str) -> dict[str, Any]:
        return {
            "group": group,
            "calls_in": self.calls_in,
            "calls_out": self.calls_out,
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "abandon_rate": _ratio(
                self.abandoned - self.short_abandoned, self.offered - self.short_abandoned
            ),
            "service_level": _ratio(self.within_sl, self.offered - self.short_abandoned),
            "avg_wait_seconds": _avg(self.wait_answered_sum, self.answered),
            "avg_talk_seconds": _avg(self.talk_sum, self.answered + self.answered_out),
            "within_3_rings_share": _ratio(self.within_rings, self.answered),
            "missed_rings": self.missed_rings,
            "callbacks": self.callbacks,
            "callbacks_within_window": self.callbacks_in_time,
            "callbacks_within_window_share": _ratio(self.callbacks_in_time, self.callbacks),
            "satisfaction_avg": _avg(float(self.survey_sum), self.survey_count, 2),
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
    rows: list[dict[str, Any]]
    total: dict[str, Any]
    days: list[dict[str, Any]] = field(default_factory=list)  # per-day series for charts

    def to_json(self) -> dict[str, Any]:
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


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """First and last local day (inclusive) of the period containing `day`."""
    if period is Period.DAILY:
        return day, day
    if period is Period.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    nxt = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
    return start, nxt - timedelta(days=1)


def render_csv(report: Report) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs show Chinese names correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in [*report.rows, report.total]:
        # agent and queue names come from people: no formula runs when the file is opened
        writer.writerow(["" if row[c] is None else safe_cell(row[c]) for c in COLUMNS])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


class ReportService:
    def __init__(
        self,
        engine: AsyncEngine,
        config: ReportConfig | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or ReportConfig()
        self._tz: tzinfo = ZoneInfo(self.config.timezone)
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = asyncio.Lock()

    # --- days ---------------------------------------------------------------------------

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self._tz).date()

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self._tz).astimezone(UTC)

    # --- the pre-aggregate ----------------------------------------------------------------

    async def ensure_fresh(self, start: date, end: date) -> int:
        """Recount the days in [start, end] that are stale; returns how many were."""
        async with self._lock:
            for attempt in (1, 2):
                try:
                    return await self._ensure_fresh(start, end)
                except IntegrityError:
                    # another instance recounted the same day at the same moment
                    if attempt == 2:
                        raise
        return 0

    async def _ensure_fresh(self, start: date, end: date) -> int:
        async with self.engine.begin() as conn:
            max_pk = (await conn.execute(select(func.max(t.calls.c.id)))).scalar() or 0
            mark = (
                await conn.execute(
                    select(report_watermark.c.last_call_pk).where(report_watermark.c.id == 1)
                )
            ).scalar()
            if mark is None or max_pk > mark:
                lo, hi = (
                    await conn.execute(
                        select(func.min(t.calls.c.started_at), func.max(t.calls.c.started_at))
                        .select_from(t.calls)
                        .where(t.calls.c.id > (mark or 0))
                    )
                ).one()
                if lo is not None and hi is not None:
                    await conn.execute(
                        delete(report_days).where(
                            report_days.c.day.between(self._as_day(lo), self._as_day(hi))
                        )
                    )
                if mark is None:
                    await conn.execute(insert(report_watermark).values(id=1, last_call_pk=max_pk))
                else:
                    await conn.execute(
                        report_watermark.update()
                        .where(report_watermark.c.id == 1)
                        .values(last_call_pk=max_pk)
                    )
            fresh = {
                row.day
                for row in await conn.execute(
                    select(report_days.c.day).where(
                        report_days.c.day.between(start, end),
                        report_days.c.thresholds == self.config.thresholds,
                    )
                )
            }
            stale = [d for d in _days(start, end) if d not in fresh]
            if stale:
                await self._count_days(conn, stale[0], stale[-1])
        return len(stale)

    def _as_day(self, value: object) -> date:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return self.local_day(value)

    async def rebuild(self, start: date, end: date) -> None:
        """Recount every day of [start, end] (after a bulk import, for instance)."""
        async with self._lock, self.engine.begin() as conn:
            await self._count_days(conn, start, end)

    async def _count_days(self, conn: AsyncConnection, first: date, last: date) -> None:
        """Recount [first, last]: PostgreSQL in one pass over the span (the local day is
        computed by the server), SQLite a day at a time (no time-zone functions)."""
        if conn.dialect.name == "postgresql":
            local = func.timezone(self.config.timezone, t.calls.c.started_at)
            await self._count_span(conn, first, last, func.date(local))
        else:
            for day in _days(first, last):
                await self._count_span(conn, day, day, None)

    async def _count_span(
        self, conn: AsyncConnection, first: date, last: date, day_expr: ColumnElement[date] | None
    ) -> None:
        cfg = self.config
        c = t.calls.c
        lo, hi = self.day_start(first), self.day_start(last + timedelta(days=1))
        day_key = day_expr if day_expr is not None else literal(first.isoformat())
        answered = c.outcome == "answered"
        inbound = c.direction == "inbound"
        queue_key = func.coalesce(c.queue, literal(""))
        agent_key = func.coalesce(c.agent, literal(""))
        stmt = (
            select(
                day_key.label("d"),
                queue_key.label("q"),
                agent_key.label("a"),
                c.direction,
                func.count().label("calls"),
                func.sum(case((answered, 1), else_=0)).label("answered"),
                func.sum(case((c.outcome == "abandoned", 1), else_=0)).label("abandoned"),
                func.sum(
                    case(
                        (
                            and_(
                                c.outcome == "abandoned",
                                c.wait_seconds < cfg.short_abandon_seconds,
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ).label("short"),
                func.sum(
                    case(
                        (and_(answered, c.wait_seconds <= cfg.service_level_seconds), 1),
                        else_=0,
                    )
                ).label("sl"),
                func.sum(
                    case((and_(answered, c.ring_seconds <= cfg.ring_limit_seconds), 1), else_=0)
                ).label("rings"),
                func.sum(case((and_(answered, inbound), c.wait_seconds), else_=0.0)).label("wait"),
                func.sum(case((answered, c.talk_seconds), else_=0.0)).label("talk"),
                func.sum(case((answered, c.hold_seconds), else_=0.0)).label("hold"),
            )
            .where(c.started_at >= lo, c.started_at < hi)
            .group_by(day_key, queue_key, agent_key, c.direction)
        )

        def as_day(value: object) -> date:
            return first if day_expr is None else _to_date(value)

        rows: dict[tuple[date, str, str, str], _DayCounts] = {}
        for r in await conn.execute(stmt):
            rows[(as_day(r.d), r.q, r.a, r.direction)] = {
                "calls": int(r.calls),
                "answered": int(r.answered or 0),
                "abandoned": int(r.abandoned or 0),
                "short_abandoned": int(r.short or 0),
                "answered_within_sl": int(r.sl or 0),
                "answered_within_rings": int(r.rings or 0),
                "wait_answered_sum": float(r.wait or 0.0),
                "talk_sum": float(r.talk or 0.0),
                "hold_sum": float(r.hold or 0.0),
                "missed_rings": 0,
            }
        o = t.call_offers.c
        offer_queue = func.coalesce(o.queue, c.queue, literal(""))
        offer_agent = func.coalesce(o.agent, literal(""))
        missed = (
            select(
                day_key.label("d"),
                offer_queue.label("q"),
                offer_agent.label("a"),
                c.direction,
                func.count(),
            )
            .select_from(t.call_offers.join(t.calls, t.calls.c.id == o.call_pk))
            .where(c.started_at >= lo, c.started_at < hi, o.result == "no_answer")
            .group_by(day_key, offer_queue, offer_agent, c.direction)
        )
        for d, q, a, direction, n in await conn.execute(missed):
            row = rows.setdefault((as_day(d), q, a, direction), _empty_row())
            row["missed_rings"] += int(n)
        span = report_daily.c.day.between(first, last)
        await conn.execute(delete(report_daily).where(span))
        await conn.execute(delete(report_days).where(report_days.c.day.between(first, last)))
        if rows:
            await conn.execute(
                insert(report_daily),
                [
                    {"day": day, "queue": q, "agent": a, "direction": d, **vals}
                    for (day, q, a, d), vals in rows.items()
                ],
            )
        now = self._now()
        await conn.execute(
            insert(report_days),
            [
                {"day": day, "refreshed_at": now, "thresholds": self.config.thresholds}
                for day in _days(first, last)
            ],
        )

    # --- reading ------------------------------------------------------------------------

    async def report(self, period: Period, day: date, grouping: Grouping) -> Report:
        start, end = period_bounds(period, day)
        await self.ensure_fresh(start, end)
        sums: dict[str, Sums] = {}
        total = Sums()
        async with self.engine.connect() as conn:
            teams = await self._teams_of_agents(conn) if grouping is Grouping.TEAM else {}

            def key(queue: str | None, agent: str | None) -> str:
                if grouping is Grouping.QUEUE:
                    return queue or NONE_LABEL
                if grouping is Grouping.AGENT:
                    return agent or NONE_LABEL
                return teams.get(agent or "", NONE_LABEL)

            def bucket(queue: str | None, agent: str | None) -> Iterable[Sums]:
                k = key(queue, agent)
                s = sums.get(k)
                if s is None:
                    s = sums[k] = Sums()
                return (s, total)

            d = report_daily.c
            by_group = await conn.execute(
                select(
                    d.queue,
                    d.agent,
                    d.direction,
                    func.sum(d.calls),
                    func.sum(d.answered),
                    func.sum(d.abandoned),
                    func.sum(d.short_abandoned),
                    func.sum(d.answered_within_sl),
                    func.sum(d.answered_within_rings),
                    func.sum(d.wait_answered_sum),
                    func.sum(d.talk_sum),
                    func.sum(d.missed_rings),
                )
                .where(d.day.between(start, end))
                .group_by(d.queue, d.agent, d.direction)
            )
            for q, a, direction, n, ans, ab, short, sl, rings, wait, talk, missed in by_group:
                for s in bucket(q, a):
                    s.missed_rings += int(missed)
                    s.talk_sum += float(talk)
                    if direction == "outbound":
                        s.calls_out += int(n)
                        s.answered_out += int(ans)
                        continue
                    s.calls_in += int(n)
                    s.answered += int(ans)
                    s.abandoned += int(ab)
                    s.short_abandoned += int(short)
                    s.within_rings += int(rings)
                    s.wait_answered_sum += float(wait)
                    if q:  # service level counts calls that reached a queue
                        s.offered += int(n)
                        s.within_sl += int(sl)
            await self._side_figures(conn, start, end, bucket)
            series = await conn.execute(
                select(
                    d.day,
                    func.sum(case((d.direction == "inbound", d.calls), else_=0)),
                    func.sum(d.answered),
                    func.sum(d.abandoned),
                )
                .where(d.day.between(start, end))
                .group_by(d.day)
                .order_by(d.day)
            )
            counted = {_day_text(day_): (int(n), int(ans), int(ab)) for day_, n, ans, ab in series}
            days = []
            for day_ in _days(start, end):  # every day of the period, quiet ones as zeros
                n, ans, ab = counted.get(day_.isoformat(), (0, 0, 0))
                days.append(
                    {"day": day_.isoformat(), "calls_in": n, "answered": ans, "abandoned": ab}
                )
        rows = [sums[k].figures(k) for k in sorted(sums)]
        return Report(
            period=period,
            grouping=grouping,
            start=start,
            end=end,
            rows=rows,
            total=total.figures("total"),
            days=days,
        )

    async def _teams_of_agents(self, conn: AsyncConnection) -> dict[str, str]:
        stmt = select(t.users.c.member_name, t.teams.c.name).select_from(
            t.users.join(t.teams, t.teams.c.id == t.users.c.team_id)
        )
        return {m: n for m, n in await conn.execute(stmt) if m}

    async def _side_figures(
        self,
        conn: AsyncConnection,
        start: date,
        end: date,
        bucket: Callable[[str | None, str | None], Iterable[Sums]],
    ) -> None:
        lo, hi = self.day_start(start), self.day_start(end + timedelta(days=1))
        cb, u = t.callbacks.c, t.users.c
        in_time = and_(
            cb.closed_at.is_not(None),
            cb.closed_at <= cb.due_at,
            cb.status.in_(("done", "satisfied")),
        )
        callbacks = await conn.execute(
            select(cb.queue, u.member_name, func.count(), func.sum(case((in_time, 1), else_=0)))
            .select_from(t.callbacks.outerjoin(t.users, t.users.c.id == cb.owner_user_id))
            .where(cb.created_at >= lo, cb.created_at < hi)
            .group_by(cb.queue, u.member_name)
        )
        for queue, agent, n, ok in callbacks:
            for s in bucket(queue, agent):
                s.callbacks += int(n)
                s.callbacks_in_time += int(ok or 0)
        sa, calls = t.survey_answers.c, t.calls.c
        surveys = await conn.execute(
            select(calls.queue, sa.agent, func.sum(sa.score), func.count())
            .select_from(t.survey_answers.outerjoin(t.calls, t.calls.c.call_id == sa.call_id))
            .where(sa.at >= lo, sa.at < hi)
            .group_by(calls.queue, sa.agent)
        )
        for queue, agent, total, n in surveys:
            for s in bucket(queue, agent):
                s.survey_sum += int(total or 0)
                s.survey_count += int(n)
        k = t.cases.c
        joined = t.cases.outerjoin(t.users, t.users.c.id == k.owner_user_id).outerjoin(
            t.calls, t.calls.c.call_id == k.call_id
        )
        opened_in = and_(k.created_at >= lo, k.created_at < hi)
        closed_in = and_(k.closed_at >= lo, k.closed_at < hi)
        complaints = await conn.execute(
            select(
                calls.queue,
                u.member_name,
                func.sum(case((opened_in, 1), else_=0)),
                func.sum(case((closed_in, 1), else_=0)),
            )
            .select_from(joined)
            .where(k.kind == "complaint", or_(opened_in, closed_in))
            .group_by(calls.queue, u.member_name)
        )
        for queue, agent, opened, closed in complaints:
            for s in bucket(queue, agent):
                s.complaints_opened += int(opened or 0)
                s.complaints_closed += int(closed or 0)


def _empty_row() -> _DayCounts:
    return {
        "calls": 0,
        "answered": 0,
        "abandoned": 0,
        "short_abandoned": 0,
        "answered_within_sl": 0,
        "answered_within_rings": 0,
        "wait_answered_sum": 0.0,
        "talk_sum": 0.0,
        "hold_sum": 0.0,
        "missed_rings": 0,
    }


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _to_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _day_text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _avg(total: float, count: int, digits: int = 1) -> float | None:
    return round(total / count, digits) if count > 0 else None


__all__ = [
    "COLUMNS",
    "Grouping",
    "Period",
    "Report",
    "ReportConfig",
    "ReportService",
    "period_bounds",
    "render_csv",
]
