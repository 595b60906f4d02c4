"""One active AMI reader per PBX: lease takeover and fencing on a real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from callcenter.testing.cluster import PrivateRedis
from crm_core.lease import RedisLease
from tests.polling import eventually


class Role:
    def __init__(self) -> None:
        self.active_tokens: list[int] = []
        self.lost: list[int] = []

    async def acquired(self, token: int) -> None:
        self.active_tokens.append(token)

    async def lost_it(self, token: int) -> None:
        self.lost.append(token)


class Lease(RedisLease):
    """The real lease, counting the times it competed for the key (asked Redis for it,
    past any stand-by after an outage): the positive sign that a standby had its chance."""

    competed = 0

    async def _try_acquire(self, now: float) -> None:
        await super()._try_acquire(now)
        if now >= self._compete_after:
            self.competed += 1


async def _until(pred: Callable[[], object], timeout: float, what: str = "") -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await eventually(pred, timeout=timeout, what=what or "the lease condition")
    return loop.time() - start


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records if r.name == "crm_core.lease")


async def test_one_holder_and_standby_takes_over_within_5_s(private_redis: PrivateRedis) -> None:
    ra, rb = Role(), Role()
    a = Lease(private_redis.url, "pbx1", "a", on_acquired=ra.acquired, on_lost=ra.lost_it)
    b = Lease(private_redis.url, "pbx1", "b", on_acquired=rb.acquired, on_lost=rb.lost_it)
    a.start()
    await _until(lambda: a.held, 5)
    b.start()
    await _until(lambda: b.competed >= 2, 5)  # the standby asked twice for the key …
    assert a.held  # … and there is exactly one active reader
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


async def test_redis_restart_keeps_the_reader_and_the_fence(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis restarts empty: the lease key and the fence counter are gone. The holder
    takes its key back; the standby, though it polls ten times as often, does not
    snatch it (a hand-over would lose or double the events around it); and the next
    real takeover still gets a larger fencing token."""
    ra, rb = Role(), Role()
    a = Lease(private_redis.url, "pbx3", "a", on_acquired=ra.acquired, on_lost=ra.lost_it)
    b = Lease(
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
    await _until(lambda: b.competed >= 1, 5)

    caplog.set_level(logging.WARNING, logger="crm_core.lease")
    private_redis.stop()
    # both fail to reach it meanwhile
    await _until(lambda: _logged(caplog, "keeping the role meanwhile"), 10)
    await _until(lambda: _logged(caplog, "standing by"), 10)
    private_redis.start()
    # the holder takes its key back; the standby waits out its stand-by, then competes
    # for the key (again and again, ten times as often as the holder renews) and loses
    await _until(lambda: _logged(caplog, "a took it back"), 10, "the holder taking its key back")
    await _until(lambda: _logged(caplog, "Redis is back; b stands by"), 10)
    competed = b.competed
    await _until(lambda: b.competed >= competed + 5, 10)
    assert a.held
    assert ra.lost == []
    assert rb.active_tokens == []

    assert a._task is not None
    a._task.cancel()  # now the holder really dies
    await _until(lambda: b.held, 8)
    assert rb.active_tokens[0] > ra.active_tokens[0]
    await b.stop()
    await a.stop(release=False)
