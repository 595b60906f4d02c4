"""Migrations: up from empty on SQLite and PostgreSQL; re-running is a no-op."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, inspect, select, text

from crm_core.db import tables as t
from crm_core.db.engine import create_engine, schema_of
from crm_core.db.migrate import current_revision, head_revision, upgrade_async

CRM_TABLES = {
    "customers",
    "customer_phones",
    "teams",
    "users",
    "queues",
    "calls",
    "call_offers",
    "callbacks",
    "callback_attempts",
    "cases",
    "case_events",
    "campaigns",
    "campaign_contacts",
    "dnc",
    "survey_answers",
    "violations",
    "audit_log",
}


async def test_upgrade_from_empty_creates_every_table_and_index(database_url: str) -> None:
    # the fixture upgraded an empty database; upgrading again changes nothing
    assert await current_revision(database_url) == head_revision()
    assert await upgrade_async(database_url) == head_revision()

    engine = create_engine(database_url)

    def _inspect(conn: Connection) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
        insp = inspect(conn)
        names = set(insp.get_table_names())
        indexed: dict[str, set[str]] = {}
        uniques: dict[str, set[str]] = {}
        for table in ("calls", "customer_phones", "callbacks", "call_offers"):
            ixs = insp.get_indexes(table)
            ucs = insp.get_unique_constraints(table)
            indexed[table] = {",".join(str(c) for c in ix["column_names"]) for ix in ixs}
            uniques[table] = {",".join(u["column_names"]) for u in ucs} | {
                ",".join(str(c) for c in ix["column_names"]) for ix in ixs if ix["unique"]
            }
            indexed[table] |= uniques[table]
        return names, indexed, uniques

    try:
        async with engine.connect() as conn:
            names, indexed, uniques = await conn.run_sync(_inspect)
            if database_url.startswith("postgresql"):
                # Alembic's version table lives in the test's own schema, not in public
                schema = schema_of(database_url)
                where = await conn.scalar(
                    text(
                        "SELECT table_schema FROM information_schema.tables "
                        "WHERE table_name = 'alembic_version' AND table_schema = :s"
                    ),
                    {"s": schema},
                )
                assert where == schema
    finally:
        await engine.dispose()
    assert names >= CRM_TABLES
    assert "alembic_version" in names
    assert "e164" in uniques["customer_phones"]
    assert "call_id" in uniques["calls"]
    for wanted in ("started_at", "agent,started_at", "queue,started_at"):
        assert wanted in indexed["calls"], wanted
    assert "status,due_at" in indexed["callbacks"]
    # the offers' foreign key leads a unique index, so offers of a call are one range scan
    assert any(cols.startswith("call_pk") for cols in indexed["call_offers"])


async def test_timestamps_come_back_timezone_aware(database_url: str) -> None:
    engine = create_engine(database_url)
    at = datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(t.dnc).values(phone_e164="+8613800138000", reason="", added_at=at)
            )
            back = await conn.scalar(select(t.dnc.c.added_at))
    finally:
        await engine.dispose()
    assert back == at
    assert back is not None
    assert back.utcoffset() is not None
