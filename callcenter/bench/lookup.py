"""`callcenter bench lookup`: customer lookup by phone with 1,000,000 customers.

Loads N customers (each with one mobile number) into a fresh PostgreSQL schema and a
temporary SQLite file, then times `customers.find_by_phone` — the real repository
path, numbers written in varied forms — and prints p50/p99 per lookup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import insert

from callcenter.bench.scratch import Scratch, copy_customers, scratch_schema
from callcenter.settings import Settings
from crm_core.db import open_database
from crm_core.db import tables as t
from crm_core.db.migrate import upgrade_async

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _number(n: int) -> str:
    return f"1{3 + n % 7}{n:09d}"[:11]


def _forms(number: str) -> list[str]:
    return [
        number,
        f"+86 {number[:3]} {number[3:7]} {number[7:]}",
        f"0086{number}",
        f"+86-{number}",
    ]


async def _load_pg(scratch: Scratch, count: int) -> None:
    conn = await asyncpg.connect(scratch.plain, server_settings={"search_path": scratch.schema})
    try:
        await copy_customers(conn, count, phone=lambda i: ("+86" + _number(i), _number(i)))
        # as autovacuum leaves a long-lived table: hint bits and visibility map set
        await conn.execute("VACUUM ANALYZE customers")
        await conn.execute("VACUUM ANALYZE customer_phones")
    finally:
        await conn.close()


async def _load_sqlite(url: str, count: int) -> None:
    db = await open_database(url)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        for start in range(0, count, 50_000):
            rows = range(start, min(count, start + 50_000))
            await conn.execute(
                insert(t.customers),
                [
                    {
                        "id": i + 1,
                        "name": f"客户{i}",
                        "company": "",
                        "title": "",
                        "vip_level": 0,
                        "notes": "",
                        "language": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in rows
                ],
            )
            await conn.execute(
                insert(t.customer_phones),
                [
                    {
                        "id": i + 1,
                        "customer_id": i + 1,
                        "e164": "+86" + _number(i),
                        "raw": _number(i),
                        "label": "mobile",
                    }
                    for i in rows
                ],
            )
    await db.close()


async def _time(
    url: str, count: int, lookups: int, *, engine_only: bool = False
) -> tuple[float, float, float]:
    db = await open_database(url)
    if engine_only:  # the baseline: every lookup through SQLAlchemy's engine
        db.customers.fast = None
    rng = random.Random(7)
    samples: list[float] = []
    try:
        for _ in range(200):  # warm the pool and caches
            await db.customers.find_by_phone(_number(rng.randrange(count)))
        for _ in range(lookups):
            n = rng.randrange(count)
            form = rng.choice(_forms(_number(n)))
            start = time.perf_counter()
            found = await db.customers.find_by_phone(form)
            samples.append((time.perf_counter() - start) * 1000)
            assert found is not None
            assert found.id == n + 1
    finally:
        await db.close()
    samples.sort()
    return (statistics.median(samples), samples[int(len(samples) * 0.99) - 1], samples[-1])


async def _bench(args: argparse.Namespace) -> dict[str, object]:
    count = 20_000 if args.quick else 1_000_000
    lookups = 2_000 if args.quick else 10_000
    result: dict[str, object] = {"bench": "lookup", "customers": count, "lookups": lookups}
    async with scratch_schema(args.database_url or PG, "bench") as scratch:
        await upgrade_async(scratch.url)
        t0 = time.perf_counter()
        await _load_pg(scratch, count)
        print(f"PostgreSQL: loaded {count:,} customers in {time.perf_counter() - t0:.1f} s")
        b50, b99, bworst = await _time(scratch.url, count, lookups, engine_only=True)
        print(
            f"PostgreSQL lookup, engine path (baseline): p50 {b50:.3f} ms  p99 {b99:.3f} ms"
            f"  max {bworst:.3f} ms"
        )
        p50, p99, worst = await _time(scratch.url, count, lookups)
        print(f"PostgreSQL lookup: p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {worst:.3f} ms")
        result.update(
            p50_ms_postgresql=round(p50, 3),
            p99_ms_postgresql=round(p99, 3),
            p99_ms_postgresql_engine_path=round(b99, 3),
            p99_ratio_engine_over_fast=round(b99 / p99, 2),
        )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade_async(url)
        t0 = time.perf_counter()
        await _load_sqlite(url, count)
        print(f"SQLite: loaded {count:,} customers in {time.perf_counter() - t0:.1f} s")
        p50, p99, worst = await _time(url, count, lookups)
        print(f"SQLite lookup:     p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {worst:.3f} ms")
        result.update(p50_ms_sqlite=round(p50, 3), p99_ms_sqlite=round(p99, 3))
    return result


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(_bench(args))))
    return 0
