"""Two real `callcenter serve` instances over Redis and PostgreSQL against the simulator.

Kill -9 the instance that reads AMI in the middle of a call: the standby takes over
within 5 s, resyncs, and the call still lands in the CRM as one complete record.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from callcenter.testing.cluster import Instances, PrivateRedis, free_port, wait_http
from crm_core.db.migrate import upgrade_async
from tests.conftest import PG_URL
from tests.polling import until

PLAIN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")


def _http(url: str, method: str = "GET", body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        return json.loads(resp.read())


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"t_cluster_{uuid.uuid4().hex[:8]}"
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(PLAIN)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()

    asyncio.run(drop())


def test_kill_active_instance_mid_call_loses_nothing(tmp_path: Path, schema: str) -> None:
    db_url = f"{PG_URL}?search_path={schema}"
    asyncio.run(upgrade_async(db_url))
    rds = PrivateRedis(tmp_path)
    rds.start()
    ami, control = free_port(), free_port()
    base_env = {
        **os.environ,
        "CALLCENTER_AMI_SECRET": "cluster-secret",
        "CALLCENTER_AMI_PORT": str(ami),
        "CALLCENTER_DATABASE_URL": db_url,
        "CALLCENTER_REDIS_URL": rds.url,
        "CALLCENTER_SECRET_KEY": "a-test-secret-of-enough-length",
        "CALLCENTER_AMI_PING_INTERVAL_SECONDS": "1",
        "CALLCENTER_AMI_WATCHDOG_SECONDS": "3",
    }
    cluster = Instances(tmp_path, base_env)
    try:
        cluster.start_sim(ami, control)
        asyncio.run(wait_http(f"http://127.0.0.1:{control}/sim/state"))
        for name in ("cc1", "cc2"):
            cluster.start_serve(name)
        asyncio.run(cluster.wait_up(["cc1", "cc2"], timeout=30.0))
        procs = cluster.procs

        client = redis.Redis.from_url(rds.url)

        def lease_holder() -> str | None:
            value = client.get("cc:lease:ami:default")
            return value.decode().split(":")[0] if value else None

        holder = until(lease_holder, timeout=10, what="an instance to take the AMI lease")
        assert holder in ("cc1", "cc2")
        standby = "cc2" if holder == "cc1" else "cc1"

        _http(f"http://127.0.0.1:{control}/sim/agents/Agent%201001", "PUT", {"answer_after": 0.3})
        call_id = _http(
            f"http://127.0.0.1:{control}/sim/calls",
            "POST",
            {"from": "13800138000", "name": "张三", "queue": "support", "talk_seconds": 6},
        )["call_id"]  # type: ignore[index]

        def talking() -> bool:
            calls = _http(f"http://127.0.0.1:{control}/sim/state", "GET")["calls"]  # type: ignore[index]
            return any(c["call_id"] == call_id and c["state"] == "talking" for c in calls)

        until(talking, timeout=15, what="the agent to be talking")
        procs[holder].send_signal(signal.SIGKILL)
        procs[holder].wait(timeout=10)
        killed_at = time.monotonic()

        until(lambda: lease_holder() == standby, timeout=10, what="the standby to take the lease")
        took_over = time.monotonic() - killed_at
        assert took_over < 5.0

        async def rows() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(PLAIN, server_settings={"search_path": schema})
            try:
                return await conn.fetch(
                    "SELECT call_id, outcome, agent, answered_at, ended_at"
                    " FROM calls WHERE call_id = $1",
                    call_id,
                )
            finally:
                await conn.close()

        try:
            found = until(lambda: asyncio.run(rows()), timeout=20, what="the call's record")
        except AssertionError as exc:
            log_tail = cluster.log_tail(standby, 3000)
            raise AssertionError(f"{exc}: {log_tail}") from None
        assert len(found) == 1
        (record,) = found
        assert record["outcome"] == "answered"
        assert record["agent"] == "Agent 1001"
        assert record["answered_at"] is not None
        assert record["ended_at"] is not None
    finally:
        asyncio.run(cluster.stop())
        rds.stop()
