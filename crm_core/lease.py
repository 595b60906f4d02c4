"""Leases: exactly one active AMI reader per PBX across instances.

A lease is a Redis key `cc:lease:<name>` holding `<instance>:<token>` with a
short TTL that the holder renews. The token comes from a counter incremented on
every acquisition (a fencing token): a newer holder always has a larger token.
A standby retries every second, so it takes over within `ttl + 1` seconds of the
holder dying. While Redis itself is unreachable the holder keeps its role (no
other instance can take it then) and says so in the log; call records are
idempotent by call id, so a short overlap after a partition writes nothing twice.

When Redis comes back (restarted empty, the key gone), the holder takes its key
back at its next renewal, and a standby that lost Redis too waits one TTL before
competing: the reader does not change hands because of a Redis restart (a hand-over
drops the events between one reader's `Events: off` and the other's resync, and
doubles those of an overlap: screen pops lost or shown twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crm_core.aio import cancel_and_wait

log = logging.getLogger(__name__)

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
  return token
end
return 0
"""

# 1: renewed; 2: the key was gone (Redis restarted empty, or it expired and nobody
# took it) and the holder took it back, keeping the fence at least at its token;
# 0: someone else holds it.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[3]) then
    redis.call('SET', KEYS[2], ARGV[3])
  end
  return 2
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Callback = Callable[[int], Awaitable[None]]


class RedisLease:
    def __init__(
        self,
        redis_url: str,
        name: str,
        instance_id: str,
        *,
        ttl_seconds: float = 3.0,
        retry_seconds: float = 1.0,
        on_acquired: Callback,
        on_lost: Callback,
    ) -> None:
        self.name = name
        self.instance_id = instance_id
        self.ttl_ms = int(ttl_seconds * 1000)
        self.retry = retry_seconds
        self._redis = aioredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._key = f"cc:lease:{name}"
        self._fence = f"cc:lease:{name}:fence"
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self.token = 0
        self._task: asyncio.Task[None] | None = None
        self._redis_was_away = False  # a standby waits for the holder after an outage
        self._compete_after = 0.0

    @property
    def held(self) -> bool:
        return self.token > 0

    @property
    def _value(self) -> str:
        return f"{self.instance_id}:{self.token}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.name}")

    async def stop(self, *, release: bool = True) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self.held:
            if release:
                with contextlib.suppress(RedisError, OSError):
                    await self._redis.eval(_RELEASE, 1, self._key, self._value)
            token, self.token = self.token, 0
            await self._on_lost(token)
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            await asyncio.wait_for(self._redis.aclose(), 3.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if not self.held:
                    await self._try_acquire(loop.time())
                else:
                    kept = int(
                        await self._redis.eval(
                            _RENEW, 2, self._key, self._fence, self._value, self.ttl_ms, self.token
                        )
                    )
                    if kept == 2:
                        log.warning(
                            "lease %s: the key was gone (Redis restarted?); %s took it back "
                            "(token %d)",
                            self.name,
                            self.instance_id,
                            self.token,
                        )
                    elif not kept:
                        token, self.token = self.token, 0
                        log.error(
                            "lease %s lost by %s (token %d)", self.name, self.instance_id, token
                        )
                        await self._on_lost(token)
            except (RedisError, OSError) as exc:
                self._redis_was_away = self._redis_was_away or not self.held
                log.error(
                    "lease %s: Redis unreachable (%s); %s",
                    self.name,
                    exc,
                    "keeping the role meanwhile" if self.held else "standing by",
                )
            await asyncio.sleep(self.ttl_ms / 3000 if self.held else self.retry)

    async def _try_acquire(self, now: float) -> None:
        if self._redis_was_away:
            # Redis answers again: the holder, if alive, renews within a third of the
            # TTL; give it the whole TTL before competing for a key a restart removed
            await self._redis.ping()
            self._redis_was_away = False
            self._compete_after = now + self.ttl_ms / 1000
            log.warning(
                "lease %s: Redis is back; %s stands by %.0f s for the holder to renew",
                self.name,
                self.instance_id,
                self.ttl_ms / 1000,
            )
        if now < self._compete_after:
            return
        token = int(
            await self._redis.eval(
                _ACQUIRE, 2, self._key, self._fence, self.instance_id, self.ttl_ms
            )
        )
        if token:
            self.token = token
            log.warning(
                "lease %s acquired by %s (fencing token %d)", self.name, self.instance_id, token
            )
            await self._on_acquired(token)
