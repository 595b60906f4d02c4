"""What each service reads and writes of the CRM database, as Protocols.

`crm_core.db.Database` satisfies every one of them structurally (mypy checks it where
the wiring passes it); `tests/fakes` satisfies them in memory (docs/adr/0090). Each
names only the repositories, and of a repository only the methods, its service uses,
so a fake stays small.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from crm_core.domain.models import CallRecord, Case, User
from crm_core.ports.effects import EffectLedger
from crm_core.ports.repositories import CallbackRepository, ViolationRepository


class CallbackStore(CallbackRepository, Protocol):
    """Callbacks with the durable deadline claims the scheduler uses (docs/adr/0015)."""

    async def claim(self, callback_id: int, marker: str, at: datetime, **extra: object) -> bool:
        """Set `marker` (reminded_at / escalated_at) of an open callback if still unset;
        exactly one caller wins."""
        ...

    async def claim_retry(self, callback_id: int, retry_at: datetime) -> bool:
        """Consume the retry reminder set for exactly `retry_at`; one caller wins."""
        ...

    async def retry_rows(self) -> builtins.list[tuple[int, datetime]]:
        """(id, next_attempt_at) of open callbacks waiting for a retry reminder."""
        ...

    async def deadline_rows(self) -> builtins.list[tuple[int, datetime, bool, bool]]:
        """(id, due_at, reminder pending, escalation pending) of every open callback."""
        ...


class UserLookup(Protocol):
    async def get(self, user_id: int) -> User: ...
    async def get_by_member_name(self, member_name: str) -> User | None: ...


class OpenCases(Protocol):
    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]: ...


class CallReader(Protocol):
    async def get(self, call_id: str) -> CallRecord: ...


class RetryDb(Protocol):
    """`schedule_retry` of a callback: callbacks, and users to name the owner."""

    @property
    def callbacks(self) -> CallbackRepository: ...
    @property
    def users(self) -> UserLookup: ...


class CallbackDb(RetryDb, Protocol):
    """CallbackService: callbacks (written in units of work), cases, users."""

    @property
    def cases(self) -> OpenCases: ...
    @property
    def effects(self) -> EffectLedger: ...


class RingRuleDb(Protocol):
    """RingRuleService: violations (written in units of work), users."""

    @property
    def users(self) -> UserLookup: ...
    @property
    def effects(self) -> EffectLedger: ...


class DeadlineDb(Protocol):
    """DeadlineScheduler: callbacks with their claims, users, violations."""

    @property
    def callbacks(self) -> CallbackStore: ...
    @property
    def users(self) -> UserLookup: ...
    @property
    def violations(self) -> ViolationRepository: ...


class SweepDb(Protocol):
    """EffectSweeper: the ledger of applied effects and the call records."""

    @property
    def calls(self) -> CallReader: ...
    @property
    def effects(self) -> EffectLedger: ...
