"""`callcenter bench ivr`: concurrent FastAGI sessions through *welcome* with a CRM lookup
on PostgreSQL; sessions/s and the time from connection to the routing decision
(`SET VARIABLE CC_QUEUE`), with about 200 sessions open at once.

Callers arrive at 200 per second and each hears the welcome prompt for a second (as
on a real line), so about 200 sessions are open at any moment; the latency that
matters is the server's, from the connection to the routing decision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import asyncpg

from callcenter import heap
from callcenter.bench.scratch import Scratch, copy_customers, scratch_schema
from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from ivr_scripts.routes import routes
from telephony.fastagi import FastAgiServer

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ARRIVALS_PER_S = 200


async def _bench(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    customers = 10_000 if args.quick else 100_000
    sessions = 1_000 if args.quick else 5_000
    async with scratch_schema(args.database_url or PG, "bench_ivr") as scratch:
        runs = await _runs(scratch, customers, sessions, settings)
    base, tuned = runs["default_gc"], runs["service_gc"]
    print(
        f"{sessions} welcome sessions, {tuned['peak_open']:.0f} at a time, {customers:,} "
        f"customers in PostgreSQL: {tuned['rate']:,.0f} sessions/s; connection → routing "
        f"decision p50 {tuned['p50']:.1f} ms, p99 {tuned['p99']:.1f} ms "
        f"(default GC settings, same run: p50 {base['p50']:.1f} ms, p99 {base['p99']:.1f} ms)"
    )
    return {
        "bench": "ivr",
        "concurrent": round(tuned["peak_open"]),
        "sessions": sessions,
        "sessions_per_s": round(tuned["rate"]),
        "p50_ms": round(tuned["p50"], 2),
        "p99_ms": round(tuned["p99"], 2),
        "default_gc_p50_ms": round(base["p50"], 2),
        "default_gc_p99_ms": round(base["p99"], 2),
    }


async def _runs(
    scratch: Scratch, customers: int, sessions: int, settings: Settings
) -> dict[str, dict[str, float]]:
    """Load the customers into the scratch schema, then drive the sessions twice."""
    await upgrade_async(scratch.url)
    conn = await asyncpg.connect(scratch.plain, server_settings={"search_path": scratch.schema})
    await copy_customers(
        conn,
        customers,
        phone=lambda i: (f"+86138{i:08d}", f"138{i:08d}"),
        vip=lambda i: int(i % 7 == 0),
    )
    await conn.execute("ANALYZE")
    await conn.close()
    db = await open_database(scratch.url)
    server = FastAgiServer(routes(db=db, bus=InProcessBus(), settings=settings))
    await server.start("127.0.0.1", 0)
    runs: dict[str, dict[str, float]] = {}
    try:
        # the same server and data, first with CPython's default collector settings,
        # then with the service's policy (callcenter.heap, ADR 0036)
        runs["default_gc"] = await _drive(server.port, sessions)
        heap.settle_after_start()
        try:
            runs["service_gc"] = await _drive(server.port, sessions)
        finally:
            heap.restore_defaults()
    finally:
        await server.stop()
        await db.close()
    return runs


async def _drive(port: int, sessions: int) -> dict[str, float]:
    """Run the callers' process against `port`; rate, peak open sessions, p50 and p99."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callcenter.bench.ivr_clients",
        str(port),
        str(sessions),
        str(ARRIVALS_PER_S),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    driven = json.loads(out)
    latencies = sorted(float(x) for x in driven["latencies_ms"])
    return {
        "rate": sessions / float(driven["elapsed_s"]),
        "peak_open": float(driven["peak_open"]),
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(_bench(args, settings))))
    return 0
