"""Console state shared by every instance through Redis: logged-out sessions and
the login throttle's counters (ADR 0054, ADR 0055).

Both degrade to this instance's own memory while Redis is away instead of
refusing every request: a revocation made meanwhile is kept locally and written
to Redis when it answers again; throttle counts always go to the local limiter
too, so an instance keeps limiting on its own during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agent_console.web.auth import MemoryRevocations
from agent_console.web.throttle import LoginThrottle, account_key, address_key
from crm_core.aio import cancel_and_wait

log = logging.getLogger(__name__)

REVOKED_PREFIX = "cc:session:revoked:"
REVOKED_CHANNEL = "cc:session:revoked"
ADDRESS_PREFIX = "cc:login:fail:addr:"
ACCOUNT_PREFIX = "cc:login:fail:acct:"
_ERRORS = (RedisError, OSError, TimeoutError)


class _Complaints:
    """Log a Redis failure once, not once per request."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._failing = False

    def failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.error("%s: Redis unreachable (%s); this instance decides alone", self._what, exc)

    def ok(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("%s: Redis reachable again", self._what)


def connect(url: str) -> aioredis.Redis:
    """A client for request paths: short timeouts, so an outage costs little per request."""
    return aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


class RedisRevocations:
    """`Revocations` in Redis: one key per logged-out session, expiring with its token,
    plus a pub/sub notice so every instance closes that session's sockets at once."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._local = MemoryRevocations()
        self._pending: dict[str, float] = {}  # revoked while Redis was away
        self._watchers: list[Callable[[str], None]] = []
        self._complaints = _Complaints("session revocation")
        self._task: asyncio.Task[None] | None = None

    def watch(self, callback: Callable[[str], None]) -> None:
        self._watchers.append(callback)

    async def revoke(self, session_id: str, *, expires: float, now: float) -> None:
        await self._local.revoke(session_id, expires=expires, now=now)
        for watcher in self._watchers:
            watcher(session_id)
        self._pending[session_id] = expires
        await self._flush(now)

    async def is_revoked(self, session_id: str) -> bool:
        if await self._local.is_revoked(session_id):
            return True
        if self._pending:
            await self._flush(time.time())
        try:
            found = await self._redis.exists(REVOKED_PREFIX + session_id)
        except _ERRORS as exc:
            self._complaints.failed(exc)
            return False  # fail open: Redis away must not log out a whole call center
        self._complaints.ok()
        return bool(found)

    async def _flush(self, now: float) -> None:
        for session_id, expires in list(self._pending.items()):
            ttl_ms = int((expires - now) * 1000)
            try:
                if ttl_ms > 0:
                    await self._redis.set(REVOKED_PREFIX + session_id, b"1", px=ttl_ms)
                    await self._redis.publish(REVOKED_CHANNEL, session_id)
            except _ERRORS as exc:
                self._complaints.failed(exc)
                return
            self._complaints.ok()
            del self._pending[session_id]

    # -- notices from the other instances -------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="session-revocations")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(REVOKED_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    data = message.get("data")
                    session_id = data.decode() if isinstance(data, bytes) else str(data)
                    for watcher in self._watchers:
                        watcher(session_id)
            except _ERRORS:
                await asyncio.sleep(1.0)  # the key is the truth; notices are a courtesy
            finally:
                with contextlib.suppress(*_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisLoginThrottle:
    """`LoginLimiter` over Redis: the same fixed-window counters as `LoginThrottle`
    (agent_console/web/throttle.py), shared by every instance."""

    def __init__(self, client: aioredis.Redis, local: LoginThrottle) -> None:
        self._redis = client
        self._local = local  # counts too, and decides alone while Redis is away
        self._complaints = _Complaints("login throttle")

    async def retry_after(self, username: str, address: str) -> float:
        local = self._local.wait(username, address)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(ADDRESS_PREFIX + address_key(address))
            pipe.pttl(ADDRESS_PREFIX + address_key(address))
            pipe.get(ACCOUNT_PREFIX + account_key(username))
            pipe.pttl(ACCOUNT_PREFIX + account_key(username))
            by_addr, addr_ttl, by_acct, acct_ttl = await pipe.execute()
        except _ERRORS as exc:
            self._complaints.failed(exc)
            return local
        self._complaints.ok()
        shared = max(
            _wait(by_addr, addr_ttl, self._local.max_address),
            _wait(by_acct, acct_ttl, self._local.max_account),
        )
        return max(local, shared)

    async def failed(self, username: str, address: str, *, account_exists: bool) -> None:
        self._local.record_failure(username, address, account_exists=account_exists)
        window = max(1, round(self._local.window))
        keys = [ADDRESS_PREFIX + address_key(address)]
        if account_exists:  # made-up usernames never get a key (bounded, and no reset path)
            keys.append(ACCOUNT_PREFIX + account_key(username))
        try:
            pipe = self._redis.pipeline(transaction=True)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, window, nx=True)  # the window starts at the first failure
            await pipe.execute()
        except _ERRORS as exc:
            self._complaints.failed(exc)
            return
        self._complaints.ok()

    async def succeeded(self, username: str, address: str) -> None:
        self._local.clear_account(username)
        try:
            await self._redis.delete(ACCOUNT_PREFIX + account_key(username))
        except _ERRORS as exc:
            self._complaints.failed(exc)


def _wait(count: bytes | None, ttl_ms: int, limit: int) -> float:
    if count is None or int(count) < limit:
        return 0.0
    if ttl_ms < 0:  # no expiry: cannot happen (INCR and EXPIRE run in one MULTI)
        return 1.0
    return max(1.0, ttl_ms / 1000)
