"""`callcenter bench import [--quick]`: contact-list import speed, rows per second.

Times `crm_core.services.campaigns.load_contacts` — the code the upload route runs —
on a 200,000-row file (20,000 with --quick) into a fresh PostgreSQL schema and a
temporary SQLite file, each already holding customers for a quarter of the numbers
(matched, the rest created). While it runs, a ticker on the same event loop records
the longest stall (what a console's WebSocket frames would wait). The baseline is the
old path (a customer lookup and a create per row) on a smaller sample, same run.
Last line: {"bench": "import", "rows", "rows_per_s_postgresql", "rows_per_s_sqlite",
"baseline_rows_per_s", "ratio", "max_loop_stall_ms", …}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from callcenter.bench.scratch import scratch_schema
from callcenter.settings import Settings
from crm_core.db import Database, open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    DialMode,
)
from crm_core.services.campaigns import load_contacts
from crm_core.services.contact_import import ImportReport, parse_contacts

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ContactFile:
    data: bytes
    rows: int
    invalid: frozenset[int]  # line numbers (header is line 1) with a bad number
    duplicates: frozenset[int]  # line numbers repeating an earlier number
    numbers: tuple[str, ...]  # every distinct valid number, 11 digits


def mobile(n: int) -> str:
    """The n-th of a run of distinct, valid mainland mobile numbers."""
    return f"139{n:08d}"


def contact_file(rows: int, *, seed: int = 7, first: int = 0) -> ContactFile:
    """A CSV (UTF-8) of `rows` contacts: mobiles written in the forms people use, about
    one in 50 a bad number and one in 100 repeating an earlier row's number."""
    rng = random.Random(seed)
    lines = ["姓名,电话,公司,备注"]
    invalid: set[int] = set()
    duplicates: set[int] = set()
    numbers: list[str] = []
    for i in range(rows):
        line_no = i + 2
        roll = rng.random()
        if roll < 0.02:
            phone = rng.choice(["12345", "13", "abc", "1390000000x", ""])
            invalid.add(line_no)
        elif roll < 0.03 and numbers:
            phone = rng.choice(numbers)
            duplicates.add(line_no)
        else:
            phone = mobile(first + len(numbers))
            numbers.append(phone)
            form = rng.random()
            if form < 0.2:
                phone = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
            elif form < 0.3:
                phone = f"0086{phone}"
        lines.append(f"客户{i},{phone},公司{i % 997},第{i}行")
    return ContactFile(
        data=("\n".join(lines) + "\n").encode("utf-8"),
        rows=rows,
        invalid=frozenset(invalid),
        duplicates=frozenset(duplicates),
        numbers=tuple(numbers),
    )


class LoopStall:
    """The longest gap between wake-ups of a task that asks to wake every `tick` s."""

    def __init__(self, tick: float = 0.005) -> None:
        self.tick = tick
        self.max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.tick)
            now = time.perf_counter()
            self.max_ms = max(self.max_ms, (now - last - self.tick) * 1000)
            last = now

    async def __aenter__(self) -> LoopStall:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - start


async def per_row_import(db: Database, campaign_id: int, data: bytes) -> ImportReport:
    """The old path, for the baseline: one lookup (and maybe a create) per row."""
    blocked = await db.dnc.all_numbers()
    report = parse_contacts(data, on_dnc=blocked.__contains__)
    contacts: list[CampaignContact] = []
    for row in report.accepted:
        customer = await db.customers.find_by_phone(row.phone_e164)
        if customer is None:
            customer = await db.customers.create(
                name=row.name or row.phone_e164, phones=[row.phone_e164], company=row.company
            )
        contacts.append(
            CampaignContact(
                id=0,
                campaign_id=campaign_id,
                phone_e164=row.phone_e164,
                name=row.name,
                customer_id=customer.id,
                extra=dict(row.extra),
            )
        )
    await db.campaigns.add_contacts(contacts)
    return report


async def _campaign(db: Database, name: str) -> int:
    draft = Campaign(
        id=0,
        name=name,
        kind=CampaignKind.SALES,
        mode=DialMode.PROGRESSIVE,
        status=CampaignStatus.DRAFT,
    )
    return (await db.campaigns.create(draft)).id


async def _existing_customers(db: Database, numbers: tuple[str, ...]) -> None:
    """Customers for every fourth number, as a CRM that already knows some of the list."""
    from crm_core.ports.repositories import NewCustomer

    known = [NewCustomer("+86" + n, f"老客户{n[-4:]}") for n in numbers[::4]]
    await db.customers.ids_by_phones(known)


async def _measure(url: str, label: str, file: ContactFile) -> dict[str, float]:
    db = await open_database(url)
    try:
        await _existing_customers(db, file.numbers)
        campaign_id = await _campaign(db, f"bench {label}")
        async with LoopStall() as stall:
            report, seconds = await _timed(
                lambda: load_contacts(
                    campaign_id,
                    file.data,
                    campaigns=db.campaigns,
                    customers=db.customers,
                    dnc=db.dnc,
                )
            )
            await asyncio.to_thread(json.dumps, report.as_dict())
        accounted = len(report.accepted) + len(report.rejected)
        assert accounted == file.rows, f"{label}: {accounted} of {file.rows} rows accounted"
        stored = len(await db.campaigns.contacts(campaign_id, limit=file.rows + 1))
        assert stored == len(report.accepted), f"{label}: {stored} stored"
        rate = file.rows / seconds
        print(
            f"{label}: {file.rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s "
            f"({len(report.accepted):,} stored, {len(report.rejected):,} rejected), "
            f"longest event-loop stall {stall.max_ms:.0f} ms"
        )
        return {"rows_per_s": rate, "stall_ms": stall.max_ms, "seconds": seconds}
    finally:
        await db.close()


async def _baseline(url: str, rows: int) -> float:
    file = contact_file(rows, seed=11, first=5_000_000)
    db = await open_database(url)
    try:
        await _existing_customers(db, file.numbers)
        campaign_id = await _campaign(db, "bench per-row")
        _, seconds = await _timed(lambda: per_row_import(db, campaign_id, file.data))
    finally:
        await db.close()
    rate = rows / seconds
    print(f"PostgreSQL, old per-row path: {rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s")
    return rate


async def _bench(args: argparse.Namespace) -> dict[str, object]:
    rows = 20_000 if args.quick else 200_000
    sample = 1_000 if args.quick else 5_000
    file = contact_file(rows)
    print(f"contact file: {rows:,} rows, {len(file.data) / 2**20:.1f} MB")
    result: dict[str, object] = {"bench": "import", "rows": rows}
    async with scratch_schema(args.database_url or PG, "bench_import") as scratch:
        await upgrade_async(scratch.url)
        pg = await _measure(scratch.url, "PostgreSQL", file)
        baseline = await _baseline(scratch.url, sample)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade_async(url)
        lite = await _measure(url, "SQLite", file)
    result.update(
        rows_per_s_postgresql=round(pg["rows_per_s"]),
        rows_per_s_sqlite=round(lite["rows_per_s"]),
        seconds_postgresql=round(pg["seconds"], 2),
        seconds_sqlite=round(lite["seconds"], 2),
        baseline_rows=sample,
        baseline_rows_per_s=round(baseline),
        ratio=round(pg["rows_per_s"] / baseline, 1),
        max_loop_stall_ms=round(max(pg["stall_ms"], lite["stall_ms"]), 1),
    )
    return result


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(_bench(args))))
    return 0
