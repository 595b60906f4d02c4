"""Report figures recomputed from the raw call records (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm_core.db import Database, open_database
from crm_core.domain.models import (
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    CaseKind,
    Direction,
    Offer,
    OfferResult,
    Role,
    Satisfaction,
    SurveyAnswer,
)
from crm_core.services.reports import (
    COLUMNS,
    Grouping,
    Period,
    ReportConfig,
    ReportService,
    Sums,
    render_csv,
)

TZ = ZoneInfo("Asia/Shanghai")
CFG = ReportConfig(service_level_seconds=20, ring_limit_seconds=15, short_abandon_seconds=5)
AGENTS = {"张伟": "一组", "Agent 1002": "一组", "Agent 1003": "Team B"}
QUEUES = ["support", "sales", None]
FIRST = datetime(2026, 9, 26, 0, 0, tzinfo=TZ)  # Saturday; the data crosses Q3 -> Q4


def make_records(n: int, seed: int = 7) -> list[CallRecord]:
    rnd = random.Random(seed)
    out: list[CallRecord] = []
    for i in range(n):
        start = (FIRST + timedelta(seconds=rnd.randrange(0, 10 * 86400))).astimezone(UTC)
        direction = Direction.OUTBOUND if rnd.random() < 0.15 else Direction.INBOUND
        outcome = rnd.choice(
            [CallOutcome.ANSWERED] * 6 + [CallOutcome.ABANDONED] * 2 + [CallOutcome.NO_ANSWER]
        )
        agent = rnd.choice(list(AGENTS)) if outcome is CallOutcome.ANSWERED else None
        wait = float(rnd.choice([1, 3, 4.9, 5, 10, 20, 20.5, 45, 90]))
        offers: list[Offer] = []
        if rnd.random() < 0.3:
            offers.append(
                Offer(
                    agent=rnd.choice(list(AGENTS)),
                    interface="Local/x@agents/n",
                    ring_seconds=float(rnd.choice([10, 15, 16])),
                    result=OfferResult.NO_ANSWER,
                )
            )
        if agent:
            offers.append(
                Offer(
                    agent=agent,
                    interface="Local/y@agents/n",
                    ring_seconds=float(rnd.choice([2, 14, 15, 17])),
                    result=OfferResult.ANSWERED,
                )
            )
        talk = float(rnd.randrange(10, 600)) if agent else 0.0
        out.append(
            CallRecord(
                call_id=f"17000{i:05d}.{i}",
                direction=direction,
                caller_number=f"1380013{i:04d}",
                caller_name="李雷" if i % 3 else "",
                queue=rnd.choice(QUEUES),
                agent=agent,
                started_at=start,
                answered_at=start + timedelta(seconds=wait) if agent else None,
                ended_at=start + timedelta(seconds=wait + talk),
                wait_seconds=wait,
                talk_seconds=talk,
                hold_seconds=float(rnd.choice([0, 0, 5])),
                offers=tuple(offers),
                outcome=outcome,
            )
        )
    return out


def expected(records: list[CallRecord], start: date, end: date, group: str) -> dict[str, Sums]:
    """The figures straight from the records, by the definitions of docs/metrics.md."""
    sums: dict[str, Sums] = {}

    def key(queue: str | None, agent: str | None) -> str:
        if group == "queue":
            return queue or "(none)"
        if group == "agent":
            return agent or "(none)"
        return AGENTS.get(agent or "", "(none)")

    for r in records:
        assert r.started_at is not None
        if not start <= r.started_at.astimezone(TZ).date() <= end:
            continue
        s = sums.setdefault(key(r.queue, r.agent), Sums())
        answered = r.outcome is CallOutcome.ANSWERED
        if answered:
            s.talk_sum += r.talk_seconds
        for o in r.offers:
            if o.result is OfferResult.NO_ANSWER:
                sums.setdefault(key(o.queue or r.queue, o.agent), Sums()).missed_rings += 1
        if r.direction is Direction.OUTBOUND:
            s.calls_out += 1
            s.answered_out += int(answered)
            continue
        s.calls_in += 1
        abandoned = r.outcome is CallOutcome.ABANDONED
        s.abandoned += int(abandoned)
        s.short_abandoned += int(abandoned and r.wait_seconds < 5)
        if answered:
            s.answered += 1
            s.wait_answered_sum += r.wait_seconds
            s.within_rings += int(max(o.ring_seconds for o in r.offers) <= 15)
        if r.queue:
            s.offered += 1
            s.within_sl += int(answered and r.wait_seconds <= 20)
    return sums


async def seed(db: Database, records: list[CallRecord]) -> dict[str, int]:
    team1 = await db.users.get_or_create_team("一组")
    team2 = await db.users.get_or_create_team("Team B")
    ids: dict[str, int] = {}
    for n, (member, team) in enumerate(AGENTS.items()):
        user = await db.users.create(
            username=f"a{n}",
            display_name=member,
            role=Role.AGENT,
            password_hash="x",
            team_id=team1.id if team == "一组" else team2.id,
            member_name=member,
            interface=f"Local/{n}@agents/n",
        )
        ids[member] = user.id
    await db.calls.save_many(records)
    return ids


def compare(report_rows: list[dict[str, Any]], want: dict[str, Sums], extra: set[str]) -> None:
    got = {row["group"]: row for row in report_rows}
    assert set(got) == set(want) | extra
    for name, sums in want.items():
        figures = sums.figures(name)
        for col in COLUMNS:
            if col.startswith(("callbacks", "satisfaction", "complaints")):
                continue
            assert got[name][col] == figures[col], (name, col)


async def test_report_figures_match_raw_records(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        records = make_records(400)
        await seed(db, records)
        reports = ReportService(db.engine, CFG)
        day = date(2026, 9, 30)
        for period, start, end in (
            (Period.DAILY, day, day),
            (Period.WEEKLY, date(2026, 9, 28), date(2026, 10, 4)),
            (Period.MONTHLY, date(2026, 9, 1), date(2026, 9, 30)),
            (Period.QUARTERLY, date(2026, 7, 1), date(2026, 9, 30)),
            (Period.ANNUAL, date(2026, 1, 1), date(2026, 12, 31)),
        ):
            for group in Grouping:
                report = await reports.report(period, day, group)
                assert (report.start, report.end) == (start, end)
                want = expected(records, start, end, group.value)
                compare(report.rows, want, set())
                total = Sums()
                for s in want.values():
                    for f in Sums.__dataclass_fields__:
                        setattr(total, f, getattr(total, f) + getattr(s, f))
                assert report.total["calls_in"] == total.calls_in
                assert report.total["service_level"] == total.figures("t")["service_level"]
        q4 = await reports.report(Period.QUARTERLY, date(2026, 10, 2), Grouping.AGENT)
        compare(q4.rows, expected(records, date(2026, 10, 1), date(2026, 12, 31), "agent"), set())
        assert sum(d["calls_in"] for d in q4.days) == q4.total["calls_in"]

        # a late call record for a day already counted is picked up (watermark)
        late = make_records(1, seed=99)[0]
        late = CallRecord(
            **{
                **{f: getattr(late, f) for f in CallRecord.__dataclass_fields__},
                "call_id": "late.1",
                "started_at": datetime(2026, 9, 30, 3, 0, tzinfo=UTC),
                "direction": Direction.INBOUND,
            }
        )
        await db.calls.save_many([late])
        records.append(late)
        again = await reports.report(Period.DAILY, day, Grouping.QUEUE)
        compare(again.rows, expected(records, day, day, "queue"), set())
    finally:
        await db.close()


async def test_callbacks_surveys_complaints_and_csv(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        records = make_records(60)
        ids = await seed(db, records)
        base = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
        owner = ids["张伟"]
        made = []
        for n, minutes in enumerate([10, 29, 45]):
            cb = await db.callbacks.create(
                phone_e164=f"+8613800000{n}",
                reason=CallbackReason.ABANDONED,
                due_at=base + timedelta(minutes=30),
                created_at=base,
                owner_user_id=owner,
                queue="support",
            )
            await db.callbacks.update(
                cb.id, status=CallbackStatus.DONE, closed_at=base + timedelta(minutes=minutes)
            )
            made.append(cb)
        await db.callbacks.create(  # still open: counts in the total, not as made in time
            phone_e164="+86139",
            reason=CallbackReason.PROMISED,
            due_at=base + timedelta(minutes=30),
            created_at=base,
            owner_user_id=owner,
            queue="support",
        )
        for score in (Satisfaction(5), Satisfaction(2)):
            await db.surveys.add(
                SurveyAnswer(
                    id=None, call_id=None, customer_id=None, score=score, at=base, agent="张伟"
                )
            )
        case = await db.cases.create(
            kind=CaseKind.COMPLAINT,
            subject="投诉",
            created_at=base,
            customer_id=None,
            owner_user_id=owner,
        )
        await db.cases.create(
            kind=CaseKind.COMPLAINT,
            subject="again",
            created_at=base,
            customer_id=None,
            owner_user_id=owner,
        )
        from crm_core.domain.models import CaseStatus

        await db.cases.set_status(
            case.id, CaseStatus.CLOSED, at=base + timedelta(hours=1), by_user_id=owner
        )
        reports = ReportService(db.engine, CFG)
        report = await reports.report(Period.DAILY, date(2026, 9, 30), Grouping.AGENT)
        row = next(r for r in report.rows if r["group"] == "张伟")
        assert row["callbacks"] == 4
        assert row["callbacks_within_window"] == 2
        assert row["callbacks_within_window_share"] == 0.5
        assert row["satisfaction_avg"] == 3.5
        assert row["satisfaction_answers"] == 2
        assert (row["complaints_opened"], row["complaints_closed"]) == (2, 1)

        data = render_csv(report)
        assert data.startswith(b"\xef\xbb\xbf")
        parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert tuple(parsed[0]) == COLUMNS
        names = [line[0] for line in parsed[1:]]
        assert "张伟" in names
        assert names[-1] == "total"
        assert all(len(line) == len(COLUMNS) for line in parsed)
    finally:
        await db.close()
