"""One active AMI reader per PBX: lease takeover and fencing on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.testing.cluster import PrivateRedis
from crm_core.lease import RedisLease


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class Role:
    def __init__(self) -> None:
        self.active_tokens: list[int] = []
        self.lost: list[int] = []

    async def acquired(self, token: int) -> None:
        self.active_tokens.append(token)

    async def lost_it(self, token: int) -> None:
        self.lost.append(token)


async def _until(pred: object, timeout: float) -> float:
    assert callable(pred)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not pred():
        if loop.time() - start > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_one_holder_and_standby_takes_over_within_5_s(private_redis: PrivateRedis) -> None:
    ra, rb = Role(), Role()
    a = RedisLease(private_redis.url, "pbx1", "a", on_acquired=ra.acquired, on_lost=ra.lost_it)
    b = RedisLease(private_redis.url, "pbx1", "b", on_acquired=rb.acquired, on_lost=rb.lost_it)
    a.start()
    await _until(lambda: a.held, 5)
    b.start()
    await asyncio.sleep(1.5)
    assert a.held  # exactly one active reader
    assert not b.held

    # the active instance dies without releasing (crash): its key must expire
    assert a._task is not None
    a._task.cancel()
    took = await _until(lambda: b.held, 6)
    assert took < 5.0
    assert rb.active_tokens[0] > ra.active_tokens[0]  # fencing token grows
    await b.stop()
    await a.stop(release=False)


async def test_clean_release_hands_over_at_once(private_redis: PrivateRedis) -> None:
    ra, rb = Role(), Role()
    a = RedisLease(private_redis.url, "pbx2", "a", on_acquired=ra.acquired, on_lost=ra.lost_it)
    b = RedisLease(private_redis.url, "pbx2", "b", on_acquired=rb.acquired, on_lost=rb.lost_it)
    a.start()
    await _until(lambda: a.held, 5)
    b.start()
    await a.stop()
    assert ra.lost == ra.active_tokens
    took = await _until(lambda: b.held, 3)
    assert took < 2.0
    await b.stop()


async def test_redis_restart_keeps_the_reader_and_the_fence(private_redis: PrivateRedis) -> None:
    """Redis restarts empty: the lease key and the fence counter are gone. The holder
    takes its key back; the standby, though it polls ten times as often, does not
    snatch it (a hand-over would lose or double the events around it); and the next
    real takeover still gets a larger fencing token."""
    ra, rb = Role(), Role()
    a = RedisLease(private_redis.url, "pbx3", "a", on_acquired=ra.acquired, on_lost=ra.lost_it)
    b = RedisLease(
        private_redis.url,
        "pbx3",
        "b",
        retry_seconds=0.1,
        on_acquired=rb.acquired,
        on_lost=rb.lost_it,
    )
    a.start()
    await _until(lambda: a.held, 5)
    b.start()
    await asyncio.sleep(0.5)

    private_redis.stop()
    await asyncio.sleep(1.5)  # both fail to reach it meanwhile
    private_redis.start()
    await asyncio.sleep(5.0)
    assert a.held
    assert ra.lost == []
    assert rb.active_tokens == []

    assert a._task is not None
    a._task.cancel()  # now the holder really dies
    await _until(lambda: b.held, 8)
    assert rb.active_tokens[0] > ra.active_tokens[0]
    await b.stop()
    await a.stop(release=False)
