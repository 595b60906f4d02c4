"""Shared fixtures.

Database tests are parametrised over SQLite (always) and PostgreSQL (the
`postgres` param). PostgreSQL is expected at CALLCENTER_TEST_PG_URL (default
127.0.0.1:5432 database `test`, as on CI); set CALLCENTER_TEST_PG=off to run the
SQLite half alone on a machine without it. Each PostgreSQL test gets its own
schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

PG_URL = os.environ.get(
    "CALLCENTER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_ENABLED = os.environ.get("CALLCENTER_TEST_PG", "on") != "off"
CAPTURES = Path(
    os.environ.get(
        "CALLCENTER_CAPTURES", Path(__file__).resolve().parent / "fixtures" / "ami-captures"
    )
)

DB_BACKENDS = ["sqlite", "postgres"] if PG_ENABLED else ["sqlite"]


@pytest.fixture(params=DB_BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty CRM database URL: SQLite file or a fresh PostgreSQL schema."""
    from crm_core.db.migrate import upgrade_async

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
        await upgrade_async(url)
        yield url
        return
    async for url in postgres_schema_url():
        yield url


async def postgres_schema_url() -> AsyncIterator[str]:
    """A migrated, empty PostgreSQL schema of its own, dropped afterwards."""
    import asyncpg

    from crm_core.db.migrate import upgrade_async

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}search_path={schema}"
    try:
        await upgrade_async(url)
        yield url
    finally:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
def captures_dir() -> Path:
    return CAPTURES
