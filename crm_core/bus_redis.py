"""Event bus across instances over a Redis Stream.

Every instance delivers its own events to its local subscribers at once (the hot
path never waits for a Redis round trip) and appends them to one shared stream;
a reader task delivers the other instances' events from the stream. Events carry
their origin instance so nobody sees its own twice. While Redis is unreachable,
outgoing events wait in a bounded buffer and are appended in order when it
returns; the operator is told through `ServiceHealthChanged` and the log.

Health is probed, not only inferred from traffic: a PING every `probe_seconds`
marks the bus unhealthy when Redis stops answering and healthy again as soon as
it answers (and neither the writer nor the reader is failing), so an idle
instance's `/readyz` follows Redis within seconds.

Why a stream and not pub/sub: a stream keeps the last events (MAXLEN), so a
reader that lost its connection resumes from its last id instead of losing what
was published meanwhile (docs/adr/0027-redis-streams-bus.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from crm_core.bus import InProcessBus
from crm_core.domain.event_codec import EventDecodeError, decode, encode
from crm_core.domain.events import DomainEvent, ServiceHealthChanged
from crm_core.ports.bus import EventHandler, Subscription

log = logging.getLogger(__name__)

STREAM = "cc:events"


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        instance_id: str | None = None,
        stream: str = STREAM,
        maxlen: int = 100_000,
        buffer_limit: int = 100_000,
        block_ms: int = 1000,
        probe_seconds: float = 2.0,
    ) -> None:
        self.url = url
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.stream = stream
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.probe_seconds = probe_seconds
        # this instance's subscribers: the in-process bus delivers to them, in order
        self._local = InProcessBus()
        self._out: deque[str] = deque(maxlen=buffer_limit)
        self._out_ready = asyncio.Event()
        self._redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_id = "$"
        self.healthy = True
        self._write_failing = False
        self._read_failing = False
        self.published = 0
        self.received = 0
        self.dropped = 0

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._redis = aioredis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
        try:
            # start reading from "now" so a fresh instance does not replay history
            self._last_id = await self._stream_end() or "0-0"
        except (RedisError, OSError):
            self._last_id = ""  # Redis is away: "now" is decided when it answers
        self._tasks = [
            asyncio.create_task(self._writer(), name="redis-bus-writer"),
            asyncio.create_task(self._reader(), name="redis-bus-reader"),
            asyncio.create_task(self._prober(), name="redis-bus-prober"),
        ]

    async def stop(self) -> None:
        # give the writer a moment to flush what is buffered
        for _ in range(50):
            if not self._out or not self.healthy:
                break
            await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # a read blocked on a dead socket must not hold up shutdown
            await asyncio.wait(self._tasks, timeout=3.0)
        self._tasks = []
        if self._redis is not None:
            with contextlib.suppress(TimeoutError, RedisError, OSError):
                await asyncio.wait_for(self._redis.aclose(), 3.0)
            self._redis = None

    # -- port ------------------------------------------------------------------------
    async def publish(self, event: DomainEvent) -> None:
        self.published += 1
        await self._deliver_local(event)
        if isinstance(event, ServiceHealthChanged) and event.component == "redis":
            return  # about ourselves: local news only
        if len(self._out) == self._out.maxlen:
            self.dropped += 1
            log.error("redis bus buffer full (%d events): oldest event dropped", len(self._out))
        payload = encode(event)
        payload["origin"] = self.instance_id
        self._out.append(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        self._out_ready.set()

    async def publish_all(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            await self.publish(event)

    def subscribe(self, handler: EventHandler) -> Subscription:
        return self._local.subscribe(handler)

    @property
    def backlog(self) -> int:
        return len(self._out)

    # -- internals -------------------------------------------------------------------
    async def _deliver_local(self, event: DomainEvent) -> None:
        await self._local.publish(event)

    async def _set_health(self, healthy: bool, detail: str) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if healthy:
            log.warning("redis bus: connection to %s restored (%s)", self.url, detail)
        else:
            log.error("redis bus: lost %s (%s); buffering events locally", self.url, detail)
        await self._deliver_local(
            ServiceHealthChanged(
                at=datetime.now(UTC), component="redis", healthy=healthy, detail=detail
            )
        )

    async def _writer(self) -> None:
        assert self._redis is not None
        backoff = 0.1
        while True:
            if not self._out:
                self._out_ready.clear()
                await self._out_ready.wait()
            batch = list(self._out)[:500]
            try:
                pipe = self._redis.pipeline(transaction=False)
                for item in batch:
                    pipe.xadd(self.stream, {"e": item}, maxlen=self.maxlen, approximate=True)
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self._write_failing = True
                await self._set_health(False, f"write failed: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            for _ in batch:
                self._out.popleft()
            self._write_failing = False
            if not self._read_failing:
                await self._set_health(True, "write ok")

    async def _reader(self) -> None:
        assert self._redis is not None
        backoff = 0.1
        recovering = False
        while True:
            try:
                if recovering or not self._last_id:
                    await self._check_stream_reset()
                    recovering = False
                resp: Any = await self._redis.xread(
                    {self.stream: self._last_id}, count=1000, block=self.block_ms
                )
            except (RedisError, OSError) as exc:
                self._read_failing = True
                await self._set_health(False, f"read failed: {exc}")
                recovering = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            if self._read_failing:
                self._read_failing = False
                if not self._write_failing:
                    await self._set_health(True, "read ok")
            for _stream, entries in resp or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    await self._handle_entry(fields)

    async def _prober(self) -> None:
        """PING Redis every `probe_seconds`, whether or not anything is published."""
        assert self._redis is not None
        while True:
            try:
                await asyncio.wait_for(self._redis.ping(), timeout=max(1.0, self.probe_seconds))
            except (RedisError, OSError, TimeoutError) as exc:
                await self._set_health(False, f"ping failed: {exc or type(exc).__name__}")
            else:
                # a failing writer or reader reports its own recovery on its next success
                if not (self._write_failing or self._read_failing):
                    await self._set_health(True, "ping ok")
            await asyncio.sleep(self.probe_seconds)

    async def _stream_end(self) -> str | None:
        """The stream's last id, None when there is no stream. Connection errors raise:
        not reaching Redis says nothing about its stream."""
        assert self._redis is not None
        try:
            info = await self._redis.xinfo_stream(self.stream)
        except ResponseError:  # no such key
            return None
        return str(info["last-generated-id"].decode())

    async def _check_stream_reset(self) -> None:
        """After an outage: a Redis that restarted without persistence starts ids again
        from zero, so read the new stream from its beginning rather than wait for old
        ids. A Redis that kept its data (AOF, or only the network was gone) keeps our
        place: reading it from the start again would replay every event it holds."""
        end = await self._stream_end()
        if not self._last_id:  # started while Redis was away
            self._last_id = end or "0-0"
        elif end is None or _id_tuple(end) < _id_tuple(self._last_id):
            log.warning("redis bus: stream %s was reset; reading it from the start", self.stream)
            self._last_id = "0-0"

    async def _handle_entry(self, fields: dict[bytes, bytes]) -> None:
        raw = fields.get(b"e")
        if raw is None:
            return
        try:
            payload = json.loads(raw)
            if payload.get("origin") == self.instance_id:
                return
            event = decode(payload)
        except (ValueError, EventDecodeError) as exc:
            log.error("redis bus: skipped an undecodable event: %s", exc)
            return
        self.received += 1
        await self._deliver_local(event)


def _id_tuple(stream_id: str) -> tuple[int, int]:
    if stream_id == "$":
        return (2**63, 0)
    ms, _, seq = stream_id.partition("-")
    return (int(ms), int(seq or 0))
