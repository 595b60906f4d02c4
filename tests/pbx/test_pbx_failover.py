"""Failover of the AMI reader on the real PBX (issue 13 #2).

Two `callcenter serve` instances share a private Redis (the AMI-reader lease, ADR
0028) and the PostgreSQL schema, against one real Asterisk. Calls come steadily;
the instance holding the lease is killed with SIGKILL mid-traffic. Every call placed
must be recorded once, with its talk and wait within 1 s of what the PBX did (the
test's own AMI connection sees every event), and side effects must exist once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from callcenter.testing.cluster import PrivateRedis
from tests.conftest import PG_ENABLED, PG_URL
from tests.pbx.harness import (
    CLI,
    PASSWORD,
    AmiControl,
    Api,
    PbxStack,
    create_agents,
    free_port,
    wait_for,
)

EXTRA_AGENTS = {f"agent{n}": (f"100{n}", f"Agent 100{n}") for n in range(4, 9)}
ALL_AGENTS = {
    "agent1": ("1001", "Agent 1001"),
    "agent2": ("1002", "Agent 1002"),
    "agent3": ("1003", "Agent 1003"),
    **EXTRA_AGENTS,
}
CALLS = 36
KILL_AFTER = 14
EVERY = 0.8  # seconds between calls
SHY = "1008"  # this agent's phone never answers: a missed call, a violation, abandons
ABANDON_THRESHOLD = 5.0  # settings abandon_threshold_seconds: longer waits owe a callback


class FailoverStack(PbxStack):
    """One Asterisk, a private Redis and two `serve` instances: `a` then `b`.

    `a` starts first and takes the AMI lease; the dialplan's FastAGI is `b`'s, so
    killing `a` leaves the IVR up (as a load balancer in front of FastAGI would)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.redis = PrivateRedis(workdir)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {"a": free_port(), "b": self.http_port}
        self._logs: list[Any] = []

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(CALLCENTER_REDIS_URL=self.redis.url, **extra)

    async def _prepare_database(self) -> None:
        await super()._prepare_database()
        from crm_core.db import open_database
        from crm_core.passwords import hash_password

        db = await open_database(self.db_url)
        try:
            team = await db.users.get_or_create_team("Team A")
            hashed = hash_password(PASSWORD)
            self.users |= await create_agents(db, team.id, EXTRA_AGENTS, hashed)
        finally:
            await db.close()

    def start(self) -> None:
        self.redis.start()
        self.start_pbx()
        self.launch("a", agi_port=free_port())
        asyncio.run(self._ready("a"))
        assert asyncio.run(self.lease_holder()) == "a"
        self.launch("b", agi_port=self.agi_port)
        asyncio.run(self._ready("b"))

    def launch(self, name: str, *, agi_port: int) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        self.procs[name] = subprocess.Popen(
            [*CLI, "serve"],
            env=self.env(
                CALLCENTER_HTTP_PORT=str(self.ports[name]),
                CALLCENTER_AGI_PORT=str(agi_port),
                CALLCENTER_INSTANCE_ID=name,
                CALLCENTER_OUTBOX_PATH=str(self.workdir / f"{name}-outbox.db"),
            ),
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=self.workdir,
        )

    async def _ready(self, name: str) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/healthz"

        async def up() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as res,
                ):
                    return res.status == 200
            except (aiohttp.ClientError, TimeoutError):
                assert self.procs[name].poll() is None, self.log(name)
                return False

        await wait_for(up, timeout=40, what=f"serve {name}")

    async def lease_holder(self, timeout: float = 15.0) -> str:
        client = aioredis.from_url(self.redis.url)

        async def holder() -> str | None:
            value = await client.get("cc:lease:ami:default")
            if not value:
                return None
            text = value.decode() if isinstance(value, bytes) else str(value)
            return text.split(":")[0]

        try:
            return await wait_for(holder, timeout=timeout, what="an AMI lease holder")
        finally:
            await client.aclose()

    def kill(self, name: str) -> None:
        os.kill(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()
        self.stop_asterisk()
        self.redis.stop()
        if PG_ENABLED:
            asyncio.run(self._drop_schema())

    def log(self, name: str, chars: int = 5000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("SELECT set_config('search_path', $1, false)", self.schema)
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailoverStack]:
    assert PG_ENABLED, "the failover test shares PostgreSQL between two instances"
    stack = FailoverStack(tmp_path_factory.mktemp("failover"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def control(failover: FailoverStack) -> AsyncIterator[AmiControl]:
    ami = AmiControl(failover.ami_port)
    await ami.start()
    try:
        yield ami
    finally:
        with contextlib.suppress(OSError, TimeoutError):
            await ami.hangup_all()
        await ami.stop()


def _truth(ami: AmiControl, call_id: str) -> dict[str, float | str | None]:
    """What the PBX did with one call, from the test's own AMI events."""
    mine = [e for e in ami.events if e.get("Linkedid") == call_id]

    def first(name: str) -> dict[str, str] | None:
        return next((e for e in mine if e["Event"] == name), None)

    join, connect = first("QueueCallerJoin"), first("AgentConnect")
    gave_up = first("QueueCallerAbandon")
    hangups = [float(e["_t"]) for e in mine if e["Event"] == "Hangup"]
    return {
        "joined": float(join["_t"]) if join else None,
        "answered": float(connect["_t"]) if connect else None,
        "abandoned": float(gave_up["_t"]) if gave_up else None,
        "agent": connect.get("MemberName") if connect else None,
        "ended": max(hangups) if hangups else None,
    }


async def test_kill_9_of_the_reader_mid_traffic_loses_and_doubles_nothing(
    failover: FailoverStack, control: AmiControl
) -> None:
    async with aiohttp.ClientSession() as http:
        manager = await Api(failover, http, "manager1").login()
        for username, (ext, member) in ALL_AGENTS.items():
            await control.phone(ext, answer_after="never" if ext == SHY else 1, talk=0)
            agent = await Api(failover, http, username).login()
            since = len(control.events)
            await agent.post("/api/agent/state", {"action": "sign_in"})
            await control.wait_event("QueueMemberAdded", since=since, MemberName=member)

        placed: list[str] = []
        killed_at = 0.0
        for n in range(CALLS):
            if n == KILL_AFTER:
                failover.kill("a")
                killed_at = time.time()
            # seconds from the answer: about 4 s of IVR (welcome, then 0), a ring, then
            # 4-7 s of talk
            hold = 9 + n % 4
            placed.append(await control.call_in(f"1390000{n:04d}", f"客户{n}", hold=hold))
            await asyncio.sleep(EVERY)  # the arrival process, not a wait for state
        for call_id in placed:
            await control.wait_event("Hangup", Uniqueid=call_id, timeout=60)
        assert await failover.lease_holder() == "b"

        records: dict[str, dict[str, Any]] = {}

        async def all_recorded() -> bool:
            for call_id in placed:
                if call_id not in records:
                    status, body = await manager.request("GET", f"/api/calls/{call_id}")
                    if status == 200:
                        records[call_id] = body
            return len(records) == len(placed)

        with contextlib.suppress(AssertionError):
            await wait_for(all_recorded, timeout=30, what="every call's record")

    lost = [c for c in placed if c not in records]
    errors: list[tuple[str, str, float]] = []
    wrong: list[tuple[str, str, Any, Any]] = []
    owed: set[str] = set()  # abandoned after waiting longer than the threshold
    for call_id, record in records.items():
        truth = _truth(control, call_id)
        answered, joined, ended = truth["answered"], truth["joined"], truth["ended"]
        if not isinstance(joined, float) or not isinstance(ended, float):
            wrong.append((call_id, "never queued", record["outcome"], truth))
            continue
        if answered is None:
            gave_up = truth["abandoned"]
            assert isinstance(gave_up, float), (call_id, truth)
            if record["outcome"] != "abandoned":
                wrong.append((call_id, "outcome", record["outcome"], "abandoned"))
            errors.append((call_id, "wait", abs(record["wait_seconds"] - (gave_up - joined))))
            if gave_up - joined > ABANDON_THRESHOLD:
                owed.add(call_id)
            continue
        assert isinstance(answered, float)
        if record["outcome"] != "answered" or record["agent"] != truth["agent"]:
            wrong.append((call_id, "agent", record["agent"], truth["agent"]))
        errors.append((call_id, "talk", abs(record["talk_seconds"] - (ended - answered))))
        errors.append((call_id, "wait", abs(record["wait_seconds"] - (answered - joined))))
    first_start = min(float(_truth(control, c)["joined"] or time.time()) for c in placed)
    extra = await failover.rows(
        "SELECT call_id FROM calls WHERE started_at >= to_timestamp($1) "
        "AND NOT call_id = ANY($2::text[])",
        first_start - 5,
        placed,
    )
    callbacks = await failover.rows(
        "SELECT call_id, count(*) AS n FROM callbacks WHERE call_id = ANY($1::text[]) "
        "GROUP BY call_id",
        placed,
    )
    violations = await failover.rows(
        "SELECT call_id, kind, count(*) AS n FROM violations "
        "WHERE call_id = ANY($1::text[]) GROUP BY call_id, kind",
        placed,
    )
    doubled = [r for r in callbacks + violations if r["n"] > 1]
    with_callback = {r["call_id"] for r in callbacks}
    if with_callback != owed:
        wrong.append(("-", "callbacks", sorted(with_callback), sorted(owed)))
    worst = max(errors, key=lambda e: e[2], default=("", "", 0.0))
    summary = (
        f"failover: placed {len(placed)}, recorded {len(records)}, lost {len(lost)}, "
        f"duplicated {len(extra) + len(doubled)} (extra records {extra}, doubled side "
        f"effects {doubled}), max duration error {worst[2]:.3f} s ({worst[0]} {worst[1]}), "
        f"wrong {wrong}; callbacks {callbacks}, violations {violations}; "
        f"killed {killed_at:.1f}"
    )
    print(summary)
    detail = f"{summary}\nlog b: {failover.log('b')}"
    assert not lost, detail
    assert not extra, detail
    assert not doubled, detail
    assert not wrong, detail
    assert worst[2] <= 1.0, detail
    assert len(records) == len(placed), detail
