"""Two real `callcenter serve` instances over Redis and PostgreSQL against the simulator.

Kill -9 the instance that reads AMI in the middle of a call: the standby takes over
within 5 s, resyncs, and the call still lands in the CRM as one complete record.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from crm_core.db.migrate import upgrade_async
from tests.conftest import PG_URL
from tests.integration.redis_server import PrivateRedis, free_port

CLI = [sys.executable, "-m", "callcenter.cli"]
PLAIN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")


def _http(url: str, method: str = "GET", body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        return json.loads(resp.read())


def _wait_http(url: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


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
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        procs["sim"] = subprocess.Popen(
            [*CLI, "sim", "--ami-port", str(ami), "--control-port", str(control)],
            env=base_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_http(f"http://127.0.0.1:{control}/sim/state")
        ports = {}
        for name in ("cc1", "cc2"):
            ports[name] = free_port()
            env = {
                **base_env,
                "CALLCENTER_HTTP_PORT": str(ports[name]),
                "CALLCENTER_AGI_PORT": str(free_port()),
                "CALLCENTER_INSTANCE_ID": name,
                "CALLCENTER_OUTBOX_PATH": str(tmp_path / f"{name}-outbox.db"),
            }
            logs.append((tmp_path / f"{name}.log").open("wb"))
            procs[name] = subprocess.Popen(
                [*CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=logs[-1]
            )
            _wait_http(f"http://127.0.0.1:{ports[name]}/healthz")

        client = redis.Redis.from_url(rds.url)
        end = time.monotonic() + 10
        holder = None
        while time.monotonic() < end and holder is None:
            value = client.get("cc:lease:ami:default")
            holder = value.decode().split(":")[0] if value else None
            time.sleep(0.1)
        assert holder in ("cc1", "cc2")
        standby = "cc2" if holder == "cc1" else "cc1"

        _http(f"http://127.0.0.1:{control}/sim/agents/Agent%201001", "PUT", {"answer_after": 0.3})
        call_id = _http(
            f"http://127.0.0.1:{control}/sim/calls",
            "POST",
            {"from": "13800138000", "name": "张三", "queue": "support", "talk_seconds": 6},
        )["call_id"]  # type: ignore[index]
        time.sleep(1.5)  # the agent is talking now
        procs[holder].send_signal(signal.SIGKILL)
        procs[holder].wait(timeout=10)
        killed_at = time.monotonic()

        took_over = None
        while time.monotonic() - killed_at < 10:
            value = client.get("cc:lease:ami:default")
            if value and value.decode().startswith(standby + ":"):
                took_over = time.monotonic() - killed_at
                break
            time.sleep(0.1)
        assert took_over is not None
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

        found: list[asyncpg.Record] = []
        end = time.monotonic() + 20
        while time.monotonic() < end and not found:
            found = asyncio.run(rows())
            time.sleep(0.3)
        assert len(found) == 1, (tmp_path / f"{standby}.log").read_text()[-3000:]
        (record,) = found
        assert record["outcome"] == "answered"
        assert record["agent"] == "Agent 1001"
        assert record["answered_at"] is not None
        assert record["ended_at"] is not None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        rds.stop()
        for fh in logs:
            fh.close()
