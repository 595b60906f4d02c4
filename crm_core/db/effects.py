"""Side effects of a call, applied exactly once across instances (docs/adr/0060).

With several instances every one hears every `CallEnded` and `AgentMissedCall`. A
service applies an effect inside `async with db.effects.transaction() as tx:`; it first
`tx.claim(call_id, effect)`s the key, an insert the database keeps unique, and writes
the effect (a callback, a violation; a campaign wrap-up's booking, docs/adr/0094)
through `tx.callbacks` / `tx.violations` / `tx.campaigns`, `tx.dnc`, `tx.surveys` in the
same transaction. Exactly one instance's claim inserts the row: the others find it and
do nothing. A failure rolls the claim back with the effect, so there is no "claimed but
never applied" state to take over: the sweep (crm_core.services.effects) simply finds
the call without its key and applies the effect again.
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.repos import CallbackRepo, CampaignRepo, DoNotCallRepo, SurveyRepo, ViolationRepo


class _OneConnection:
    """The part of `AsyncEngine` the repositories use, over one open connection: a
    repository built on it works inside that connection's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    def execution_options(self, **_: Any) -> _OneConnection:
        return self

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        yield self._conn

    connect = begin


class EffectTransaction:
    """One database transaction: claim keys, and write effects with the repositories
    bound to it. Nothing is visible to others until it commits."""

    def __init__(self, conn: AsyncConnection, region: str, by: str, now: datetime) -> None:
        self.conn = conn
        self.by = by
        self.now = now
        bound = cast(AsyncEngine, _OneConnection(conn))
        self.callbacks = CallbackRepo(bound, region)
        self.violations = ViolationRepo(bound, region)
        self.surveys = SurveyRepo(bound, region)
        self.campaigns = CampaignRepo(bound, region)
        self.dnc = DoNotCallRepo(bound, region)

    async def claim(self, call_id: str, effect: str) -> bool:
        """True when this transaction is the first to apply `effect` of `call_id`.

        INSERT … ON CONFLICT DO NOTHING: on PostgreSQL a concurrent claim of the same
        key waits for the first transaction and then finds the row (or, if the first
        rolled back, takes the key itself)."""
        dialect_insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(t.applied_effects)
            .values(call_id=call_id, effect=effect[:300], applied_at=self.now, applied_by=self.by)
            .on_conflict_do_nothing(
                index_elements=[t.applied_effects.c.call_id, t.applied_effects.c.effect]
            )
            .returning(t.applied_effects.c.call_id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def lock(self, name: str) -> None:
        """Serialise transactions about one thing (a phone number) until this one ends.

        PostgreSQL: a transaction-scoped advisory lock. SQLite has one writer anyway."""
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))


class EffectRepo:
    def __init__(self, engine: AsyncEngine, region: str = "CN", instance: str = "") -> None:
        self.engine = engine
        self.region = region
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[EffectTransaction]:
        async with self.engine.begin() as conn:
            yield EffectTransaction(conn, self.region, self.instance, now)

    async def applied(self, call_id: str) -> builtins.list[str]:
        c = t.applied_effects.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(c.effect).where(c.call_id == call_id))
            return sorted(r[0] for r in rows.all())

    async def calls_without(
        self, effect: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> builtins.list[str]:
        """Calls that started after `since` and ended before `until` whose `effect`
        has not been applied, oldest first."""
        calls, e = t.calls.c, t.applied_effects.c
        stmt = (
            select(calls.call_id)
            .where(
                calls.started_at >= since,
                calls.ended_at.is_not(None),
                calls.ended_at < until,
                ~exists().where(and_(e.call_id == calls.call_id, e.effect == effect)),
            )
            .order_by(calls.started_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(stmt)).all()]

    async def forget_older_than(self, moment: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(t.applied_effects).where(t.applied_effects.c.applied_at < moment)
            )
        return int(result.rowcount or 0)
