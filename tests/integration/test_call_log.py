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
