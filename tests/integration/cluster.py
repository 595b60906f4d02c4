"""Two real `callcenter serve` processes, the PBX simulator, a private Redis and a
PostgreSQL schema of their own; plus the clients the cluster fault tests drive:
consoles that behave like console.js, and a tap on the simulator's AMI that
records every ring the PBX makes (the truth the pops are checked against).

Shared by the `test_cluster_*` modules (this module holds no tests itself).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from callcenter.testing.cluster import (
    Instances,
    PrivateRedis,
    drop_schema,
    free_port,
    lease_holder,
    schema_urls,
    wait_http,
)
from callcenter.testing.staff import create_agents, create_lead, numbered_agents
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from crm_core.passwords import hash_password
from tests.ami_wire import action_frame, hang_up, messages
from tests.conftest import PG_URL
from tests.console_frames import frame_messages
from tests.polling import eventually

PLAIN = schema_urls(PG_URL, "public")[1]
PASSWORD = "cluster-pass-1"
AMI_SECRET = "cluster-secret"
AGENTS = 6


class Cluster:
    """`await cluster.start()` … `await cluster.stop()` (always, in a finally)."""

    def __init__(
        self,
        workdir: Path,
        *,
        persistent_redis: bool = False,
        env: dict[str, str] | None = None,
        db_port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.extra_env = env or {}  # more CALLCENTER_* settings for both instances
        self.schema = f"t_cluster_{uuid.uuid4().hex[:8]}"
        self.db_url, self.plain = schema_urls(PG_URL, self.schema)
        # the instances may reach PostgreSQL another way (a proxy the test can cut)
        self.instance_db_url = (
            self.db_url.replace("127.0.0.1:5432", f"127.0.0.1:{db_port}")
            if db_port
            else self.db_url
        )
        self.redis = PrivateRedis(workdir, persistent=persistent_redis)
        self.ami_port = free_port()
        self.control_port = free_port()
        self.instances = Instances(workdir, self._env())
        self.holder = ""
        self.standby = ""
        self.customers: dict[str, int] = {}

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, *, customers: dict[str, str] | None = None) -> None:
        """Schema, users (agent1..6 = Agent 1001..1006, lead1), customers {phone: notes},
        Redis, the simulator, then cc1 and cc2; returns once one of them holds the lease."""
        await upgrade_async(self.db_url)
        db = await open_database(self.db_url)
        try:
            hashed = hash_password(PASSWORD)
            team = await db.users.get_or_create_team("Team A")
            await create_agents(db.users, team.id, numbered_agents(AGENTS), hashed)
            await create_lead(db.users, team.id, hashed)
            for phone, notes in (customers or {}).items():
                customer = await db.customers.create(
                    name=f"客户 {phone[-4:]}", phones=[phone], company="星河贸易", notes=notes
                )
                self.customers[phone] = customer.id
        finally:
            await db.close()
        self.redis.start()
        self.instances.start_sim(self.ami_port, self.control_port)
        await wait_http(f"{self.sim_url}/state")
        for name in ("cc1", "cc2"):
            self.instances.start_serve(name)
        await self.instances.wait_up(["cc1", "cc2"], timeout=30.0)
        self.holder = await self.lease_holder(timeout=15)
        self.standby = "cc2" if self.holder == "cc1" else "cc1"

    async def stop(self) -> None:
        await self.instances.stop()
        self.redis.stop()
        await drop_schema(self.plain, self.schema)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CALLCENTER_AMI_SECRET": AMI_SECRET,
            "CALLCENTER_AMI_PORT": str(self.ami_port),
            "CALLCENTER_DATABASE_URL": self.instance_db_url,
            "CALLCENTER_REDIS_URL": self.redis.url,
            "CALLCENTER_SECRET_KEY": "a-cluster-test-secret-of-enough-length",
            "CALLCENTER_AMI_PING_INTERVAL_SECONDS": "1",
            "CALLCENTER_AMI_WATCHDOG_SECONDS": "3",
            **self.extra_env,
        }

    def log_tail(self, name: str, chars: int = 4000) -> str:
        return self.instances.log_tail(name, chars)

    # --- looking in ---------------------------------------------------------------------

    def url(self, name: str) -> str:
        return self.instances.url(name)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}/sim"

    async def lease_holder(self, timeout: float = 10.0) -> str:
        return await lease_holder(self.redis.url, timeout)

    def rss_kb(self, name: str) -> int:
        return self.instances.rss_kb(name)

    async def metric(self, name: str, metric: str) -> float:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url(name)}/metrics") as res,
        ):
            text = await res.text()
        for line in text.splitlines():
            if line.startswith(metric + " ") or line.startswith(metric + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    # --- driving ------------------------------------------------------------------------

    async def token(self, session: aiohttp.ClientSession, name: str, username: str) -> str:
        async with session.post(
            f"{self.url(name)}/api/login", json={"username": username, "password": PASSWORD}
        ) as res:
            assert res.status == 200, await res.text()
            return str((await res.json())["token"])

    async def sim(self, method: str, path: str, body: object | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.sim_url}{path}", json=body) as res,
        ):
            assert res.status < 300, await res.text()
            return await res.json()

    async def place_call(self, number: str, name: str, *, talk_seconds: float) -> str:
        body = {"from": number, "name": name, "queue": "support", "talk_seconds": talk_seconds}
        return str((await self.sim("POST", "/calls", body))["call_id"])

    async def calls_in_progress(self) -> int:
        return len((await self.sim("GET", "/state"))["calls"])


class AmiTap:
    """A plain AMI listener on the simulator: every `AgentCalled` (one ring, so one
    pop owed to that agent's console), independent of our service and of Redis."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.rings: list[tuple[str, str]] = []  # (MemberName, Linkedid)
        self.events: list[dict[str, str]] = []  # every event's headers, in order
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._ids = 0

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        await reader.readline()  # banner
        self.action("Login", Username="callcenter", Secret=AMI_SECRET, Events="on")
        self._task = asyncio.create_task(self._read(reader))

    def action(self, name: str, **headers: str) -> None:
        """Send an action; its response is not waited for."""
        assert self._writer is not None
        self._ids += 1
        self._writer.write(action_frame(name, f"tap-{self._ids}", headers))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        async for batch in messages(reader):
            for headers in batch:
                if "Event" not in headers:
                    continue  # a response
                self.events.append(headers)
                if headers["Event"] == "AgentCalled":
                    self.rings.append((headers["MemberName"], headers["Linkedid"]))

    async def stop(self) -> None:
        await hang_up(self._writer, self._task, "the AMI tap's reader")

    def of(self, event: str, **match: str) -> list[dict[str, str]]:
        """The events named `event` whose headers have the values in `match`."""
        return [
            e
            for e in self.events
            if e["Event"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    def rings_of(self, member: str) -> Counter[str]:
        return Counter(call for who, call in self.rings if who == member)


@dataclass
class Console:
    """A console as console.js runs it: keeps the last `seq`, ignores what it already
    applied, resets on a snapshot, asks to resume when a heartbeat shows a gap, and
    reconnects with `?after=<last seq>`."""

    cluster: Cluster
    session: aiohttp.ClientSession
    username: str
    token: str = ""
    last_seq: int = -1
    pops: list[tuple[str, float, float]] = field(default_factory=list)  # call, rang, shown
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    stale: int = 0  # messages dropped as already applied
    closes: list[int | None] = field(default_factory=list)
    pongs: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    _task: asyncio.Task[None] | None = None

    async def connect(self, instance: str) -> None:
        if not self.token:
            self.token = await self.cluster.token(self.session, instance, self.username)
        query = f"?token={self.token}" + (f"&after={self.last_seq}" if self.last_seq >= 0 else "")
        self.ws = await self.session.ws_connect(f"{self.cluster.url(instance)}/ws{query}")
        self._task = asyncio.create_task(self._run(self.ws))

    async def flush(self, timeout: float = 10.0) -> None:
        """Ping and wait for the pong. The pong is queued behind whatever the instance
        had queued for this socket: once it is here, all that has arrived."""
        assert self.ws is not None
        pongs = self.pongs
        await self.ws.send_json({"type": "ping"})
        await eventually(
            lambda: self.pongs > pongs, timeout=timeout, what=f"{self.username}'s pong"
        )

    async def drop(self) -> None:
        """The network blips: the socket goes away (the console will reconnect)."""
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await self._task

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for batch in frame_messages(ws):
            for message in batch:
                await self._handle(ws, message)
        self.closes.append(ws.close_code)

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, msg: dict[str, Any]) -> None:
        kind, seq = msg["type"], msg.get("seq")
        if kind == "pong":
            self.pongs += 1
        if kind == "snapshot":
            self.snapshots += 1
            self.last_seq = seq
            self.cards = {card["call_id"]: card for card in msg.get("calls", [])}
            return
        if kind == "heartbeat":
            if seq > self.last_seq >= 0:
                await ws.send_json({"type": "resume", "after": self.last_seq})
            return
        if isinstance(seq, int) and kind not in ("pong", "error"):
            if seq <= self.last_seq:
                self.stale += 1
                return
            if self.last_seq >= 0 and seq != self.last_seq + 1:
                self.gaps.append((self.last_seq, seq))
            self.last_seq = seq
        if kind == "screen_pop":
            rang = datetime.fromisoformat(msg["ring_started_at"]).timestamp()
            self.pops.append((msg["call_id"], rang, time.time()))
            self.cards[msg["call_id"]] = msg

    def popped(self) -> Counter[str]:
        return Counter(call for call, _, _ in self.pops)

    def latencies(self) -> list[float]:
        return sorted(shown - rang for _, rang, shown in self.pops)
