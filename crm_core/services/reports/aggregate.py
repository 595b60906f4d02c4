"""The `report_daily` pre-aggregate (ADR 0021): one row per local day × queue × agent ×
direction, counted from `calls`/`call_offers` with SQL aggregates. A watermark on
`calls.id` tells which days got new call rows since they were counted; those days (and
days never counted, or counted under other thresholds) are recounted before a report is
read, so a report always equals its raw records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TypedDict

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.report_tables import report_daily, report_days, report_watermark
from crm_core.services.reports.periods import ReportConfig, as_date, day_start, days_between


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


class DailyAggregate:
    """Keeps `report_daily` equal to the call records of the days a report reads."""

    def __init__(
        self, engine: AsyncEngine, config: ReportConfig, tz: tzinfo, now: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self.config = config
        self._tz = tz
        self._now = now
        self._lock = asyncio.Lock()

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
            stale = [d for d in days_between(start, end) if d not in fresh]
            if stale:
                await self._count_days(conn, stale[0], stale[-1])
        return len(stale)

    def _as_day(self, value: object) -> date:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self._tz).date()

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
            for day in days_between(first, last):
                await self._count_span(conn, day, day, None)

    async def _count_span(
        self, conn: AsyncConnection, first: date, last: date, day_expr: ColumnElement[date] | None
    ) -> None:
        cfg = self.config
        c = t.calls.c
        lo, hi = day_start(first, self._tz), day_start(last + timedelta(days=1), self._tz)
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
            return first if day_expr is None else as_date(value)

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
                for day in days_between(first, last)
            ],
        )


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
