"""PostgreSQL goes away under traffic (a cut TCP path): records buffer, then all land once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callcenter.bench.scratch import scratch_schema
from crm_core.bus import InProcessBus
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.events import CallEnded, ServiceHealthChanged
from crm_core.domain.models import CallOutcome, CallRecord, Direction
from crm_core.services.call_log import CallLogWriter
from tests.conftest import PG_URL
from tests.integration.tcp_fault import CuttableProxy
from tests.polling import eventually

PLAIN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema(PG_URL, "t_outage") as scratch:
        await upgrade_async(scratch.url)
        yield scratch.schema


class _CountedCalls:
    """The real call repository, counting the batch writes that failed."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def save_many(self, records: list[CallRecord]) -> Any:
        try:
            return await self._real.save_many(records)
        except Exception:
            self.failed += 1
            raise


async def test_postgres_outage_under_traffic_loses_nothing(schema: str, tmp_path: Path) -> None:
    proxy = CuttableProxy("127.0.0.1", 5432)
    await proxy.start()
    url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    db = await open_database(f"{url}?search_path={schema}")
    bus = InProcessBus()
    health: list[ServiceHealthChanged] = []
    bus.subscribe(lambda e: health.append(e) if isinstance(e, ServiceHealthChanged) else None)
    calls = _CountedCalls(db.calls)
    writer = CallLogWriter(calls, outbox_path=tmp_path / "outbox.db", bus=bus, max_backoff=0.2)
    bus.subscribe(writer.handle)
    await writer.start()
    sent = 0

    async def traffic(n: int) -> None:
        nonlocal sent
        for _ in range(n):
            sent += 1
            await bus.publish(
                CallEnded(
                    at=T0,
                    record=CallRecord(
                        call_id=f"outage.{sent}",
                        direction=Direction.INBOUND,
                        caller_number="13800138000",
                        caller_name="张三",
                        started_at=T0,
                        ended_at=T0,
                        outcome=CallOutcome.ANSWERED,
                    ),
                )
            )
            await asyncio.sleep(0.005)  # the calls' arrival process, not a wait

    try:
        await traffic(50)
        await proxy.cut()  # PostgreSQL is gone
        await traffic(200)  # calls keep ending meanwhile
        await eventually(
            lambda: any(not h.healthy for h in health), timeout=5, what="the operator told"
        )
        assert writer.pending > 0
        # the outage lasts: the writer keeps retrying (and failing) at its longest back-off
        failed = calls.failed
        await eventually(
            lambda: calls.failed >= failed + 5, timeout=10, what="five more failed writes"
        )
        assert writer.pending > 0
        await proxy.restore()
        await eventually(lambda: writer.pending == 0, timeout=10, what="the outbox drained")
        conn = await asyncpg.connect(PLAIN, server_settings={"search_path": schema})
        try:
            count = await conn.fetchval("SELECT count(*) FROM calls")
            distinct = await conn.fetchval("SELECT count(DISTINCT call_id) FROM calls")
        finally:
            await conn.close()
        assert count == sent == 250
        assert distinct == count
        assert health[-1].healthy
    finally:
        await writer.stop()
        await db.close()
        await proxy.cut()
