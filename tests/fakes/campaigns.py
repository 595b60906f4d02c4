"""In-memory fakes of what a campaign wrap-up's booking writes (docs/adr/0090, 0094):
campaigns and their contacts, the do-not-call list, survey answers, and the booking
ledger whose units roll back claims and writes together.

`campaigns.failures` are raised, one a call, by the next contact updates (after the
claim and any survey answer or DNC entry of the unit: the contact's write comes last),
so a test sees a unit fail between its claim and its writes.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from crm_core.domain.models import Campaign, CampaignContact, SurveyAnswer
from tests.fakes.db import ClaimsInMemory
from tests.fakes.repos import row_or_not_found

_CONTACT_FIELDS = frozenset(f.name for f in dataclasses.fields(CampaignContact)) - {"id"}


class FakeCampaigns:
    """`ContactBook`: campaigns and contacts in dicts by id."""

    def __init__(self) -> None:
        self.campaigns: dict[int, Campaign] = {}
        self.contacts: dict[int, CampaignContact] = {}
        self.failures: builtins.list[Exception] = []

    def add(self, *items: Campaign | CampaignContact) -> None:
        for item in items:
            if isinstance(item, Campaign):
                self.campaigns[item.id] = item
            else:
                self.contacts[item.id] = item

    async def get(self, campaign_id: int) -> Campaign:
        return row_or_not_found(self.campaigns, campaign_id, "campaign")

    async def contact_by_phone(self, campaign_id: int, phone_e164: str) -> CampaignContact | None:
        for contact in self.contacts.values():
            if contact.campaign_id == campaign_id and contact.phone_e164 == phone_e164:
                return contact
        return None

    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact:
        if self.failures:
            raise self.failures.pop(0)
        updated = dataclasses.replace(row_or_not_found(self.contacts, contact_id, "contact"))
        for name, value in fields.items():
            if name not in _CONTACT_FIELDS:  # as the SQL repository refuses an unknown column
                raise TypeError(f"contact has no field {name!r}")
            # the port takes untyped `**fields`: set them on the fresh copy one by one
            # (what `replace(contact, **fields)` does, without an unchecked call)
            object.__setattr__(updated, name, value)
        self.contacts[contact_id] = updated
        return updated


class FakeDnc:
    """`DncEntries`: number -> reason; a listed number keeps its first entry."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None:
        self.rows.setdefault(phone_e164, reason)


class FakeSurveys:
    """`SurveyAnswers`: the answers in the order added."""

    def __init__(self) -> None:
        self.rows: builtins.list[SurveyAnswer] = []

    async def add(self, answer: SurveyAnswer) -> SurveyAnswer:
        stored = dataclasses.replace(answer, id=len(self.rows) + 1)
        self.rows.append(stored)
        return stored


@dataclass
class FakeBookingUnit(ClaimsInMemory):
    """`CampaignBookingUnit` over the fakes."""

    campaigns: FakeCampaigns
    dnc: FakeDnc
    surveys: FakeSurveys
    claims: set[tuple[str, str]] = field(default_factory=set)


class FakeBookingLedger:
    """`CampaignBookingLedger`: one writer at a time (as on SQLite); a unit that raises
    is rolled back, its claim with its writes."""

    def __init__(self) -> None:
        self.campaigns = FakeCampaigns()
        self.dnc = FakeDnc()
        self.surveys = FakeSurveys()
        self.claimed: set[tuple[str, str]] = set()
        self.rolled_back = 0
        self._writer = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[FakeBookingUnit]:
        async with self._writer:
            contacts = dict(self.campaigns.contacts)
            dnc = dict(self.dnc.rows)
            answers = builtins.list(self.surveys.rows)
            unit = FakeBookingUnit(self.campaigns, self.dnc, self.surveys, set(self.claimed))
            try:
                yield unit
            except BaseException:
                self.campaigns.contacts = contacts
                self.dnc.rows = dnc
                self.surveys.rows = answers
                self.rolled_back += 1
                raise
            self.claimed = unit.claims


if TYPE_CHECKING:  # mypy checks that the fakes satisfy the ports
    from crm_core.ports.effects import CampaignBookingLedger

    _ledger: CampaignBookingLedger = FakeBookingLedger()
