"""`callcenter bench reports [--quick]`: report speed on a quarter of PostgreSQL calls.

Loads 5,000,000 calls (200,000 with --quick) over one quarter into a fresh schema
with COPY (asyncpg `copy_records_to_table`), a fifth of them with a missed ring,
then times the daily, weekly and quarterly reports per queue, team and agent. The
first report of the quarter counts the daily pre-aggregate (ADR 0021) and is timed
apart; the headline figures are the reports a manager opens afterwards. The schema
is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from callcenter.bench.scratch import scratch_schema
from callcenter.settings import Settings
from crm_core.db.engine import create_engine
from crm_core.db.migrate import upgrade_async
from crm_core.services.reports import Grouping, Period, ReportConfig, ReportService

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
QUARTER_START = date(2026, 7, 1)
QUARTER_DAYS = 92
QUEUES = ("support", "sales", "billing", "technical", "vip")
AGENTS = tuple(f"Agent {1001 + i}" for i in range(60))
NAMES = ("张三", "李四", "王芳", "Müller", "", "O'Brien", "陈小明")
CALL_COLUMNS = (
    "id",
    "call_id",
    "pbx",
    "direction",
    "caller_number",
    "caller_name",
    "queue",
    "agent",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "ring_seconds",
    "talk_seconds",
    "hold_seconds",
    "outcome",
    "rule_violations",
    "ivr_path",
    "written_at",
)
OFFER_COLUMNS = ("call_pk", "seq", "agent", "interface", "queue", "ring_seconds", "result")


def _chunk(
    first: int, count: int, total: int, rnd: random.Random, epoch: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    calls: list[tuple[Any, ...]] = []
    offers: list[tuple[Any, ...]] = []
    span = QUARTER_DAYS * 86400
    for pk in range(first, first + count):
        # rows arrive in time order, as the call-log writer stores finished calls
        start = epoch + timedelta(seconds=(pk - 1 + rnd.random()) * span / total)
        r = rnd.random()
        outbound = r < 0.12
        outcome = "answered" if r < 0.82 else ("abandoned" if r < 0.95 else "no_answer")
        queue = None if outbound else QUEUES[rnd.randrange(5)]
        agent = AGENTS[rnd.randrange(60)] if outcome == "answered" else None
        wait = rnd.random() * 60.0
        ring = rnd.random() * 20.0
        talk = rnd.random() * 400.0 if agent else 0.0
        answered_at = start + timedelta(seconds=wait) if agent else None
        calls.append(
            (
                pk,
                f"{1_790_000_000 + pk}.{pk}",
                "default",
                "outbound" if outbound else "inbound",
                f"138{pk % 100_000_000:08d}",
                NAMES[pk % len(NAMES)],
                queue,
                agent,
                start,
                answered_at,
                start + timedelta(seconds=wait + talk),
                wait,
                ring,
                talk,
                0.0,
                outcome,
                "[]",
                "[]",
                start,
            )
        )
        if pk % 5 == 0:
            missed_by = AGENTS[(pk // 5) % 60]
            offers.append(
                (pk, 0, missed_by, f"Local/{missed_by[-4:]}@agents/n", queue, 15.0, "no_answer")
            )
    return calls, offers


async def _load(plain_url: str, schema: str, total: int) -> float:
    import asyncpg

    rnd = random.Random(20261123)
    epoch = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)  # 2026-07-01 00:00 in Shanghai
    began = time.perf_counter()
    conn = await asyncpg.connect(plain_url, server_settings={"search_path": schema})
    try:
        step = 100_000
        for first in range(1, total + 1, step):
            calls, offers = _chunk(first, min(step, total + 1 - first), total, rnd, epoch)
            await conn.copy_records_to_table("calls", records=calls, columns=CALL_COLUMNS)
            await conn.copy_records_to_table("call_offers", records=offers, columns=OFFER_COLUMNS)
            done = first + len(calls) - 1
            if done % 1_000_000 < step:
                print(f"  loaded {done:,} calls", file=sys.stderr)
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('calls', 'id'), {total})")
        await conn.execute("ANALYZE calls; ANALYZE call_offers")
        team_ids = []
        for n in range(5):
            team_ids.append(
                await conn.fetchval("INSERT INTO teams (name) VALUES ($1) RETURNING id", f"组{n}")
            )
        for i, member in enumerate(AGENTS):
            await conn.execute(
                "INSERT INTO users (username, display_name, role, password_hash, team_id,"
                " member_name, queues, language, active, created_at)"
                " VALUES ($1, $2, 'agent', 'x', $3, $4, '[]', '', true, now())",
                f"bench{i}",
                member,
                team_ids[i % 5],
                member,
            )
    finally:
        await conn.close()
    return time.perf_counter() - began


async def _time(reports: ReportService, period: Period, day: date, group: Grouping) -> float:
    began = time.perf_counter()
    await reports.report(period, day, group)
    return (time.perf_counter() - began) * 1000


async def _bench(url: str, total: int) -> dict[str, Any]:
    async with scratch_schema(url, "bench_reports") as scratch:
        await upgrade_async(scratch.url)
        print(f"loading {total:,} calls into schema {scratch.schema} …", file=sys.stderr)
        load_s = await _load(scratch.plain, scratch.schema, total)
        print(f"loaded in {load_s:.1f} s ({total / load_s:,.0f} calls/s)")
        engine = create_engine(scratch.url)
        try:
            reports = ReportService(engine, ReportConfig())
            day = QUARTER_START + timedelta(days=45)
            build_ms = await _time(reports, Period.QUARTERLY, day, Grouping.QUEUE)
            print(f"first quarterly report (counts {QUARTER_DAYS} days): {build_ms:,.0f} ms")
            figures: dict[str, float] = {}
            for period in Period:
                worst = 0.0
                for group in Grouping:
                    ms = await _time(reports, period, day, group)
                    worst = max(worst, ms)
                    print(f"{period.value:10s} per {group.value:6s} {ms:8.1f} ms")
                figures[f"{period.value}_ms"] = round(worst, 1)
            report = await reports.report(Period.QUARTERLY, day, Grouping.QUEUE)
            print("quarterly per queue:")
            for row in [*report.rows, report.total]:
                print(
                    f"  {row['group']:10s} in {row['calls_in']:>9,} answered {row['answered']:>9,}"
                    f" abandoned {row['abandoned']:>8,} SL {row['service_level']}"
                    f" ASA {row['avg_wait_seconds']} s talk {row['avg_talk_seconds']} s"
                    f" 3-rings {row['within_3_rings_share']} missed {row['missed_rings']:,}"
                )
            assert report.total["calls_in"] + report.total["calls_out"] == total
        finally:
            await engine.dispose()
        return {"load_s": round(load_s, 1), "aggregate_build_ms": round(build_ms, 1), **figures}


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = getattr(args, "database_url", None) or (
        settings.database_url if settings.database_url.startswith("postgresql") else DEFAULT_PG
    )
    total = 200_000 if getattr(args, "quick", False) else 5_000_000
    result = asyncio.run(_bench(url, total))
    print(
        json.dumps(
            {
                "bench": "reports",
                "calls": total,
                "daily_ms": result["daily_ms"],
                "weekly_ms": result["weekly_ms"],
                "quarterly_ms": result["quarterly_ms"],
                "aggregate_build_ms": result["aggregate_build_ms"],
                "load_s": result["load_s"],
            }
        )
    )
    return 0
