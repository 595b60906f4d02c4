"""A campaign call's wrap-up booked on its contact exactly once
(crm_core.services.campaign_wrapups, docs/adr/0094), on in-memory fakes of its ports."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from crm_core.clock import FakeClock
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
from crm_core.services.campaign_wrapups import CampaignWrapUps, booking_key
from tests.fakes.campaigns import FakeBookingLedger
from tests.fakes.repos import DatabaseDown

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SALES = Campaign(
    id=1,
    name="spring",
    kind=CampaignKind.SALES,
    mode=DialMode.PREVIEW,
    status=CampaignStatus.RUNNING,
)
VISITS = Campaign(
    id=2,
    name="visits",
    kind=CampaignKind.FOLLOW_UP,
    mode=DialMode.PREVIEW,
    status=CampaignStatus.RUNNING,
)
ALICE = CampaignContact(id=10, campaign_id=1, phone_e164="+8613800138000", name="Alice")
BOB = CampaignContact(id=20, campaign_id=2, phone_e164="+8613900139000", customer_id=5)


def china(phone: str) -> str:
    """A stand-in for the console's normaliser: national mobile numbers to E.164."""
    return f"+86{phone}" if len(phone) == 11 and phone.startswith("1") else phone


def saved(
    *,
    campaign_id: int | None = 1,
    phone: str = "13800138000",
    disposition: str | None = "do_not_call",
    satisfaction: int | None = None,
    notes: str = "",
) -> WrapUpSaved:
    return WrapUpSaved(
        at=T0,
        wrapup_id="w-1",
        call_id="c-1",
        agent_user_id=7,
        agent="Agent 1001",
        result="resolved",
        disposition=disposition,
        disposition_reason="客户要求不再来电",
        notes=notes,
        satisfaction=satisfaction,
        campaign_id=campaign_id,
        phone=phone,
    )


def ledger() -> FakeBookingLedger:
    made = FakeBookingLedger()
    made.campaigns.add(SALES, VISITS, ALICE, BOB)
    return made


def bookings(on: FakeBookingLedger) -> CampaignWrapUps:
    service = CampaignWrapUps(ledger=on, clock=FakeClock(T0), normalize=china)
    service.first_backoff = 0.0  # the worker's retries go on at once
    return service


async def test_do_not_call_closes_the_contact_and_lists_the_number() -> None:
    db = ledger()
    assert await bookings(db).book(saved())
    contact = db.campaigns.contacts[ALICE.id]
    assert (contact.status, contact.disposition, contact.disposition_reason) == (
        ContactStatus.DNC,
        "do_not_call",
        "客户要求不再来电",
    )
    assert db.dnc.rows == {"+8613800138000": "campaign 1: 客户要求不再来电"}
    assert db.claimed == {("c-1", "wrapup-campaign:w-1")}
    assert db.surveys.rows == []  # a sales campaign asks no satisfaction


async def test_a_follow_up_records_the_satisfaction_with_the_call() -> None:
    db = ledger()
    event = saved(
        campaign_id=2,
        phone="+8613900139000",
        disposition="surveyed",
        satisfaction=4,
        notes="满意",
    )
    assert await bookings(db).book(event)
    (answer,) = db.surveys.rows
    assert (answer.score, answer.call_id, answer.campaign_id) == (Satisfaction.SATISFIED, "c-1", 2)
    assert (answer.customer_id, answer.agent, answer.comment, answer.at) == (
        5,
        "Agent 1001",
        "满意",
        T0,
    )
    assert db.campaigns.contacts[BOB.id].disposition == "surveyed"
    assert db.dnc.rows == {}


async def test_delivered_twice_it_is_booked_once() -> None:
    db = ledger()
    service = bookings(db)
    event = saved(campaign_id=2, phone="13900139000", disposition="surveyed", satisfaction=5)
    assert await service.book(event)
    assert not await service.book(event)
    assert len(db.surveys.rows) == 1


async def test_two_instances_book_it_once() -> None:
    db = ledger()
    event = saved(campaign_id=2, phone="13900139000", disposition="surveyed", satisfaction=5)
    first, second = bookings(db), bookings(db)
    results = await asyncio.gather(first.handle(event), second.handle(event))
    assert results == [None, None]
    assert len(db.surveys.rows) == 1
    assert db.claimed == {("c-1", booking_key("w-1"))}


async def test_a_failing_write_leaves_no_claim_and_the_retry_books_it() -> None:
    db = ledger()
    event = saved(campaign_id=2, phone="13900139000", disposition="surveyed", satisfaction=2)
    db.campaigns.failures.append(DatabaseDown("database unreachable"))
    service = bookings(db)
    with pytest.raises(DatabaseDown):
        await service.book(event)
    # the survey answer written before the failure went with the claim
    assert (db.claimed, db.surveys.rows, db.rolled_back) == (set(), [], 1)
    assert db.campaigns.contacts[BOB.id].disposition is None
    assert await service.book(event)
    assert [a.score for a in db.surveys.rows] == [Satisfaction.DISSATISFIED]
    assert db.campaigns.contacts[BOB.id].disposition == "surveyed"


async def test_a_database_outage_on_delivery_is_retried_by_the_worker() -> None:
    db = ledger()
    db.campaigns.failures += [DatabaseDown("down"), DatabaseDown("still down")]
    service = bookings(db)
    await service.handle(saved())  # fails at once; the worker tries again
    await service.stop()  # drains the queue: the retries ran
    assert service.retried == 1
    assert service.abandoned == 0
    assert db.campaigns.contacts[ALICE.id].status is ContactStatus.DNC
    assert db.dnc.rows.keys() == {"+8613800138000"}
    assert db.rolled_back == 2
    assert len(db.claimed) == 1


async def test_an_outage_longer_than_the_retries_is_logged_with_what_to_book(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = ledger()
    db.campaigns.failures += [DatabaseDown("down")] * 2
    service = bookings(db)
    service.retry_seconds = 0.0
    with caplog.at_level(logging.ERROR, logger="crm_core.services.campaign_wrapups"):
        await service.handle(saved())
        await service.stop()
    assert service.abandoned == 1
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "w-1 NOT booked" in message
    assert "call c-1, campaign 1, number 13800138000, disposition 'do_not_call'" in message
    assert db.claimed == set()  # a later redelivery would still book it


async def test_any_other_failure_is_logged_and_books_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = ledger()
    db.campaigns.failures.append(ValueError("a contact the database refuses"))
    service = bookings(db)
    with caplog.at_level(logging.ERROR, logger="crm_core.services.campaign_wrapups"):
        await service.handle(saved())
    await service.stop()
    assert "wrap-up w-1 (call c-1) failed; nothing was booked" in caplog.text
    assert (db.claimed, db.dnc.rows, service.retried) == (set(), {}, 0)


@pytest.mark.parametrize(
    "event",
    [
        saved(campaign_id=None),
        saved(campaign_id=99),
        saved(phone="13700137000"),
        saved(phone=""),
    ],
    ids=["no-campaign", "unknown-campaign", "not-a-contact", "no-number"],
)
async def test_nothing_to_book_writes_nothing(event: WrapUpSaved) -> None:
    db = ledger()
    assert not await bookings(db).book(event)
    assert db.dnc.rows == {}
    assert db.campaigns.contacts[ALICE.id] == ALICE


async def test_a_number_the_normaliser_leaves_is_found_by_its_digits() -> None:
    db = ledger()
    assert await bookings(db).book(saved(phone="86 138-0013-8000"))
    assert db.campaigns.contacts[ALICE.id].status is ContactStatus.DNC
