"""`callcenter bench screenpop [--quick]`: screen-pop latency with many consoles.

N authenticated WebSocket consoles (a separate process, `screenpop_clients`)
hold their sockets while a PBX on a real TCP socket offers calls to their
agents. Measured per pop: from the moment the `AgentCalled` frame has been
written to the PBX's socket to the moment the `screen_pop` arrives at the
console of that agent (CLOCK_MONOTONIC is shared by both processes). The path
in between is the product's: socket → `Ingest` (framing + tracker) → bus →
seat board → hub → WebSocket.

Also reported: connections held, pops lost or sent to the wrong console, and
the server's memory per idle console (RSS growth / N).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_console.app import create_app
from agent_console.live.keys import HUB_KEY
from agent_console.web.auth import SIGNER_KEY
from agent_console.web.deps import ConsoleConfig, ConsoleDeps
from callcenter.adapters import rules_promiser
from callcenter.bench.consoles import ConsoleProcess
from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.domain.models import Role, User


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class BenchPbx:
    """A PBX socket that offers calls the way Asterisk's queue does (frames as in the
    recorded captures) and notes when each offer frame left."""

    server: asyncio.AbstractServer | None = None
    writer: asyncio.StreamWriter | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    sent_at: dict[str, tuple[int, float]] = field(default_factory=dict)
    port: int = 0
    _next: int = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        await writer.drain()
        self.writer = writer
        self.connected.set()
        while await reader.read(65536):  # actions are not needed here
            pass

    async def offer(self, console: int, member: str, interface: str) -> str:
        assert self.writer is not None
        self._next += 1
        uid = f"1800000000.{self._next}"
        caller = f"1380013{self._next % 10000:04d}"
        channel = f"PJSIP/trunk-{self._next:08x}"
        common = (
            f"Channel: {channel}\r\nCallerIDNum: {caller}\r\nCallerIDName: Bench Caller\r\n"
            f"Context: inbound\r\nExten: 4008001234\r\nUniqueid: {uid}\r\nLinkedid: {uid}\r\n"
        )
        setup = (
            f"Event: Newchannel\r\nPrivilege: call,all\r\nChannelState: 4\r\n{common}\r\n"
            f"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nQueue: support\r\nPosition: 1\r\n"
            f"Count: 1\r\n{common}\r\n"
        )
        offer = (
            f"Event: AgentCalled\r\nPrivilege: agent,all\r\n{common}"
            f"DestChannel: {interface.split('/n')[0]}-{self._next:08x};1\r\n"
            f"Queue: support\r\nInterface: {interface}\r\nMemberName: {member}\r\n\r\n"
        )
        self.writer.write(setup.encode())
        await self.writer.drain()
        await asyncio.sleep(0)
        self.writer.write(offer.encode())
        self.sent_at[uid] = (console, time.monotonic())
        await self.writer.drain()
        return uid

    async def end(self, uid: str, caller_channel_hint: int) -> None:
        """Caller gives up: keeps the tracker's memory flat over a long run."""
        assert self.writer is not None
        frames = (
            f"Event: QueueCallerAbandon\r\nQueue: support\r\nUniqueid: {uid}\r\nLinkedid: {uid}\r\n"
            f"Position: 1\r\nOriginalPosition: 1\r\nHoldTime: 1\r\n\r\n"
            f"Event: Hangup\r\nChannel: PJSIP/trunk-{caller_channel_hint:08x}\r\n"
            f"Uniqueid: {uid}\r\nLinkedid: {uid}\r\nCause: 16\r\n\r\n"
        )
        self.writer.write(frames.encode())
        await self.writer.drain()

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def ami_reader(port: int, bus: InProcessBus) -> None:
    """The service's side of the AMI socket: bytes → Ingest → bus, nothing in between."""
    from telephony.ingest import Ingest
    from telephony.tracker import CallTracker

    ingest = Ingest(CallTracker(15.0))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while data := await reader.read(65536):
            for event in ingest.feed_bytes(data, datetime.now(UTC)):
                await bus.publish(event)
    finally:
        writer.close()


async def _bench(consoles: int, calls: int, rate: float) -> dict[str, Any]:
    from crm_core.db import open_database
    from crm_core.db.migrate import upgrade_async
    from crm_core.passwords import hash_password

    tmp = Path(tempfile.mkdtemp(prefix="bench-screenpop-"))
    url = f"sqlite+aiosqlite:///{tmp / 'crm.db'}"
    await upgrade_async(url)
    db = await open_database(url)
    hashed = hash_password("bench")
    users: list[User] = []
    for i in range(consoles):
        users.append(
            await db.users.create(
                username=f"bench{i:04d}",
                display_name=f"Bench {i:04d}",
                role=Role.AGENT,
                password_hash=hashed,
                member_name=f"Bench {i:04d}",
                interface=f"Local/{20000 + i}@agents/n",
                queues=("support",),
            )
        )
    bus = InProcessBus()
    pbx = BenchPbx()
    await pbx.start()
    services = ConsoleDeps(
        db=db,
        engine=db.engine,
        bus=bus,
        commands=None,  # type: ignore[arg-type]  # no PBX commands are issued
        clock=SystemClock(),
        callbacks=rules_promiser(db, bus, SystemClock()),
        config=ConsoleConfig(secret_key="bench-" + "x" * 20),
    )
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = runner.addresses[0][1]
    reader_task = asyncio.create_task(ami_reader(pbx.port, bus))
    await asyncio.wait_for(pbx.connected.wait(), 10)
    signer = app[SIGNER_KEY]
    tokens = [signer.issue(u, kind="bearer", ttl=3600, now=time.time())[0] for u in users]

    gc.collect()
    await asyncio.sleep(0.5)
    rss_before = rss_kb()
    clients = await ConsoleProcess.start("callcenter.bench.screenpop_clients")
    try:
        await clients.send({"url": f"http://127.0.0.1:{port}", "tokens": tokens})
        ready = await clients.receive(180)
        await asyncio.sleep(1.0)
        gc.collect()
        rss_after = rss_kb()
        held = app[HUB_KEY].connection_count()
        kb_per_console = (rss_after - rss_before) / max(1, held)

        # traffic: calls offered at `rate` per second to random consoles
        interval = 1.0 / rate
        started = time.monotonic()
        pending: list[tuple[str, int]] = []
        for k in range(calls):
            i = random.randrange(consoles)
            uid = await pbx.offer(i, users[i].member_name or "", users[i].interface or "")
            pending.append((uid, pbx._next))
            if len(pending) > 50:
                await pbx.end(*pending.pop(0))
            target = started + (k + 1) * interval
            await asyncio.sleep(max(0.0, target - time.monotonic()))
        await asyncio.sleep(1.0)
        await clients.send("report")
        report = await clients.receive(60)
    finally:
        await clients.quit(30.0)
        reader_task.cancel()
        await asyncio.gather(reader_task, return_exceptions=True)
        await runner.cleanup()
        await pbx.stop()
        await db.close()
        shutil.rmtree(tmp, ignore_errors=True)

    latencies: list[float] = []
    wrong = 0
    seen: set[str] = set()
    for console, call_id, arrived in report["pops"]:
        sent = pbx.sent_at.get(call_id)
        if sent is None:
            continue
        if console != sent[0]:
            wrong += 1
            continue
        seen.add(call_id)
        latencies.append((arrived - sent[1]) * 1000.0)
    lost = len(pbx.sent_at) - len(seen)
    latencies.sort()
    return {
        "consoles": ready["ready"],
        "held": held,
        "calls": len(pbx.sent_at),
        "lost": lost,
        "wrong_console": wrong,
        "closed": len(report["closed"]),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else None,
        "max_ms": latencies[-1] if latencies else None,
        "kb_per_console": kb_per_console,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    quick = bool(getattr(args, "quick", False))
    consoles, calls, rate = (200, 300, 50.0) if quick else (1000, 2000, 50.0)
    print(
        f"screenpop: {consoles} consoles, {calls} calls at {rate:.0f}/s of background traffic",
        file=sys.stderr,
    )
    result = asyncio.run(_bench(consoles, calls, rate))
    print(f"consoles connected     {result['consoles']} (held at the server: {result['held']})")
    print(f"calls offered          {result['calls']}")
    print(
        f"pops lost              {result['lost']} (wrong console: {result['wrong_console']}, "
        f"sockets closed: {result['closed']})"
    )
    print(
        f"offer frame -> pop     p50 {result['p50_ms']:.2f} ms   p99 {result['p99_ms']:.2f} ms   "
        f"max {result['max_ms']:.2f} ms"
    )
    print(f"memory per idle console {result['kb_per_console']:.1f} KB")
    print(
        json.dumps(
            {
                "bench": "screenpop",
                "consoles": result["consoles"],
                "p50_ms": round(result["p50_ms"], 3),
                "p99_ms": round(result["p99_ms"], 3),
                "max_ms": round(result["max_ms"], 3),
                "lost": result["lost"] + result["wrong_console"],
                "kb_per_console": round(result["kb_per_console"], 1),
            }
        )
    )
    ok = result["lost"] == 0 and result["wrong_console"] == 0
    return 0 if ok else 1
