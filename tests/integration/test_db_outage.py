"""PostgreSQL goes away under traffic (a cut TCP path): records buffer, then all land once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from crm_core.bus import InProcessBus
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.events import CallEnded, ServiceHealthChanged
from crm_core.domain.models import CallOutcome, CallRecord, Direction
from crm_core.services.call_log import CallLogWriter
from tests.conftest import PG_URL
from tests.integration.tcp_fault import CuttableProxy

PLAIN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"t_outage_{uuid.uuid4().hex[:8]}"
    await upgrade_async(f"{PG_URL}?search_path={name}")
    yield name
    conn = await asyncpg.connect(PLAIN)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    await conn.close()


async def test_postgres_outage_under_traffic_loses_nothing(schema: str, tmp_path: Path) -> None:
    proxy = CuttableProxy("127.0.0.1", 5432)
    await proxy.start()
    url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    db = await open_database(f"{url}?search_path={schema}")
    bus = InProcessBus()
    health: list[ServiceHealthChanged] = []
    bus.subscribe(lambda e: health.append(e) if isinstance(e, ServiceHealthChanged) else None)
    writer = CallLogWriter(db.calls, outbox_path=tmp_path / "outbox.db", bus=bus, max_backoff=0.2)
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
            await asyncio.sleep(0.005)

    try:
        await traffic(50)
        await proxy.cut()  # PostgreSQL is gone
        await traffic(200)  # calls keep ending meanwhile
        for _ in range(100):
            if any(not h.healthy for h in health):
                break
            await asyncio.sleep(0.05)
        assert any(not h.healthy for h in health), "the operator was not told"
        assert writer.pending > 0
        await asyncio.sleep(1.0)
        await proxy.restore()
        for _ in range(200):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert writer.pending == 0
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
