"""Callbacks (promises to call a customer back) and their attempts."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from operator import eq
from typing import Any

from sqlalchemy import ColumnOperators, insert, or_, select, update

from crm_core.db import tables as t
from crm_core.db.repos._base import (
    Repo,
    aggregate,
    column_values,
    insert_id,
    update_one,
    where_given,
)
from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackAttempt,
    CallbackReason,
    CallbackStatus,
)

_load = aggregate(
    Callback,
    "attempts",
    (t.callback_attempts, "callback_id", (t.callback_attempts.c.id,)),
    CallbackAttempt,
)
_OPEN = (CallbackStatus.OPEN.value, CallbackStatus.OVERDUE.value)


class CallbackRepo(Repo):
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
        async with self.engine.begin() as conn:
            cid = await insert_id(
                conn,
                t.callbacks,
                {
                    "phone_e164": phone_e164,
                    "reason": CallbackReason(reason).value,
                    "status": CallbackStatus.OPEN.value,
                    "created_at": created_at,
                    "due_at": due_at,
                    "customer_id": customer_id,
                    "owner_user_id": owner_user_id,
                    "queue": queue,
                    "call_id": call_id,
                    "question": question,
                    "merged_count": 0,
                },
            )
        return await self.get(cid)

    async def get(self, callback_id: int) -> Callback:
        stmt = select(t.callbacks).where(t.callbacks.c.id == callback_id)
        return await self.loaded_one(stmt, _load, f"no callback {callback_id}")

    async def open_for_phone(self, phone_e164: str) -> Callback | None:
        c = t.callbacks.c
        stmt = select(t.callbacks).where(c.phone_e164 == phone_e164, c.status.in_(_OPEN))
        found = await self.loaded(stmt.order_by(c.due_at).limit(1), _load)
        return found[0] if found else None

    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> builtins.list[Callback]:
        c = t.callbacks.c
        statuses = [CallbackStatus(s).value for s in status] if status is not None else None
        stmt = where_given(
            select(t.callbacks).order_by(c.due_at).limit(limit),
            (c.call_id, eq, call_id),
            (c.status, ColumnOperators.in_, statuses),
            (c.owner_user_id, eq, owner_user_id),
            (c.customer_id, eq, customer_id),
        )
        return await self.loaded(stmt, _load)

    _FIELDS = frozenset(
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

    async def update(self, callback_id: int, **fields: object) -> Callback:
        unknown = set(fields) - self._FIELDS
        if unknown:
            raise ValueError(f"unknown callback fields: {sorted(unknown)}")
        async with self.engine.begin() as conn:
            await update_one(conn, t.callbacks, callback_id, fields, "callback")
        return await self.get(callback_id)

    async def claim(self, callback_id: int, marker: str, at: datetime, **extra: object) -> bool:
        """Atomically set `marker` (reminded_at / escalated_at) if it is still unset.

        Exactly one caller wins, across processes and instances: the deadline fires once.
        """
        if marker not in ("reminded_at", "escalated_at"):
            raise ValueError(marker)
        col = t.callbacks.c[marker]
        values: dict[str, Any] = {marker: at, **column_values(extra)}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.callbacks)
                .where(
                    t.callbacks.c.id == callback_id, col.is_(None), t.callbacks.c.status.in_(_OPEN)
                )
                .values(**values)
            )
            return bool(result.rowcount == 1)

    async def claim_retry(self, callback_id: int, retry_at: datetime) -> bool:
        """Consume the pending retry reminder set for `retry_at` (clears `next_attempt_at`).

        Conditional on the very time scheduled: a newer retry time, a closed callback or
        another instance's claim makes this a no-op, so each retry reminder fires once.
        """
        c = t.callbacks.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.callbacks)
                .where(c.id == callback_id, c.next_attempt_at == retry_at, c.status.in_(_OPEN))
                .values(next_attempt_at=None)
            )
            return bool(result.rowcount == 1)

    async def retry_rows(self) -> builtins.list[tuple[int, datetime]]:
        """(id, next_attempt_at) of open callbacks waiting for a retry reminder."""
        c = t.callbacks.c
        stmt = select(c.id, c.next_attempt_at).where(
            c.status.in_(_OPEN), c.next_attempt_at.is_not(None)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(stmt)).all()]

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
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(t.callback_attempts).values(
                    callback_id=callback_id,
                    at=at,
                    result=AttemptResult(result).value,
                    by_user_id=by_user_id,
                    call_id=call_id,
                    note=note,
                )
            )
        return await self.get(callback_id)

    async def deadline_rows(self) -> builtins.list[tuple[int, datetime, bool, bool]]:
        """(id, due_at, reminder pending, escalation pending) of every open callback:
        what the deadline scheduler loads at start-up, without building whole objects."""
        c = t.callbacks.c
        stmt = (
            select(c.id, c.due_at, c.reminded_at.is_(None), c.escalated_at.is_(None))
            .where(c.status.in_(_OPEN))
            .where(or_(c.escalated_at.is_(None), c.reminded_at.is_(None)))
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [(r[0], r[1], bool(r[2]), bool(r[3])) for r in result.all()]

    async def pending_deadlines(self) -> builtins.list[Callback]:
        stmt = (
            select(t.callbacks)
            .where(t.callbacks.c.status.in_(_OPEN))
            .where(or_(t.callbacks.c.escalated_at.is_(None), t.callbacks.c.reminded_at.is_(None)))
            .order_by(t.callbacks.c.due_at)
        )
        return await self.loaded(stmt, _load)
