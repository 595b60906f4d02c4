"""Claims of call side effects applied once across instances, and the unit of work in
which an effect is claimed and written (docs/adr/0060).

`crm_core.db.effects.EffectRepo` implements `EffectLedger` over one database
transaction per unit; `tests/fakes` implements it in memory (docs/adr/0090). A consumer
that only claims (the campaigns' WrapUpSaved consumer, ADR 0083) asks for the narrower
`EffectClaims`.
"""

from __future__ import annotations

import builtins
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from crm_core.ports.repositories import CallbackRepository, ViolationRepository


class ClaimTransaction(Protocol):
    async def claim(self, call_id: str, effect: str) -> bool:
        """True when this transaction is the first to apply `effect` of `call_id`."""
        ...


class EffectClaims(Protocol):
    def transaction(self, now: datetime) -> AbstractAsyncContextManager[ClaimTransaction]: ...


class UnitOfWork(ClaimTransaction, Protocol):
    """One transaction: claim a call's effect keys, lock a name, write the effect.

    Nothing is visible to others until it commits; an exception rolls back the
    claims with the writes."""

    @property
    def callbacks(self) -> CallbackRepository: ...
    @property
    def violations(self) -> ViolationRepository: ...

    async def lock(self, name: str) -> None:
        """Serialise units about one thing (a phone number) until this one ends."""
        ...


class EffectLedger(Protocol):
    def transaction(self, now: datetime) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def calls_without(
        self, effect: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> builtins.list[str]:
        """Calls that started after `since` and ended before `until` whose `effect` has
        not been applied, oldest first."""
        ...

    async def forget_older_than(self, moment: datetime) -> int: ...
