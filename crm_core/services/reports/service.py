"""The report use case: a period's figures per queue, team or agent, read from the
pre-aggregate (`aggregate.py`) once its days are fresh. Callbacks, surveys and
complaints are small tables: they are aggregated straight from their rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.report_tables import report_daily
from crm_core.services.reports.aggregate import DailyAggregate
from crm_core.services.reports.figures import DayFigures, Report, Sums
from crm_core.services.reports.periods import (
    NONE_LABEL,
    Grouping,
    Period,
    ReportConfig,
    as_date,
    day_start,
    days_between,
    period_bounds,
)


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
        self.aggregate = DailyAggregate(
            engine, self.config, self._tz, now or (lambda: datetime.now(UTC))
        )

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self._tz).date()

    def day_start(self, day: date) -> datetime:
        return day_start(day, self._tz)

    async def report(self, period: Period, day: date, grouping: Grouping) -> Report:
        start, end = period_bounds(period, day)
        await self.aggregate.ensure_fresh(start, end)
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
            counted = {as_date(day_): (int(n), int(ans), int(ab)) for day_, n, ans, ab in series}
            days: list[DayFigures] = []
            for day_ in days_between(start, end):  # every day of the period, quiet ones as zeros
                n, ans, ab = counted.get(day_, (0, 0, 0))
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
