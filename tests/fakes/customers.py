"""In-memory fakes of the repositories the customer-card service reads
(`crm_core.services.customer_cards`): customers, calls, cases, callbacks and the audit log."""

from __future__ import annotations

import builtins
from collections.abc import Callable

from crm_core.domain.models import AuditEntry, Callback, CallRecord, Case, CaseStatus, Customer
from crm_core.ports.repositories import CallFilter, NotFound
from crm_core.services.customer_cards import OPEN_CALLBACK

OPEN_CASE = (CaseStatus.OPEN, CaseStatus.ESCALATED, CaseStatus.WAITING_REPLY)


class FakeCustomers:
    def __init__(self, normalize: Callable[[str], str] = lambda raw: raw) -> None:
        self.rows: dict[int, Customer] = {}
        self._normalize = normalize

    def add(self, customer: Customer) -> Customer:
        self.rows[customer.id] = customer
        return customer

    async def get(self, customer_id: int) -> Customer:
        try:
            return self.rows[customer_id]
        except KeyError:
            raise NotFound(f"customer {customer_id}") from None

    async def find_by_phone(self, phone: str) -> Customer | None:
        e164 = self._normalize(phone)
        for customer in self.rows.values():
            if any(p.e164 == e164 for p in customer.phones):
                return customer
        return None


class FakeCalls:
    def __init__(self) -> None:
        self.rows: list[CallRecord] = []
        self.filters: list[CallFilter] = []

    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]:
        self.filters.append(flt)
        found = [
            r for r in self.rows if flt.customer_id is None or r.customer_id == flt.customer_id
        ]
        found.sort(key=lambda r: (r.started_at is not None, r.started_at), reverse=True)
        return found[flt.offset : flt.offset + flt.limit]


class FakeCases:
    def __init__(self) -> None:
        self.rows: list[Case] = []

    async def list(
        self, *, customer_id: int | None = None, open_only: bool = False
    ) -> builtins.list[Case]:
        return [
            c
            for c in self.rows
            if (customer_id is None or c.customer_id == customer_id)
            and (not open_only or c.status in OPEN_CASE)
        ]


class FakeCallbacks:
    def __init__(self) -> None:
        self.rows: list[Callback] = []

    async def open_for_phone(self, phone_e164: str) -> Callback | None:
        """The open or overdue callback of the number due first (as the SQL repo)."""
        found = [c for c in self.rows if c.phone_e164 == phone_e164 and c.status in OPEN_CALLBACK]
        return min(found, key=lambda c: c.due_at) if found else None


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)
