"""The in-memory `CallbackStore` (docs/adr/0090): callbacks in a dict, with the rules of
the SQL repository the services rely on: `open_for_phone` answers the earliest due open
callback (one open callback per number is the service's job), lists come by due time,
`update` takes only the fields the SQL one does, a deadline claim succeeds once."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackAttempt,
    CallbackReason,
    CallbackStatus,
)
from tests.fakes.repos import row_or_not_found

_OPEN = (CallbackStatus.OPEN, CallbackStatus.OVERDUE)
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

    def add(self, *callbacks: Callback) -> None:
        """Store callbacks as they are (ids included)."""
        for cb in callbacks:
            self.rows[cb.id] = cb
            self._next_id = max(self._next_id, cb.id + 1)

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
        self.add(cb)
        return cb

    async def get(self, callback_id: int) -> Callback:
        return row_or_not_found(self.rows, callback_id, "callback")

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

    def _pending(self) -> builtins.list[Callback]:
        return [
            c
            for c in self.rows.values()
            if c.status in _OPEN and (c.escalated_at is None or c.reminded_at is None)
        ]

    async def pending_deadlines(self) -> builtins.list[Callback]:
        return sorted(self._pending(), key=lambda c: c.due_at)

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
            (c.id, c.due_at, c.reminded_at is None, c.escalated_at is None) for c in self._pending()
        ]


if TYPE_CHECKING:  # mypy checks that the fake satisfies its ports (tests.fakes is in packages)
    from crm_core.ports.repositories import CallbackRepository
    from crm_core.ports.stores import CallbackStore
    from crm_core.services.customer_cards import CallbackReader

    _store: CallbackStore = FakeCallbacks()
    _repository: CallbackRepository = FakeCallbacks()
    _reader: CallbackReader = FakeCallbacks()
