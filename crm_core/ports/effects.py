"""Claims of call side effects applied once across instances, and the unit of work in
which an effect is claimed and written (docs/adr/0060).

`crm_core.db.effects.EffectRepo` implements `EffectLedger` over one database
transaction per unit; `tests/fakes` implements it in memory (docs/adr/0090). The
campaigns' WrapUpSaved consumer (crm_core.services.campaign_wrapups) asks for the
`CampaignBookingLedger`: its units book on the contact in the claim's transaction
(docs/adr/0094).
"""

from __future__ import annotations

import builtins
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from crm_core.domain.models import Campaign, CampaignContact, SurveyAnswer
from crm_core.ports.repositories import CallbackRepository, ViolationRepository


class ClaimTransaction(Protocol):
    async def claim(self, call_id: str, effect: str) -> bool:
        """True when this transaction is the first to apply `effect` of `call_id`."""
        ...


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


class ContactBook(Protocol):
    """Campaigns and their contacts as a wrap-up's booking reads and writes them."""

    async def get(self, campaign_id: int) -> Campaign: ...
    async def contact_by_phone(
        self, campaign_id: int, phone_e164: str
    ) -> CampaignContact | None: ...
    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact: ...


class DncEntries(Protocol):
    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None:
        """Put the number on the do-not-call list; one already there stays as it is."""
        ...


class SurveyAnswers(Protocol):
    async def add(self, answer: SurveyAnswer) -> SurveyAnswer: ...


class CampaignBookingUnit(ClaimTransaction, Protocol):
    """One transaction: claim a wrap-up's booking and write it on the contact, the DNC
    list and the survey answers; an exception rolls the claim back with the writes."""

    @property
    def campaigns(self) -> ContactBook: ...
    @property
    def dnc(self) -> DncEntries: ...
    @property
    def surveys(self) -> SurveyAnswers: ...


class CampaignBookingLedger(Protocol):
    def transaction(self, now: datetime) -> AbstractAsyncContextManager[CampaignBookingUnit]: ...
