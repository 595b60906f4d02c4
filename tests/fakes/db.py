"""The in-memory database of the service tests (docs/adr/0090): the repository fakes of
`tests.fakes.repos`, units of work over them and the ledger of applied effects.

A unit of work that raises is rolled back, claims and writes together; an effect key is
claimed once. Units are serialised (one writer at a time, as on SQLite), so a unit's
rollback cannot undo another's writes. Writes inside a unit are visible to readers
outside it before it ends (the fakes have no isolation); the services never read outside
a unit what they write inside one.

`FakeDb` has every repository the service Protocols in `crm_core.ports.stores` name.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from crm_core.domain.models import Case, User
from tests.fakes.callbacks import FakeCallbacks
from tests.fakes.repos import FakeCalls, FakeCases, FakeUsers, FakeViolations


class ClaimsInMemory:
    """`ClaimTransaction` over the unit's copy of the claimed keys (as the SQL ledger
    cuts the effect to 300 characters); the ledger keeps them when the unit commits."""

    claims: set[tuple[str, str]]

    async def claim(self, call_id: str, effect: str) -> bool:
        key = (call_id, effect[:300])
        if key in self.claims:
            return False
        self.claims.add(key)
        return True


@dataclass
class FakeUnit(ClaimsInMemory):
    """`UnitOfWork` over the fake repositories; `locked` lists the names it locked."""

    callbacks: FakeCallbacks
    violations: FakeViolations
    claims: set[tuple[str, str]]
    now: datetime
    locked: builtins.list[str] = field(default_factory=builtins.list)

    async def lock(self, name: str) -> None:
        self.locked.append(name)  # units are serialised already


class FakeEffects:
    """`EffectLedger`: effect keys in a set, units of work that roll back on error."""

    def __init__(self, callbacks: FakeCallbacks, violations: FakeViolations, calls: FakeCalls):
        self._callbacks = callbacks
        self._violations = violations
        self._calls = calls
        self.claimed: dict[tuple[str, str], datetime] = {}
        self._writer = asyncio.Lock()
        self.units: builtins.list[FakeUnit] = []  # committed, in order
        self.rolled_back = 0

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[FakeUnit]:
        async with self._writer:
            callbacks = copy.copy(self._callbacks.rows)
            violations = builtins.list(self._violations.rows)
            claims = set(self.claimed)
            unit = FakeUnit(self._callbacks, self._violations, claims, now)
            try:
                yield unit
            except BaseException:
                self._callbacks.rows = callbacks
                self._violations.rows = violations
                self.rolled_back += 1
                raise
            for key in claims - set(self.claimed):
                self.claimed[key] = now
            self.units.append(unit)

    def applied(self, call_id: str) -> builtins.list[str]:
        return sorted(effect for cid, effect in self.claimed if cid == call_id)

    async def calls_without(
        self, effect: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> builtins.list[str]:
        found = [
            r
            for r in self._calls.rows.values()
            if r.started_at is not None
            and r.started_at >= since
            and r.ended_at is not None
            and r.ended_at < until
            and (r.call_id, effect) not in self.claimed
        ]
        return [r.call_id for r in sorted(found, key=lambda r: r.started_at or since)][:limit]

    async def forget_older_than(self, moment: datetime) -> int:
        old = [key for key, at in self.claimed.items() if at < moment]
        for key in old:
            del self.claimed[key]
        return len(old)


class FakeDb:
    """Every repository the service Protocols of `crm_core.ports.stores` name."""

    def __init__(self, *users: User, cases: Sequence[Case] = ()) -> None:
        self.callbacks = FakeCallbacks()
        self.violations = FakeViolations()
        self.users = FakeUsers(*users)
        self.cases = FakeCases(*cases)
        self.calls = FakeCalls()
        self.effects = FakeEffects(self.callbacks, self.violations, self.calls)


if TYPE_CHECKING:  # mypy checks that the fakes satisfy the ports (tests.fakes is in its packages)
    from crm_core.ports.stores import CallbackDb, DeadlineDb, RingRuleDb, SweepDb

    _db = FakeDb()
    _callback_db: CallbackDb = _db
    _ring_rule_db: RingRuleDb = _db
    _deadline_db: DeadlineDb = _db
    _sweep_db: SweepDb = _db
