"""Alembic, driven from code: `callcenter migrate` and the tests call these."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from crm_core.db.engine import create_engine, schema_of

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade_async(url: str, revision: str = "head") -> str | None:
    """Create or upgrade the schema; returns the revision the database was at before."""
    engine = create_engine(url)
    schema = schema_of(url)
    before: list[str | None] = [None]

    def _upgrade(conn: Connection) -> None:
        if schema:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        from alembic.runtime.migration import MigrationContext

        before[0] = MigrationContext.configure(conn).get_current_revision()
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
    return before[0]


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)

    def _current(conn: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    return asyncio.run(upgrade_async(url, revision))
