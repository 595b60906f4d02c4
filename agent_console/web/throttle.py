"""Login throttling: a limit per source address and a limit per account (ADR 0054).

Two independent fixed-window counters of failed logins:

- per source address (IPv6 by /64): caps guessing and username spraying from one
  place, whatever usernames it tries;
- per account, kept only for accounts that exist: caps guessing one account's
  password from any number of addresses.

Either one at its limit refuses the login (429, even with the right password)
until its window ends. Neither can be reset through the other: a successful login
clears only its own account's counter (it proved the password), never the
address's; failures for made-up usernames count only against the address and
never touch the account table, so no flood of them can evict or clear a real
account's lock. The in-process variant is bounded: the account table holds at
most one entry per real account, the address table has a fixed size and never
evicts an address that is locked.

`RedisLoginThrottle` (agent_console/web/redis_state.py) keeps the same counters in
Redis so every instance sees the same limits.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from crm_core.ports.clock import Clock

log = logging.getLogger(__name__)


class LoginLimiter(Protocol):
    async def retry_after(self, username: str, address: str) -> float:
        """Seconds to wait before this login may be tried; 0 when it may."""
        ...

    async def failed(self, username: str, address: str, *, account_exists: bool) -> None: ...

    async def succeeded(self, username: str, address: str) -> None: ...


def address_key(address: str) -> str:
    """The unit one client controls: an IPv4 address, an IPv6 /64 (one subscriber
    gets a whole /64, so counting single IPv6 addresses would limit nothing)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(username: str) -> str:
    return username.strip().lower()


@dataclass(slots=True)
class _Window:
    count: int
    ends: float  # monotonic seconds

    def wait(self, limit: int, now: float) -> float:
        if self.count < limit or now >= self.ends:
            return 0.0
        return max(1.0, self.ends - now)


class LoginThrottle:
    """The in-process limiter (one instance, or while Redis is away)."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_failures: int,
        window_seconds: float,
        max_failures_per_address: int = 30,
        max_addresses: int = 50_000,
    ) -> None:
        self._clock = clock
        self.max_account = max_failures
        self.max_address = max_failures_per_address
        self.window = window_seconds
        self._max_addresses = max_addresses
        self._accounts: dict[str, _Window] = {}
        # insertion order = window start order, so the front expires first
        self._addresses: OrderedDict[str, _Window] = OrderedDict()
        self.untracked = 0  # failures not counted because every slot holds a lock

    async def retry_after(self, username: str, address: str) -> float:
        return self.wait(username, address)

    async def failed(self, username: str, address: str, *, account_exists: bool) -> None:
        self.record_failure(username, address, account_exists=account_exists)

    async def succeeded(self, username: str, address: str) -> None:
        self.clear_account(username)

    # -- synchronous core (also the Redis variant's fallback) ------------------------------

    def wait(self, username: str, address: str) -> float:
        now = self._clock.monotonic()
        by_address = self._addresses.get(address_key(address))
        by_account = self._accounts.get(account_key(username))
        return max(
            by_address.wait(self.max_address, now) if by_address else 0.0,
            by_account.wait(self.max_account, now) if by_account else 0.0,
        )

    def record_failure(self, username: str, address: str, *, account_exists: bool) -> None:
        now = self._clock.monotonic()
        self._count_address(address_key(address), now)
        if account_exists:
            key = account_key(username)
            entry = self._accounts.get(key)
            if entry is None or now >= entry.ends:
                self._accounts[key] = _Window(1, now + self.window)
            else:
                entry.count += 1
            if len(self._accounts) > 1024 and len(self._accounts) % 1024 == 0:
                for name, window in list(self._accounts.items()):
                    if now >= window.ends:
                        del self._accounts[name]

    def clear_account(self, username: str) -> None:
        self._accounts.pop(account_key(username), None)

    def _count_address(self, key: str, now: float) -> None:
        entry = self._addresses.get(key)
        if entry is not None and now < entry.ends:
            entry.count += 1
            return
        if entry is not None:
            del self._addresses[key]  # its window ended: start a new one at the back
        elif len(self._addresses) >= self._max_addresses and not self._make_room(now):
            self.untracked += 1
            if self.untracked in (1, 1000) or self.untracked % 100_000 == 0:
                log.warning(
                    "login throttle: %d source addresses are locked at once; "
                    "not counting new ones (%d failures so far)",
                    len(self._addresses),
                    self.untracked,
                )
            return
        self._addresses[key] = _Window(1, now + self.window)

    def _make_room(self, now: float) -> bool:
        """Drop ended windows (at the front), else the oldest address below its limit;
        a locked address is never dropped."""
        while self._addresses:
            first = next(iter(self._addresses.values()))
            if now < first.ends:
                break
            self._addresses.popitem(last=False)
        if len(self._addresses) < self._max_addresses:
            return True
        for key, window in self._addresses.items():
            if window.wait(self.max_address, now) == 0.0:
                del self._addresses[key]
                return True
        return False
