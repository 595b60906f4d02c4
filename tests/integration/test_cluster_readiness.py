"""Readiness across a Redis restart: two real `callcenter serve` instances over a
private Redis and PostgreSQL, no traffic at all (nobody publishes anything).

A load balancer drops an instance whose `/readyz` answers 503. When Redis comes
back, both instances must say 200 again within a few seconds on their own (the
bus probes Redis), not when they next happen to publish an event.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.integration.cluster import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

BACK_WITHIN = 8.0  # seconds from Redis answering again to 200 on both instances


async def _ready(session: aiohttp.ClientSession, cluster: Cluster, name: str) -> tuple[int, str]:
    async with session.get(f"{cluster.url(name)}/readyz") as res:
        return res.status, await res.text()


async def _until_status(
    session: aiohttp.ClientSession, cluster: Cluster, status: int, timeout: float
) -> dict[str, float]:
    """Seconds until each instance answers `status`; fails naming the laggards."""
    start = time.monotonic()
    seen: dict[str, float] = {}
    last: dict[str, str] = {}
    while time.monotonic() - start < timeout:
        for name in ("cc1", "cc2"):
            if name not in seen:
                code, body = await _ready(session, cluster, name)
                last[name] = body
                if code == status:
                    seen[name] = time.monotonic() - start
        if len(seen) == 2:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz did not answer {status} within {timeout} s: {last}")


@pytest.mark.timeout(90)
async def test_readyz_recovers_on_both_idle_instances_after_redis_restart(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path)
    try:
        await cluster.start()
        async with aiohttp.ClientSession() as session:
            await _until_status(session, cluster, 200, 15)

            cluster.redis.stop()
            down = await _until_status(session, cluster, 503, 10)
            cluster.redis.start()  # same port, empty
            back = await _until_status(session, cluster, 200, BACK_WITHIN)
            print(f"\nreadyz 503 after stop: {down}; 200 after start: {back}")

            # and the component itself says why it is healthy again
            for name in ("cc1", "cc2"):
                code, body = await _ready(session, cluster, name)
                assert code == 200, body
                assert '"redis"' in body
    finally:
        await cluster.stop()
