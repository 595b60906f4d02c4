"""Contact-list uploads through the real HTTP route (issue 13 item 10): a streamed body is
read whole, every row is accepted or rejected with a reason, above 32 MB is a 413."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import func, select

from callcenter.bench.imports import LoopStall, contact_file
from crm_core.db import Database
from crm_core.db import tables as t
from tests.integration.campaign_console import campaign_console


@dataclass
class Console:
    url: str
    session: aiohttp.ClientSession
    headers: dict[str, str]
    db: Database

    async def campaign(self, name: str) -> int:
        async with self.session.post(
            f"{self.url}/api/campaigns", json={"name": name}, headers=self.headers
        ) as r:
            assert r.status == 201, await r.text()
            return int((await r.json())["id"])

    async def upload(
        self, campaign_id: int, body: bytes | Callable[[], AsyncIterator[bytes]], **headers: str
    ) -> tuple[int, dict[str, object]]:
        # BytesIO: sent with its Content-Length, without holding the loop
        data = io.BytesIO(body) if isinstance(body, bytes) else body()
        async with self.session.post(
            f"{self.url}/api/campaigns/{campaign_id}/contacts",
            data=data,
            headers={**self.headers, **headers},
        ) as r:
            return r.status, await r.json()

    async def stored(self, campaign_id: int) -> int:
        c = t.campaign_contacts
        async with self.db.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(c).where(c.c.campaign_id == campaign_id)
            )
        return int(count or 0)


@asynccontextmanager
async def console(database_url: str) -> AsyncIterator[Console]:
    async with campaign_console(database_url) as cc:
        yield Console(cc.url, cc.session, cc.headers, cc.db)


def streamed(data: bytes, piece: int = 64 * 1024) -> Callable[[], AsyncIterator[bytes]]:
    """The body as a chunked upload without Content-Length, arriving piece by piece."""

    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, len(data), piece):
            yield data[start : start + piece]

    return gen


def _check_report(report: dict[str, object], rows: int, invalid: frozenset[int]) -> int:
    rejected = report["rejected"]
    assert isinstance(rejected, list)
    accepted = report["accepted"]
    assert isinstance(accepted, int)
    lines = [r["row"] for r in rejected]
    assert len(lines) == len(set(lines)), "a row reported twice"
    assert accepted + len(rejected) == rows, (accepted, len(rejected), rows)
    assert {r["row"] for r in rejected if r["reason"] == "invalid-phone"} == invalid
    assert all(r["reason"] in ("invalid-phone", "duplicate") for r in rejected)
    return accepted


async def test_uploads_of_100000_and_200000_rows_are_imported_whole(database_url: str) -> None:
    async with console(database_url) as cc:
        known = await cc.db.customers.create(name="张三", phones=["13900000007"])
        big = contact_file(200_000, seed=3)
        small = contact_file(100_000, seed=5)
        for file, mode in ((small, "streamed"), (big, "length")):
            cid = await cc.campaign(f"{file.rows} rows")
            ticks = LoopStall()
            async with ticks:
                status, report = await cc.upload(
                    cid, streamed(file.data) if mode == "streamed" else file.data
                )
            assert status == 200, report
            accepted = _check_report(report, file.rows, file.invalid)
            assert accepted == len(file.numbers)
            assert report["merged"] == len(file.duplicates)
            assert await cc.stored(cid) == accepted
            # the last row of the file is there, matched to a customer
            last = await cc.db.campaigns.contact_by_phone(cid, "+86" + file.numbers[-1])
            assert last is not None
            assert last.customer_id is not None
            # a number the CRM knew is matched to its customer, not duplicated
            mine = await cc.db.campaigns.contact_by_phone(cid, "+8613900000007")
            assert mine is not None
            assert mine.customer_id == known.id
            # the console's sockets keep being served while a big list is imported
            assert ticks.max_ms < 1000, f"event loop stalled {ticks.max_ms:.0f} ms"
        c, p = t.customers, t.customer_phones
        async with cc.db.engine.connect() as conn:
            phones = await conn.scalar(select(func.count()).select_from(p))
            customers = await conn.scalar(select(func.count()).select_from(c))
        # one customer per distinct number of both lists (they share the 139… range)
        assert phones == customers == len(set(big.numbers) | set(small.numbers))


async def test_a_list_uploaded_again_reports_every_row(database_url: str) -> None:
    async with console(database_url) as cc:
        cid = await cc.campaign("twice")
        first = b"name,phone\nA,13800138000\nB,13800138001\n"
        status, report = await cc.upload(cid, first)
        assert (status, report["accepted"]) == (200, 2)
        status, report = await cc.upload(cid, first + b"C,13800138002\n")
        assert status == 200, report
        assert report["accepted"] == 1
        assert [(r["row"], r["reason"]) for r in report["rejected"]] == [  # type: ignore[union-attr]
            (2, "already-in-campaign"),
            (3, "already-in-campaign"),
        ]
        assert await cc.stored(cid) == 3


def _list_of(size: int) -> tuple[bytes, int]:
    """A contact list of exactly `size` bytes (rows of a kilobyte) and its row count."""
    header = "姓名,电话,备注\n".encode()
    note = "x" * 1000
    width = len(f"客户,139{0:08d},{note}\n".encode())
    rows = [f"客户,139{i:08d},{note}\n".encode() for i in range((size - len(header)) // width)]
    body = header + b"".join(rows)
    missing = size - len(body)
    body = body[:-1] + b"y" * missing + b"\n"  # the last note takes up the rest
    assert len(body) == size
    return body, len(rows)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_body_above_32_mb_is_refused_with_413(database_url: str) -> None:
    limit = 32 * 2**20
    too_big, _ = _list_of(33 * 2**20)
    async with console(database_url) as cc:
        cid = await cc.campaign("too big")
        sends: list[tuple[str, Callable[[], Awaitable[tuple[int, dict[str, object]]]]]] = [
            ("with Content-Length", lambda: cc.upload(cid, too_big)),
            ("chunked, no length", lambda: cc.upload(cid, streamed(too_big))),
            ("one byte over, chunked", lambda: cc.upload(cid, streamed(_list_of(limit + 1)[0]))),
        ]
        for how, send in sends:
            status, answer = await send()
            assert status == 413, (how, answer)
            assert answer["error_id"] == "too-large", (how, answer)
        assert await cc.stored(cid) == 0
        # exactly 32 MB is still a contact list, imported whole
        exact, rows = _list_of(limit)
        status, answer = await cc.upload(cid, streamed(exact))
        assert status == 200, answer
        assert (answer["accepted"], answer["rejected"]) == (rows, [])
        assert await cc.stored(cid) == rows


def test_bench_import_quick_prints_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "bench", "import", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "import"
    assert figures["rows"] == 20_000
    for key in ("rows_per_s_postgresql", "rows_per_s_sqlite", "baseline_rows_per_s", "ratio"):
        assert figures[key] > 0, key
    assert figures["max_loop_stall_ms"] >= 0
