"""Every finished call lands in the CRM: batched, through a DB outage and a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.bus import InProcessBus
from crm_core.db import open_database
from crm_core.db.repositories import CallRepo
from crm_core.domain.events import CallEnded, DomainEvent, ServiceHealthChanged
from crm_core.domain.models import CallOutcome, CallRecord, Direction
from crm_core.services.call_log import CallLogWriter

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _record(n: int) -> CallRecord:
    return CallRecord(
        call_id=f"1700000000.{n}",
        direction=Direction.INBOUND,
        caller_number="13800138000",
        caller_name="张三",
        started_at=T0,
        ended_at=T0,
        outcome=CallOutcome.ANSWERED,
    )


class FlakyCalls(CallRepo):
    """The real repository, behind a switch that makes the database 'go down'."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.down = False
        self.attempts = 0

    async def save_many(self, records: Iterable[CallRecord]) -> int:
        self.attempts += 1
        if self.down:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))
        return await super().save_many(records)


async def _until(pred: object, timeout: float = 10.0) -> None:
    assert callable(pred)
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_records_written_in_batches_within_a_second(
    database_url: str, tmp_path: Path
) -> None:
    db = await open_database(database_url)
    writer = CallLogWriter(db.calls, outbox_path=tmp_path / "outbox.db")
    bus = InProcessBus()
    writer.subscribe(bus)
    await writer.start()
    try:
        for n in range(300):
            await bus.publish(CallEnded(at=T0, record=_record(n)))
        await _until(lambda: writer.written == 300, timeout=5)
        assert await db.calls.count() == 300
    finally:
        await writer.stop()
        await db.close()


async def test_database_outage_buffers_then_writes_everything_once(
    database_url: str, tmp_path: Path
) -> None:
    db = await open_database(database_url)
    flaky = FlakyCalls(db.engine)
    bus = InProcessBus()
    health: list[DomainEvent] = []
    bus.subscribe(lambda e: health.append(e) if isinstance(e, ServiceHealthChanged) else None)
    writer = CallLogWriter(
        flaky,
        outbox_path=tmp_path / "outbox.db",
        bus=bus,
        max_backoff=0.1,
    )
    bus.subscribe(writer.handle)
    await writer.start()
    try:
        flaky.down = True
        for n in range(50):
            await bus.publish(CallEnded(at=T0, record=_record(n)))
        await _until(lambda: any(not e.healthy for e in health))  # type: ignore[attr-defined]
        assert writer.pending == 50
        assert "buffered" in health[-1].detail  # type: ignore[attr-defined]
        flaky.down = False
        await _until(lambda: writer.pending == 0)
        assert await db.calls.count() == 50
        assert health[-1].healthy  # type: ignore[attr-defined]
    finally:
        await writer.stop()
        await db.close()


async def test_restart_with_records_in_the_outbox_loses_none(
    database_url: str, tmp_path: Path
) -> None:
    db = await open_database(database_url)
    flaky = FlakyCalls(db.engine)
    flaky.down = True
    writer = CallLogWriter(flaky, outbox_path=tmp_path / "outbox.db", max_backoff=0.05)  # type: ignore[arg-type]
    await writer.start()
    for n in range(20):
        writer.handle(CallEnded(at=T0, record=_record(n)))
    await writer.stop(drain_timeout=0.2)  # the service stops while the DB is down
    assert await db.calls.count() == 0

    writer = CallLogWriter(db.calls, outbox_path=tmp_path / "outbox.db")  # and starts again
    await writer.start()
    try:
        await _until(lambda: writer.pending == 0)
        assert await db.calls.count() == 20
    finally:
        await writer.stop()
        await db.close()


async def test_a_record_the_crm_refuses_is_set_aside_and_never_blocks_the_others(
    database_url: str, tmp_path: Path
) -> None:
    """Issue 13 item 1: a call record naming a customer that does not exist (or one beyond
    int64, or a NUL byte) used to sit at the head of the outbox forever."""
    import dataclasses

    from crm_core.health import HealthRegistry

    db = await open_database(database_url)
    bus = InProcessBus()
    health = HealthRegistry()
    bus.subscribe(health.handle)
    writer = CallLogWriter(db.calls, outbox_path=tmp_path / "outbox.db", bus=bus)
    try:
        bad = [
            dataclasses.replace(_record(900), customer_id=999_999),  # no such customer
            dataclasses.replace(_record(901), customer_id=2**70),  # beyond int64
            dataclasses.replace(_record(902), caller_name="bad\x00name"),
        ]
        for record in [*bad, *(_record(n) for n in range(30))]:
            writer.handle(CallEnded(at=T0, record=record))
        await writer.start()
        await _until(lambda: writer.pending == 0)
        assert await db.calls.count() >= 30
        for n in range(30):
            assert (await db.calls.get(f"1700000000.{n}")).caller_name == "张三"
        refused = {call_id for call_id, _, _ in writer.outbox.set_aside_records()}
        assert "1700000000.900" in refused
        assert "1700000000.901" in refused
        assert writer.outbox.set_aside_count == len(refused)
        # the operator is told, the instance stays in service
        assert "call-log" in health.degraded
        assert health.snapshot()["call-log"]["healthy"] is False
        assert "set aside" in str(health.snapshot()["call-log"]["detail"])
    finally:
        await writer.stop()
        await db.close()


async def test_an_outage_is_never_mistaken_for_a_bad_record(
    database_url: str, tmp_path: Path
) -> None:
    db = await open_database(database_url)
    flaky = FlakyCalls(db.engine)
    flaky.down = True
    writer = CallLogWriter(flaky, outbox_path=tmp_path / "outbox.db", max_backoff=0.05)
    try:
        for n in range(5):
            writer.handle(CallEnded(at=T0, record=_record(n)))
        await writer.start()
        await _until(lambda: flaky.attempts >= 3)
        assert writer.outbox.set_aside_count == 0
        assert writer.pending == 5
    finally:
        await writer.stop(drain_timeout=0.1)
        await db.close()
