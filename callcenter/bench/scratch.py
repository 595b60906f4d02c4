"""A throw-away PostgreSQL schema for one benchmark run, and the customers some load."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from callcenter.testing.cluster import drop_schema, schema_urls

CUSTOMER_COLUMNS = [
    "id",
    "name",
    "company",
    "title",
    "vip_level",
    "notes",
    "language",
    "created_at",
    "updated_at",
]


@dataclass(frozen=True)
class Scratch:
    schema: str
    url: str  # SQLAlchemy URL with the schema as search_path
    plain: str  # asyncpg DSN of the database (no search_path)


@asynccontextmanager
async def scratch_schema(base: str, prefix: str) -> AsyncIterator[Scratch]:
    """A fresh schema `PREFIX_xxxxxxxx` in the database `base` names; dropped on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url, plain = schema_urls(base, schema)
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    try:
        yield Scratch(schema, url, plain)
    finally:
        await drop_schema(plain, schema)


async def copy_customers(
    conn: asyncpg.Connection,
    count: int,
    phone: Callable[[int], tuple[str, str]],
    vip: Callable[[int], int] = lambda i: 0,
) -> None:
    """`count` customers `客户i` (ids from 1), each with one mobile `phone(i)` = (e164, raw)."""
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "customers",
        records=((i + 1, f"客户{i}", "", "", vip(i), "", "", now, now) for i in range(count)),
        columns=CUSTOMER_COLUMNS,
    )
    await conn.copy_records_to_table(
        "customer_phones",
        records=((i + 1, i + 1, *phone(i), "mobile") for i in range(count)),
        columns=["id", "customer_id", "e164", "raw", "label"],
    )
