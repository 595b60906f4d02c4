"""The Redis event bus between two instances, and through a Redis restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.testing.cluster import PrivateRedis
from crm_core.bus_redis import RedisBus
from crm_core.domain.events import AgentRingStarted, DomainEvent, ServiceHealthChanged
from tests.polling import eventually


def _pop(n: int) -> AgentRingStarted:
    return AgentRingStarted(
        at=datetime.now(UTC),
        call_id=f"1700000000.{n}",
        queue="support",
        agent="Agent 1001",
        interface="Local/1001@agents/n",
        caller_number="13800138000",
        caller_name="张三",
    )


async def _wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    await eventually(predicate, timeout=timeout, what="the bus condition", every=0.02)


@pytest.fixture
async def two_buses(private_redis: PrivateRedis) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    a = RedisBus(private_redis.url, instance_id="a", block_ms=100)
    b = RedisBus(private_redis.url, instance_id="b", block_ms=100)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_event_reaches_the_other_instance_once_and_its_own_at_once(
    two_buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_buses
    seen_a: list[DomainEvent] = []
    seen_b: list[DomainEvent] = []
    a.subscribe(seen_a.append)
    b.subscribe(seen_b.append)
    event = _pop(1)
    await a.publish(event)
    assert seen_a == [event]  # local delivery does not wait for Redis
    await _wait_for(lambda: len(seen_b) == 1)
    assert seen_b == [event]
    assert seen_b[0].caller_name == "张三"
    # b's answer comes to a through the stream, after a's own event: once a has it, its
    # reader has passed its own event, which it must not have handed on a second time
    answer = _pop(2)
    await b.publish(answer)
    await _wait_for(lambda: answer in seen_a)
    assert seen_a == [event, answer]  # never its own event twice


async def test_order_is_kept_per_origin(two_buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = two_buses
    seen: list[str] = []
    b.subscribe(lambda e: seen.append(e.call_id) if isinstance(e, AgentRingStarted) else None)
    for n in range(500):
        await a.publish(_pop(n))
    await _wait_for(lambda: len(seen) == 500)
    assert seen == [f"1700000000.{n}" for n in range(500)]


async def test_redis_restart_loses_nothing(private_redis: PrivateRedis) -> None:
    a = RedisBus(private_redis.url, instance_id="a", block_ms=100)
    b = RedisBus(private_redis.url, instance_id="b", block_ms=100)
    await a.start()
    await b.start()
    try:
        received: list[str] = []
        health: list[bool] = []
        b.subscribe(
            lambda e: received.append(e.call_id) if isinstance(e, AgentRingStarted) else None
        )
        a.subscribe(
            lambda e: health.append(e.healthy) if isinstance(e, ServiceHealthChanged) else None
        )
        for n in range(10):
            await a.publish(_pop(n))
        await _wait_for(lambda: len(received) == 10)

        private_redis.stop()
        for n in range(10, 30):  # published while Redis is down: buffered
            await a.publish(_pop(n))
        await _wait_for(lambda: False in health)
        assert a.backlog > 0
        private_redis.start()  # same port, empty data: stream ids start again

        await _wait_for(lambda: len(received) == 30, timeout=20)
        assert received == [f"1700000000.{n}" for n in range(30)]
        await _wait_for(lambda: health[-1] is True)
        assert a.backlog == 0
    finally:
        await asyncio.wait_for(a.stop(), 15)
        await asyncio.wait_for(b.stop(), 15)


async def test_redis_restart_with_its_data_replays_nothing(tmp_path: Path) -> None:
    """Redis with an append-only file (as in docker/compose.yaml) restarts with the
    stream it had: each reader goes on from its place. Reading from the start again
    would hand every console every pop the stream still holds, a second time."""
    server = PrivateRedis(tmp_path, persistent=True)
    server.start()
    a = RedisBus(server.url, instance_id="a", block_ms=100)
    b = RedisBus(server.url, instance_id="b", block_ms=100)
    await a.start()
    await b.start()
    try:
        received: list[str] = []
        b.subscribe(
            lambda e: received.append(e.call_id) if isinstance(e, AgentRingStarted) else None
        )
        for n in range(10):
            await a.publish(_pop(n))
        await _wait_for(lambda: len(received) == 10)

        server.stop()
        # both readers fail meanwhile (and will look for their place once it is back)
        await _wait_for(lambda: not a.healthy and not b.healthy)
        for n in range(10, 20):
            await a.publish(_pop(n))
        server.start()

        await _wait_for(lambda: len(received) >= 20, timeout=20)
        # a last event behind them in the stream: once it is here, a replay of the first
        # ten (read again from the stream's start) would have come before it
        await a.publish(_pop(99))
        await _wait_for(lambda: "1700000000.99" in received, timeout=20)
        assert received == [f"1700000000.{n}" for n in [*range(20), 99]]
    finally:
        await asyncio.wait_for(a.stop(), 15)
        await asyncio.wait_for(b.stop(), 15)
        server.stop()


async def test_instance_started_while_redis_is_away_does_not_replay_history(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path, persistent=True)
    server.start()
    a = RedisBus(server.url, instance_id="a", block_ms=100)
    await a.start()
    b = RedisBus(server.url, instance_id="b", block_ms=100)
    try:
        for n in range(10):  # yesterday's calls, still in the stream
            await a.publish(_pop(n))
        await _wait_for(lambda: a.backlog == 0)
        server.stop()
        await b.start()  # Redis is away while this instance starts
        received: list[str] = []
        b.subscribe(
            lambda e: received.append(e.call_id) if isinstance(e, AgentRingStarted) else None
        )
        server.start()
        await _wait_for(lambda: bool(b._last_id), timeout=10)  # it found its place
        for n in range(10, 15):
            await a.publish(_pop(n))
        await _wait_for(lambda: len(received) >= 5, timeout=20)
        # a last event behind them: any history replayed would have come before it
        await a.publish(_pop(99))
        await _wait_for(lambda: "1700000000.99" in received, timeout=20)
        assert received == [f"1700000000.{n}" for n in [*range(10, 15), 99]]
    finally:
        await asyncio.wait_for(a.stop(), 15)
        await asyncio.wait_for(b.stop(), 15)
        server.stop()
