"""In-memory fakes of the repository ports the services use (docs/adr/0090).

They keep the rules of the real repositories that the services rely on: one open
callback per number is the service's job, but `open_for_phone` answers the earliest
due open one; deadline claims succeed once; an effect key is claimed once; a unit of
work that raises is rolled back, claims and writes together. Units are serialised (one
writer at a time, as on SQLite), so a unit's rollback cannot undo another's writes.
Writes inside a unit are visible to readers outside it before it ends (the fakes have
no isolation); the services never read outside a unit what they write inside one.

`FakeDb` has every repository the service Protocols in `crm_core.ports.stores` name.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackAttempt,
    CallbackReason,
    CallbackStatus,
    CallRecord,
    Case,
    CaseStatus,
    User,
    Violation,
)
from crm_core.ports.repositories import NotFound
from crm_core.ports.stores import CallbackDb, CallbackStore, DeadlineDb, RingRuleDb, SweepDb

_OPEN = (CallbackStatus.OPEN, CallbackStatus.OVERDUE)
_DONE = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
_CALLBACK_FIELDS = frozenset(
    {
        "status",
        "due_at",
        "owner_user_id",
        "queue",
        "customer_id",
        "question",
        "outcome",
        "closed_at",
        "reminded_at",
        "escalated_at",
        "next_attempt_at",
        "merged_count",
    }
)


class FakeCallbacks:
    """`CallbackStore` (CallbackRepository with the deadline claims) in a dict."""

    def __init__(self) -> None:
        self.rows: dict[int, Callback] = {}
        self._next_id = 1

    async def create(
        self,
        *,
        phone_e164: str,
        reason: CallbackReason,
        due_at: datetime,
        created_at: datetime,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        queue: str | None = None,
        call_id: str | None = None,
        question: str = "",
    ) -> Callback:
        cb = Callback(
            id=self._next_id,
            phone_e164=phone_e164,
            reason=reason,
            status=CallbackStatus.OPEN,
            created_at=created_at,
            due_at=due_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            queue=queue,
            call_id=call_id,
            question=question,
        )
        self._next_id += 1
        self.rows[cb.id] = cb
        return cb

    async def get(self, callback_id: int) -> Callback:
        try:
            return self.rows[callback_id]
        except KeyError:
            raise NotFound(f"no callback {callback_id}") from None

    async def open_for_phone(self, phone_e164: str) -> Callback | None:
        found = [c for c in self.rows.values() if c.phone_e164 == phone_e164 and c.status in _OPEN]
        return min(found, key=lambda c: c.due_at) if found else None

    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> builtins.list[Callback]:
        found = [
            c
            for c in self.rows.values()
            if (status is None or c.status in status)
            and (owner_user_id is None or c.owner_user_id == owner_user_id)
            and (customer_id is None or c.customer_id == customer_id)
            and (call_id is None or c.call_id == call_id)
        ]
        return sorted(found, key=lambda c: c.due_at)[:limit]

    async def update(self, callback_id: int, **fields: object) -> Callback:
        unknown = set(fields) - _CALLBACK_FIELDS
        if unknown:
            raise ValueError(f"unknown callback fields: {sorted(unknown)}")
        cb = dataclasses.replace(await self.get(callback_id), **fields)  # type: ignore[arg-type]
        self.rows[callback_id] = cb
        return cb

    async def add_attempt(
        self,
        callback_id: int,
        *,
        at: datetime,
        result: AttemptResult,
        by_user_id: int | None = None,
        call_id: str | None = None,
        note: str = "",
    ) -> Callback:
        cb = await self.get(callback_id)
        attempt = CallbackAttempt(
            at=at, result=result, by_user_id=by_user_id, call_id=call_id, note=note
        )
        self.rows[callback_id] = cb = dataclasses.replace(cb, attempts=(*cb.attempts, attempt))
        return cb

    async def pending_deadlines(self) -> builtins.list[Callback]:
        found = [
            c
            for c in self.rows.values()
            if c.status in _OPEN and (c.escalated_at is None or c.reminded_at is None)
        ]
        return sorted(found, key=lambda c: c.due_at)

    async def claim(self, callback_id: int, marker: str, at: datetime, **extra: object) -> bool:
        if marker not in ("reminded_at", "escalated_at"):
            raise ValueError(marker)
        cb = self.rows.get(callback_id)
        if cb is None or cb.status not in _OPEN or getattr(cb, marker) is not None:
            return False
        await self.update(callback_id, **{marker: at, **extra})
        return True

    async def claim_retry(self, callback_id: int, retry_at: datetime) -> bool:
        cb = self.rows.get(callback_id)
        if cb is None or cb.status not in _OPEN or cb.next_attempt_at != retry_at:
            return False
        await self.update(callback_id, next_attempt_at=None)
        return True

    async def retry_rows(self) -> builtins.list[tuple[int, datetime]]:
        return [
            (c.id, c.next_attempt_at)
            for c in self.rows.values()
            if c.status in _OPEN and c.next_attempt_at is not None
        ]

    async def deadline_rows(self) -> builtins.list[tuple[int, datetime, bool, bool]]:
        return [
            (c.id, c.due_at, c.reminded_at is None, c.escalated_at is None)
            for c in self.rows.values()
            if c.status in _OPEN and (c.escalated_at is None or c.reminded_at is None)
        ]


class FakeViolations:
    """`ViolationRepository` in a list; `failure`, when set, is raised by `add` (an outage)."""

    def __init__(self) -> None:
        self.rows: builtins.list[Violation] = []
        self.failure: Exception | None = None

    async def add(self, violation: Violation) -> Violation:
        if self.failure is not None:
            raise self.failure
        stored = dataclasses.replace(violation, id=len(self.rows) + 1)
        self.rows.append(stored)
        return stored

    async def list(
        self, *, since: datetime | None = None, agent: str | None = None, limit: int = 500
    ) -> builtins.list[Violation]:
        found = [
            v
            for v in self.rows
            if (since is None or v.at >= since) and (agent is None or v.agent == agent)
        ]
        return found[:limit]


class FakeUsers:
    """`UserLookup`: the users a test adds."""

    def __init__(self, *users: User) -> None:
        self.rows = {u.id: u for u in users}

    def add(self, user: User) -> User:
        self.rows[user.id] = user
        return user

    async def get(self, user_id: int) -> User:
        try:
            return self.rows[user_id]
        except KeyError:
            raise NotFound(f"no user {user_id}") from None

    async def get_by_member_name(self, member_name: str) -> User | None:
        return next((u for u in self.rows.values() if u.member_name == member_name), None)


class FakeCases:
    """`OpenCases`: the cases a test adds."""

    def __init__(self, *cases: Case) -> None:
        self.rows = builtins.list(cases)

    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]:
        found = [
            c
            for c in self.rows
            if (customer_id is None or c.customer_id == customer_id)
            and (owner_user_id is None or c.owner_user_id == owner_user_id)
            and (not open_only or c.status not in _DONE)
        ]
        return sorted(found, key=lambda c: c.created_at, reverse=True)[:limit]


class FakeCalls:
    """`CallReader`: the call records a test stores."""

    def __init__(self) -> None:
        self.rows: dict[str, CallRecord] = {}

    def add(self, record: CallRecord) -> CallRecord:
        self.rows[record.call_id] = record
        return record

    async def get(self, call_id: str) -> CallRecord:
        try:
            return self.rows[call_id]
        except KeyError:
            raise NotFound(f"no call {call_id}") from None


@dataclass
class FakeUnit:
    """`UnitOfWork` over the fake repositories; `locked` lists the names it locked."""

    callbacks: FakeCallbacks
    violations: FakeViolations
    claims: set[tuple[str, str]]
    now: datetime
    locked: builtins.list[str] = field(default_factory=builtins.list)

    async def claim(self, call_id: str, effect: str) -> bool:
        key = (call_id, effect[:300])
        if key in self.claims:
            return False
        self.claims.add(key)
        return True

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
    _db = FakeDb()
    _callback_db: CallbackDb = _db
    _ring_rule_db: RingRuleDb = _db
    _deadline_db: DeadlineDb = _db
    _sweep_db: SweepDb = _db
    _store: CallbackStore = _db.callbacks
