"""In-memory fakes of the CRM repository ports, one fake per port (docs/adr/0090).

Each fake implements the widest Protocol its users need (`crm_core.ports.repositories`,
the narrow readers of `crm_core.ports.stores` and of the services), and keeps the rules
of the SQL repository the services rely on: lists come in the SQL order, a missing row
raises `NotFound`, a case's history grows as the SQL one does. `rows` is what a test
reads; `add` seeds rows as they are. The callbacks' fake is `tests.fakes.callbacks`; the
unit of work and the effect ledger over the fakes are `tests.fakes.db`.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from crm_core.domain.models import (
    AuditEntry,
    CallRecord,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Customer,
    User,
    Violation,
)
from crm_core.ports.repositories import CallFilter, NotFound

_K = TypeVar("_K")
_V = TypeVar("_V")

_DONE = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


class DatabaseDown(OSError):
    """What a fake repository raises while the test says the database is out."""


def row_or_not_found(rows: Mapping[_K, _V], key: _K, what: str) -> _V:
    try:
        return rows[key]
    except KeyError:
        raise NotFound(f"no {what} {key}") from None


class FakeCalls:
    """`CallRepository` in a dict by call id. `down = True`: every method raises
    `DatabaseDown`; `filters` keeps the filters `list` was asked with."""

    def __init__(self) -> None:
        self.rows: dict[str, CallRecord] = {}
        self.filters: builtins.list[CallFilter] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseDown("database unreachable")

    def add(self, *records: CallRecord) -> None:
        self.rows.update((r.call_id, r) for r in records)

    async def save_many(self, records: Iterable[CallRecord]) -> int:
        self._check()
        batch = builtins.list(records)
        self.add(*batch)
        return len(batch)

    async def get(self, call_id: str) -> CallRecord:
        self._check()
        return row_or_not_found(self.rows, call_id, "call")

    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]:
        """As the SQL repository: the filter's conditions, latest started first."""
        self._check()
        self.filters.append(flt)
        found = [
            (n, r)
            for n, r in enumerate(self.rows.values())
            if (flt.since is None or (r.started_at is not None and r.started_at >= flt.since))
            and (flt.until is None or (r.started_at is not None and r.started_at < flt.until))
            and (flt.agent is None or r.agent == flt.agent)
            and (flt.agents is None or r.agent in flt.agents)
            and (flt.queue is None or r.queue == flt.queue)
            and (flt.outcome is None or r.outcome == flt.outcome)
            and (flt.customer_id is None or r.customer_id == flt.customer_id)
        ]
        found.sort(key=lambda nr: (nr[1].started_at is not None, nr[1].started_at, nr[0]))
        return [r for _, r in reversed(found)][flt.offset : flt.offset + flt.limit]

    async def save_wrapup(
        self,
        call_id: str,
        *,
        disposition: str | None,
        notes: str | None,
        customer_id: int | None = None,
    ) -> CallRecord:
        record = await self.get(call_id)
        updated = dataclasses.replace(
            record,
            disposition=disposition,
            wrapup_notes=notes,
            customer_id=customer_id if customer_id is not None else record.customer_id,
        )
        self.rows[call_id] = updated
        return updated

    async def count(self) -> int:
        self._check()
        return len(self.rows)

    async def check_reachable(self) -> None:
        self._check()


class FakeCases:
    """`CaseRepository` in a dict; a case's history grows as the SQL one does."""

    def __init__(self, *cases: Case) -> None:
        self.rows: dict[int, Case] = {}
        self.add(*cases)

    def add(self, *cases: Case) -> None:
        """Store cases as they are (ids included)."""
        self.rows.update((c.id, c) for c in cases)

    async def closed_matters(
        self, *, until: datetime, limit: int = 100_000
    ) -> builtins.list[tuple[int, int, datetime]]:
        closed = [
            (c.customer_id, c.id, c.closed_at)
            for c in self.rows.values()
            if c.customer_id is not None and c.closed_at is not None and c.closed_at < until
        ]
        return sorted(closed, key=lambda m: m[2])[:limit]

    async def create(
        self,
        *,
        kind: CaseKind,
        subject: str,
        created_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        department: str | None = None,
        call_id: str | None = None,
        description: str = "",
        promised_reply_at: datetime | None = None,
    ) -> Case:
        status = CaseStatus.ESCALATED if kind == CaseKind.ESCALATION else CaseStatus.OPEN
        opened = CaseEvent(at=created_at, status=status, by_user_id=owner_user_id, note="opened")
        case = Case(
            id=max(self.rows, default=0) + 1,
            kind=kind,
            status=status,
            subject=subject,
            created_at=created_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            department=department,
            call_id=call_id,
            description=description,
            promised_reply_at=promised_reply_at,
            history=(opened,),
        )
        self.rows[case.id] = case
        return case

    async def get(self, case_id: int) -> Case:
        return row_or_not_found(self.rows, case_id, "case")

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
            for c in self.rows.values()
            if (customer_id is None or c.customer_id == customer_id)
            and (owner_user_id is None or c.owner_user_id == owner_user_id)
            and (not open_only or c.status not in _DONE)
        ]
        return sorted(found, key=lambda c: c.created_at, reverse=True)[:limit]

    async def _event(self, case_id: int, event: CaseEvent, **fields: object) -> Case:
        case = await self.get(case_id)
        case = dataclasses.replace(case, history=(*case.history, event), **fields)  # type: ignore[arg-type]
        self.rows[case_id] = case
        return case

    async def set_status(
        self,
        case_id: int,
        status: CaseStatus,
        *,
        at: datetime,
        by_user_id: int | None,
        note: str = "",
    ) -> Case:
        event = CaseEvent(at=at, status=status, by_user_id=by_user_id, note=note)
        closed_at = at if status in _DONE else None
        return await self._event(case_id, event, status=status, closed_at=closed_at)

    async def reassign(
        self, case_id: int, owner_user_id: int, *, at: datetime, by_user_id: int | None
    ) -> Case:
        status = (await self.get(case_id)).status
        note = f"handed over to user {owner_user_id}"
        event = CaseEvent(at=at, status=status, by_user_id=by_user_id, note=note)
        return await self._event(case_id, event, owner_user_id=owner_user_id)


class FakeUsers:
    """`UserLookup` and `AgentDirectory`: the users a test adds."""

    def __init__(self, *users: User) -> None:
        self.rows: dict[int, User] = {}
        self.add(*users)

    def add(self, *users: User) -> None:
        self.rows.update((u.id, u) for u in users)

    async def get(self, user_id: int) -> User:
        return row_or_not_found(self.rows, user_id, "user")

    async def get_by_member_name(self, member_name: str) -> User | None:
        return next((u for u in self.rows.values() if u.member_name == member_name), None)


class FakeCustomers:
    """`CustomerReader`: the customers a test adds; `normalize` turns a number as dialled
    into the E.164 form the phones are stored in."""

    def __init__(self, normalize: Callable[[str], str] = lambda raw: raw) -> None:
        self.rows: dict[int, Customer] = {}
        self._normalize = normalize

    def add(self, *customers: Customer) -> None:
        self.rows.update((c.id, c) for c in customers)

    async def get(self, customer_id: int) -> Customer:
        return row_or_not_found(self.rows, customer_id, "customer")

    async def find_by_phone(self, phone: str) -> Customer | None:
        e164 = self._normalize(phone)
        return next((c for c in self.rows.values() if any(p.e164 == e164 for p in c.phones)), None)


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


class FakeAudit:
    """`AuditLog`: the entries recorded, oldest first."""

    def __init__(self) -> None:
        self.entries: builtins.list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def list(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 500
    ) -> builtins.list[AuditEntry]:
        found = [
            e
            for e in self.entries
            if (since is None or e.at >= since) and (actor is None or e.actor == actor)
        ]
        return found[-limit:]


if TYPE_CHECKING:  # mypy checks that each fake satisfies its ports (tests.fakes is in packages)
    from crm_core.ports.agent_state import AgentDirectory
    from crm_core.ports.repositories import (
        AuditLog,
        CallRepository,
        CaseRepository,
        ViolationRepository,
    )
    from crm_core.ports.stores import CallReader, OpenCases, UserLookup
    from crm_core.services.customer_cards import (
        AuditRecorder,
        CallHistory,
        CaseReader,
        CustomerReader,
    )

    _calls: CallRepository = FakeCalls()
    _call_reader: CallReader = FakeCalls()
    _call_history: CallHistory = FakeCalls()
    _cases: CaseRepository = FakeCases()
    _open_cases: OpenCases = FakeCases()
    _case_reader: CaseReader = FakeCases()
    _users: UserLookup = FakeUsers()
    _directory: AgentDirectory = FakeUsers()
    _customers: CustomerReader = FakeCustomers()
    _violations: ViolationRepository = FakeViolations()
    _audit: AuditLog = FakeAudit()
    _recorder: AuditRecorder = FakeAudit()
