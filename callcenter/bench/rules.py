"""`callcenter bench rules`: the rules on the event path, with 100,000 open callbacks.

Loads 100,000 open callbacks into PostgreSQL, times the deadline scheduler's start-up
load, then pushes 10,000 events/s of call traffic (ring ends, missed calls, finished
calls) through the ring rule and the callback service and measures the latency they
add to each event on the bus (their handlers; the database work runs behind them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from callcenter.bench.scratch import Scratch, scratch_schema
from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import FakeClock
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.events import AgentMissedCall, AgentRingEnded, CallEnded, DomainEvent
from crm_core.domain.models import CallOutcome, CallRecord, Direction, OfferResult
from crm_core.services.callbacks import CallbackService
from crm_core.services.deadlines import DeadlineScheduler
from crm_core.services.rules import RingRuleService

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class _NoPbx:
    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str | None = None
    ) -> None:
        return None


def _traffic(n: int, at: datetime) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            events.append(
                AgentRingEnded(
                    at=at,
                    call_id=f"b.{i}",
                    queue="support",
                    agent=f"Agent {1000 + i % 50}",
                    interface="x",
                    ring_seconds=3.0 + (i % 15),
                    result=OfferResult.ANSWERED,
                )
            )
        elif kind < 8:
            events.append(
                AgentMissedCall(
                    at=at,
                    call_id=f"b.{i}",
                    queue="support",
                    agent=f"Agent {1000 + i % 50}",
                    interface="x",
                    ring_seconds=15.0,
                )
            )
        else:
            events.append(
                CallEnded(
                    at=at,
                    record=CallRecord(
                        call_id=f"b.{i}",
                        direction=Direction.INBOUND,
                        caller_number=f"139{i:08d}",
                        caller_name="",
                        queue="support",
                        started_at=at,
                        ended_at=at,
                        wait_seconds=3.0 if kind == 8 else 9.0,
                        outcome=CallOutcome.ANSWERED if kind == 8 else CallOutcome.ABANDONED,
                    ),
                )
            )
    return events


async def _bench(args: argparse.Namespace) -> dict[str, object]:
    count = 10_000 if args.quick else 100_000
    seconds = 1 if args.quick else 3
    async with scratch_schema(args.database_url or PG, "bench_rules") as scratch:
        return await _measure(scratch, count, seconds)


async def _measure(scratch: Scratch, count: int, seconds: int) -> dict[str, object]:
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    await upgrade_async(scratch.url)
    conn = await asyncpg.connect(scratch.plain, server_settings={"search_path": scratch.schema})
    await conn.copy_records_to_table(
        "callbacks",
        records=(
            (
                f"+86138{i:08d}",
                "abandoned",
                "open",
                now,
                now + timedelta(seconds=60 + i % 1800),
                "support",
                "",
                0,
            )
            for i in range(count)
        ),
        columns=[
            "phone_e164",
            "reason",
            "status",
            "created_at",
            "due_at",
            "queue",
            "question",
            "merged_count",
        ],
    )
    await conn.close()
    db = await open_database(scratch.url)
    try:
        bus, clock = InProcessBus(), FakeClock(now)
        settings = Settings()
        callbacks = CallbackService(db=db, bus=bus, clock=clock, settings=settings)
        rules = RingRuleService(db=db, bus=bus, clock=clock, settings=settings, commands=_NoPbx())
        scheduler = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=callbacks)
        t0 = time.perf_counter()
        await scheduler.start()
        load_s = time.perf_counter() - t0
        print(
            f"deadline load: {scheduler.loaded:,} open callbacks in {load_s:.2f} s "
            f"({scheduler.scheduled:,} timers)"
        )
        handlers = [rules.handle, callbacks.handle]
        samples: list[float] = []
        rate = 10_000
        for second in range(seconds):
            batch = _traffic(rate, now)
            start = time.perf_counter()
            for n, event in enumerate(batch):
                target = start + n / rate  # paced at 10,000 events/s
                if time.perf_counter() < target:  # paced: yield until this event's slot
                    await asyncio.sleep(max(target - time.perf_counter(), 0))
                t = time.perf_counter()
                for handle in handlers:
                    handle(event)
                samples.append((time.perf_counter() - t) * 1000)
            print(f"second {second + 1}: {rate:,} events in {time.perf_counter() - start:.2f} s")
        await rules.stop()
        await callbacks.stop()
        await scheduler.stop()
        samples.sort()
        p50 = samples[len(samples) // 2]
        p99 = samples[int(len(samples) * 0.99)]
        print(
            f"rule engine added latency per event: p50 {p50 * 1000:.1f} µs, "
            f"p99 {p99 * 1000:.1f} µs, max {samples[-1]:.3f} ms"
        )
        return {
            "bench": "rules",
            "open_callbacks": count,
            "events": len(samples),
            "p50_added_latency_ms": round(p50, 4),
            "p99_added_latency_ms": round(p99, 4),
            "deadline_load_s": round(load_s, 3),
        }
    finally:
        await db.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(_bench(args))))
    return 0
