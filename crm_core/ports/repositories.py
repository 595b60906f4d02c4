"""Repository ports of the CRM core. Methods return domain objects, never ORM rows.

Implemented for SQLite and PostgreSQL by `crm_core.db.repos`; services and
tests may use in-memory fakes. Each method is its own transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crm_core.domain.models import (
    AttemptResult,
    AuditEntry,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallRecord,
    Campaign,
    CampaignContact,
    Case,
    CaseKind,
    CaseStatus,
    Customer,
    Role,
    SurveyAnswer,
    Team,
    User,
    Violation,
)


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer to find by `e164` (already normalized) or else create as given."""

    e164: str
    name: str
    company: str = ""


class NotFound(LookupError):
    error_id = "not-found"


class Conflict(ValueError):
    error_id = "conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    agents: tuple[str, ...] | None = None  # restrict to a team's members
    queue: str | None = None
    outcome: str | None = None
    customer_id: int | None = None
    limit: int = 200
    offset: int = 0


class CustomerRepository(Protocol):
    async def get(self, customer_id: int) -> Customer: ...
    async def find_by_phone(self, phone: str) -> Customer | None:
        """Any phone form ('+86 138 0013 8000', '13800138000', '008613800138000')."""
        ...

    async def create(
        self,
        *,
        name: str,
        phones: Sequence[str] = (),
        company: str = "",
        title: str = "",
        vip_level: int = 0,
        notes: str = "",
        language: str = "",
    ) -> Customer: ...
    async def update(self, customer_id: int, **fields: object) -> Customer: ...
    async def add_phone(self, customer_id: int, phone: str, label: str = "mobile") -> Customer: ...
    async def search(self, text: str, limit: int = 20) -> builtins.list[Customer]: ...
    async def ids_by_phones(
        self, people: Sequence[NewCustomer], *, create: bool = True
    ) -> dict[str, int]:
        """The customer id of each E.164 number, set-based: one query per few thousand
        numbers; with `create`, the unknown ones become customers (bulk insert) named
        and placed as given. Numbers unknown and not created are left out."""
        ...


class UserRepository(Protocol):
    async def get(self, user_id: int) -> User: ...
    async def get_by_username(self, username: str) -> User | None: ...
    async def get_by_member_name(self, member_name: str) -> User | None: ...
    async def password_hash(self, username: str) -> str | None: ...
    async def create(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password_hash: str,
        team_id: int | None = None,
        member_name: str | None = None,
        interface: str | None = None,
        queues: Sequence[str] = (),
        language: str = "",
    ) -> User: ...
    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...
    async def set_language(self, user_id: int, language: str) -> None: ...
    async def list(
        self, *, role: Role | None = None, team_id: int | None = None
    ) -> builtins.list[User]: ...
    async def get_or_create_team(self, name: str) -> Team: ...
    async def set_team_lead(self, team_id: int, lead_user_id: int) -> None: ...
    async def teams(self) -> builtins.list[Team]: ...


class CallRepository(Protocol):
    async def save_many(self, records: Iterable[CallRecord]) -> int:
        """Upsert by call_id (idempotent); keeps CRM-side fields such as wrap-up."""
        ...

    async def get(self, call_id: str) -> CallRecord: ...
    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]: ...
    async def save_wrapup(
        self,
        call_id: str,
        *,
        disposition: str | None,
        notes: str | None,
        customer_id: int | None = None,
    ) -> CallRecord: ...
    async def count(self) -> int: ...
    async def check_reachable(self) -> None:
        """Raise when the database cannot be reached (tells an outage from a bad record)."""
        ...


class CallbackRepository(Protocol):
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
    ) -> Callback: ...
    async def get(self, callback_id: int) -> Callback: ...
    async def open_for_phone(self, phone_e164: str) -> Callback | None: ...
    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> builtins.list[Callback]: ...
    async def update(self, callback_id: int, **fields: object) -> Callback: ...
    async def add_attempt(
        self,
        callback_id: int,
        *,
        at: datetime,
        result: AttemptResult,
        by_user_id: int | None = None,
        call_id: str | None = None,
        note: str = "",
    ) -> Callback: ...
    async def pending_deadlines(self) -> builtins.list[Callback]:
        """Open/overdue callbacks whose reminder, due or retry has not fired yet."""
        ...


class CaseRepository(Protocol):
    async def closed_matters(
        self, *, until: datetime, limit: int = 100_000
    ) -> builtins.list[tuple[int, int, datetime]]: ...
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
    ) -> Case: ...
    async def get(self, case_id: int) -> Case: ...
    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]: ...
    async def set_status(
        self,
        case_id: int,
        status: CaseStatus,
        *,
        at: datetime,
        by_user_id: int | None,
        note: str = "",
    ) -> Case: ...
    async def reassign(
        self, case_id: int, owner_user_id: int, *, at: datetime, by_user_id: int | None
    ) -> Case: ...


class ViolationRepository(Protocol):
    async def add(self, violation: Violation) -> Violation: ...
    async def list(
        self, *, since: datetime | None = None, agent: str | None = None, limit: int = 500
    ) -> builtins.list[Violation]: ...


class DoNotCallRepository(Protocol):
    async def contains(self, phone_e164: str) -> bool: ...
    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None: ...
    async def remove(self, phone_e164: str) -> None: ...


class SurveyRepository(Protocol):
    async def add(self, answer: SurveyAnswer) -> SurveyAnswer: ...
    async def for_call(self, call_id: str) -> builtins.list[SurveyAnswer]: ...


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Append-only; there is no update or delete."""
        ...

    async def list(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 500
    ) -> builtins.list[AuditEntry]: ...


class CampaignRepository(Protocol):
    async def create(self, campaign: Campaign) -> Campaign: ...
    async def get(self, campaign_id: int) -> Campaign: ...
    async def list(self) -> builtins.list[Campaign]: ...
    async def update(self, campaign_id: int, **fields: object) -> Campaign: ...
    async def add_contacts(self, contacts: Sequence[CampaignContact]) -> int: ...
    async def add_new_contacts(self, contacts: Sequence[CampaignContact]) -> builtins.set[str]:
        """Bulk insert, skipping numbers the campaign already has; returns the numbers
        stored (one transaction per few thousand rows)."""
        ...

    async def contacts(
        self, campaign_id: int, *, status: str | None = None, limit: int = 1000
    ) -> builtins.list[CampaignContact]: ...
    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact: ...
    async def contact(self, contact_id: int) -> CampaignContact: ...
    async def contact_by_phone(
        self, campaign_id: int, phone_e164: str
    ) -> CampaignContact | None: ...
    async def due_contacts(
        self, campaign_id: int, now: datetime, *, limit: int
    ) -> builtins.list[CampaignContact]: ...
    async def claim_contact(self, contact_id: int, *, by: str) -> bool: ...
    async def release_dialing(self, campaign_id: int, *, by: str | None = None) -> int: ...
