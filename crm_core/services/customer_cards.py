"""Customer cards: what an agent sees of a customer when a call pops (ADR 0019) and on
`GET /api/customers/{id}/card` (ADR 0085).

A card is the customer (or none: an unknown number), their last calls, their open cases
and the open callbacks of their numbers. Two rules live here and nowhere else:

- the scope of wrap-up notes: a wrap-up note is the handling agent's own; leads,
  managers and admins read every note, an agent only the notes of calls they handled
  (`notes_visible_to`);
- the audit: reading a known customer's card is recorded (`customer.read`), with the
  call it popped for, if any.

The service reads through the narrow Protocols below; the SQL repositories
(`crm_core.db.repos`) and the in-memory fakes of the unit tests both satisfy them.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from crm_core.domain.models import (
    AuditEntry,
    Callback,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Case,
    Customer,
    Role,
    User,
)
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import CallFilter

RECENT_CALLS: Final = 5
OPEN_CALLBACK: Final = (CallbackStatus.OPEN, CallbackStatus.OVERDUE)


class CustomerReader(Protocol):
    async def get(self, customer_id: int) -> Customer:
        """Raises `crm_core.ports.repositories.NotFound` for an unknown id."""
        ...

    async def find_by_phone(self, phone: str) -> Customer | None: ...


class CallHistory(Protocol):
    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]: ...


class CaseReader(Protocol):
    async def list(
        self, *, customer_id: int | None = None, open_only: bool = False
    ) -> builtins.list[Case]: ...


class CallbackReader(Protocol):
    async def open_for_phone(self, phone_e164: str) -> Callback | None: ...


class AuditRecorder(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CardCall:
    """One of the customer's recent calls; `notes` is None where the reader may not
    read them (another agent's wrap-up)."""

    call_id: str
    started_at: datetime | None
    agent: str | None
    outcome: CallOutcome
    disposition: str | None
    notes: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCard:
    customer: Customer | None
    recent_calls: tuple[CardCall, ...] = ()
    open_cases: tuple[Case, ...] = ()
    open_callbacks: tuple[Callback, ...] = ()

    @property
    def known(self) -> bool:
        return self.customer is not None


def notes_visible_to(reader: User, call: CallRecord) -> bool:
    """The scope rule of wrap-up notes: an agent reads the notes of their own calls only;
    leads, managers and admins read every note."""
    if reader.role is not Role.AGENT:
        return True
    return call.agent is not None and call.agent == reader.member_name


class CustomerCardService:
    """Reads a customer's card for a user; the read of a known customer is audited."""

    def __init__(
        self,
        *,
        customers: CustomerReader,
        calls: CallHistory,
        cases: CaseReader,
        callbacks: CallbackReader,
        audit: AuditRecorder,
        clock: Clock,
        normalize_phone: Callable[[str], str] | None = None,
        recent_calls: int = RECENT_CALLS,
    ) -> None:
        self._customers = customers
        self._calls = calls
        self._cases = cases
        self._callbacks = callbacks
        self._audit = audit
        self._clock = clock
        self._normalize_phone = normalize_phone
        self._recent = recent_calls

    def normalize(self, phone: str) -> str:
        """The number in E.164 where it is one; as given otherwise."""
        if self._normalize_phone is None:
            return phone
        try:
            return self._normalize_phone(phone)
        except ValueError:
            return phone

    async def card(
        self,
        reader: User,
        *,
        customer_id: int | None = None,
        phone: str | None = None,
        call_id: str | None = None,
    ) -> CustomerCard:
        """The card of `customer_id`, else of the customer with `phone`; `call_id` is the
        call it pops for (left out of the recent calls, named in the audit)."""
        customer: Customer | None = None
        if customer_id is not None:
            customer = await self._customers.get(customer_id)
        elif phone:
            customer = await self._customers.find_by_phone(phone)
        calls: tuple[CardCall, ...] = ()
        cases: tuple[Case, ...] = ()
        if customer is not None:
            calls = await self._recent_calls(reader, customer.id, call_id)
            cases = tuple(await self._cases.list(customer_id=customer.id, open_only=True))
            await self._audit.record(
                AuditEntry(
                    id=None,
                    at=self._clock.now(),
                    actor_user_id=reader.id,
                    actor=reader.username,
                    action="customer.read",
                    subject=f"customer:{customer.id}",
                    detail=f"screen pop for call {call_id}" if call_id else "customer card",
                )
            )
        return CustomerCard(
            customer=customer,
            recent_calls=calls,
            open_cases=cases,
            open_callbacks=await self._open_callbacks(customer, phone),
        )

    async def _recent_calls(
        self, reader: User, customer_id: int, call_id: str | None
    ) -> tuple[CardCall, ...]:
        # one more than shown: the call that pops may be among them
        records = await self._calls.list(
            CallFilter(customer_id=customer_id, limit=self._recent + 1)
        )
        return tuple(
            CardCall(
                call_id=r.call_id,
                started_at=r.started_at,
                agent=r.agent,
                outcome=r.outcome,
                disposition=r.disposition,
                notes=r.wrapup_notes if notes_visible_to(reader, r) else None,
            )
            for r in records
            if r.call_id != call_id
        )[: self._recent]

    async def _open_callbacks(
        self, customer: Customer | None, phone: str | None
    ) -> tuple[Callback, ...]:
        numbers = [p.e164 for p in customer.phones] if customer is not None else []
        if phone:
            numbers.append(self.normalize(phone))
        found: list[Callback] = []
        for e164 in dict.fromkeys(numbers):
            callback = await self._callbacks.open_for_phone(e164)
            if callback is not None and callback.status in OPEN_CALLBACK:
                found.append(callback)
        return tuple(found)
