"""A campaign wrap-up's booking on the real database (SQLite and PostgreSQL): the claim
and the writes commit together (docs/adr/0094). A failure between the claim and the
contact's write leaves nothing claimed and nothing written, and the redelivery books it
exactly once, on either instance. Two "instances" are two services with their own
database connections, as two `serve` processes have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from crm_core.clock import FakeClock
from crm_core.db import Database, open_database
from crm_core.db.effects import EffectRepo, EffectTransaction
from crm_core.domain.events import WrapUpSaved
from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Satisfaction,
)
from crm_core.phones import normalize
from crm_core.ports.effects import ContactBook, DncEntries, SurveyAnswers
from crm_core.services.campaign_wrapups import CampaignWrapUps, booking_key

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PHONE = "+8613900139000"


class ContactsFailing:
    """The unit's campaign repository, whose contact updates raise `failures` first,
    one a call: the fault lands after the claim, the survey answer and the DNC entry."""

    def __init__(self, inner: ContactBook, failures: list[Exception]) -> None:
        self._inner = inner
        self._failures = failures

    async def get(self, campaign_id: int) -> Campaign:
        return await self._inner.get(campaign_id)

    async def contact_by_phone(self, campaign_id: int, phone_e164: str) -> CampaignContact | None:
        return await self._inner.contact_by_phone(campaign_id, phone_e164)

    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact:
        if self._failures:
            raise self._failures.pop(0)
        return await self._inner.update_contact(contact_id, **fields)


@dataclass
class UnitWithFaults:
    """The database's unit of work, its contact writes through `ContactsFailing`."""

    tx: EffectTransaction
    campaigns: ContactsFailing

    @property
    def dnc(self) -> DncEntries:
        return self.tx.dnc

    @property
    def surveys(self) -> SurveyAnswers:
        return self.tx.surveys

    async def claim(self, call_id: str, effect: str) -> bool:
        return await self.tx.claim(call_id, effect)


class LedgerWithFaults:
    """The database's ledger (`EffectRepo`) with faults injected into its units."""

    def __init__(self, effects: EffectRepo) -> None:
        self.effects = effects
        self.failures: list[Exception] = []

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[UnitWithFaults]:
        async with self.effects.transaction(now) as tx:
            yield UnitWithFaults(tx, ContactsFailing(tx.campaigns, self.failures))


@dataclass
class Instance:
    db: Database
    ledger: LedgerWithFaults
    bookings: CampaignWrapUps


@pytest.fixture
async def instances(database_url: str) -> AsyncIterator[list[Instance]]:
    made: list[Instance] = []
    for n in (1, 2):
        db = await open_database(database_url)
        db.effects.instance = f"cc{n}"
        ledger = LedgerWithFaults(db.effects)
        bookings = CampaignWrapUps(ledger=ledger, clock=FakeClock(T0), normalize=normalize)
        bookings.first_backoff = 0.0
        made.append(Instance(db, ledger, bookings))
    yield made
    for inst in made:
        await inst.bookings.stop()
        await inst.db.close()


@dataclass
class FollowUp:
    """A running follow-up campaign, its one contact, and the wrap-up of a call to it."""

    campaign: Campaign
    contact: CampaignContact
    event: WrapUpSaved


@pytest.fixture
async def follow_up(instances: list[Instance]) -> FollowUp:
    db = instances[0].db
    campaign = await db.campaigns.create(
        Campaign(
            id=0,
            name="回访",
            kind=CampaignKind.FOLLOW_UP,
            mode=DialMode.PREVIEW,
            status=CampaignStatus.RUNNING,
        )
    )
    await db.campaigns.add_contacts(
        [CampaignContact(id=0, campaign_id=campaign.id, phone_e164=PHONE, name="王五")]
    )
    (contact,) = await db.campaigns.contacts(campaign.id)
    event = WrapUpSaved(
        at=T0,
        wrapup_id="w-1",
        call_id="c-1",
        agent_user_id=7,
        agent="Agent 1001",
        result="resolved",
        disposition="do_not_call",
        disposition_reason="不要再打",
        notes="很不满意",
        satisfaction=1,
        campaign_id=campaign.id,
        phone="13900139000",
    )
    return FollowUp(campaign, contact, event)


async def _booked_once(db: Database, follow_up: FollowUp) -> None:
    assert await db.effects.applied("c-1") == [booking_key("w-1")]
    answers = await db.surveys.for_call("c-1")
    assert [(a.score, a.campaign_id, a.comment) for a in answers] == [
        (Satisfaction.VERY_DISSATISFIED, follow_up.campaign.id, "很不满意")
    ]
    assert await db.dnc.contains(PHONE)
    booked = await db.campaigns.contact(follow_up.contact.id)
    assert (booked.status, booked.disposition, booked.disposition_reason) == (
        ContactStatus.DNC,
        "do_not_call",
        "不要再打",
    )


async def _nothing_booked(db: Database, follow_up: FollowUp) -> None:
    assert await db.effects.applied("c-1") == []
    assert await db.surveys.for_call("c-1") == []
    assert not await db.dnc.contains(PHONE)
    assert await db.campaigns.contact(follow_up.contact.id) == follow_up.contact


async def test_a_fault_between_claim_and_write_leaves_nothing_and_the_redelivery_books_once(
    instances: list[Instance], follow_up: FollowUp
) -> None:
    first, second = instances
    first.ledger.failures.append(ConnectionResetError("connection lost mid-transaction"))
    with pytest.raises(ConnectionResetError):
        await first.bookings.book(follow_up.event)
    await _nothing_booked(second.db, follow_up)

    assert await second.bookings.book(follow_up.event)  # the redelivery, on the other instance
    assert not await first.bookings.book(follow_up.event)  # again on the first: booked already
    await _booked_once(first.db, follow_up)


async def test_an_outage_on_delivery_is_retried_and_booked_once_across_instances(
    instances: list[Instance], follow_up: FollowUp
) -> None:
    first, second = instances
    first.ledger.failures += [ConnectionResetError("down"), ConnectionResetError("down")]
    await first.bookings.handle(follow_up.event)  # fails; its worker tries again
    await first.bookings.stop()  # the retries ran
    assert first.bookings.retried == 1
    await second.bookings.handle(follow_up.event)  # the event as the Redis bus brings it
    await _booked_once(second.db, follow_up)


async def test_two_instances_delivered_at_once_book_once(
    instances: list[Instance], follow_up: FollowUp
) -> None:
    first, second = instances
    results = await asyncio.gather(
        first.bookings.book(follow_up.event), second.bookings.book(follow_up.event)
    )
    assert sorted(results) == [False, True]
    await _booked_once(first.db, follow_up)


async def test_a_number_already_on_the_list_does_not_fail_the_unit(
    instances: list[Instance], follow_up: FollowUp
) -> None:
    first, _ = instances
    await first.db.dnc.add(PHONE, reason="listed before")
    assert await first.bookings.book(follow_up.event)
    await _booked_once(first.db, follow_up)
