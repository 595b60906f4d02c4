"""The PostgreSQL screen-pop lookup over dedicated asyncpg connections: same answers as
the engine path, and a broken or unreachable connection degrades to the engine path
instead of failing the caller's lookup."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest

from callcenter.testing.cluster import free_port
from crm_core.db import open_database
from crm_core.db.phone_lookup import PgPhoneLookup, asyncpg_dsn
from tests.conftest import PG_ENABLED, postgres_schema_url

# the asyncpg fast path exists on PostgreSQL only: these tests need no SQLite half
pytestmark = pytest.mark.skipif(not PG_ENABLED, reason="needs PostgreSQL (CALLCENTER_TEST_PG)")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async for url in postgres_schema_url():
        yield url


async def test_fast_path_answers_like_the_engine_path(pg_url: str) -> None:
    db = await open_database(pg_url)
    try:
        assert db.customers.fast is not None
        made = await db.customers.create(
            name="李四 <script>", phones=["13800138000", "+86 10 6552 9988"], vip_level=2
        )
        await db.customers.create(name="王五", phones=["13900139000"])
        for form in ("13800138000", "+86 138 0013 8000", "008613800138000", "010-65529988"):
            fast = await db.customers.find_by_phone(form)
            assert fast == made, form
        assert await db.customers.find_by_phone("13700137000") is None
        assert db.customers.fast.fallbacks == 0

        engine_only = db.customers.fast
        db.customers.fast = None
        assert await db.customers.find_by_phone("13800138000") == made
        db.customers.fast = engine_only
    finally:
        await db.close()


async def test_unreachable_fast_path_falls_back_and_says_so_once(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = await open_database(pg_url)
    try:
        made = await db.customers.create(name="赵六", phones=["13600136000"])
        dead = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
        db.customers.fast = PgPhoneLookup(dead)
        with caplog.at_level(logging.WARNING, logger="crm_core.db.phone_lookup"):
            for _ in range(3):
                assert await db.customers.find_by_phone("13600136000") == made
        assert db.customers.fast.fallbacks == 3
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 1
        await db.customers.fast.close()
    finally:
        await db.close()


async def test_connection_killed_by_the_server_is_replaced(pg_url: str) -> None:
    db = await open_database(pg_url)
    fast = db.customers.fast
    assert fast is not None
    try:
        made = await db.customers.create(name="钱七", phones=["13500135000"])
        assert await db.customers.find_by_phone("13500135000") == made
        pids = [conn.get_server_pid() for conn in fast._idle]
        assert pids
        admin = await asyncpg.connect(asyncpg_dsn(pg_url)[0])
        try:
            for pid in pids:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # the first lookup meets the dead connection: either asyncpg already noticed
        # (a fresh connection answers) or the query fails and the engine path answers
        assert await db.customers.find_by_phone("13500135000") == made
        assert fast.fallbacks in (0, 1)
        seen = fast.fallbacks
        # from then on the fast path answers again, on a live connection
        for _ in range(3):
            assert await db.customers.find_by_phone("13500135000") == made
        assert fast.fallbacks == seen
        assert fast._idle
        assert all(not conn.is_closed() for conn in fast._idle)
        assert {conn.get_server_pid() for conn in fast._idle}.isdisjoint(pids)
    finally:
        await db.close()
