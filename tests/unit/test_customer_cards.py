"""The customer-card use case on in-memory repositories: what a card shows, whose wrap-up
notes an agent reads, and the audit of the read (ADR 0085)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core.clock import FakeClock
from crm_core.domain.models import (
    Callback,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Case,
    CaseKind,
    CaseStatus,
    Customer,
    Direction,
    PhoneNumber,
    Role,
    User,
)
from crm_core.ports.repositories import NotFound
from crm_core.services.customer_cards import CustomerCardService, notes_visible_to
from tests.fakes.callbacks import FakeCallbacks
from tests.fakes.repos import FakeAudit, FakeCalls, FakeCases, FakeCustomers

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT1 = User(id=1, username="agent1", display_name="A1", role=Role.AGENT, member_name="Agent 1001")
AGENT2 = User(id=2, username="agent2", display_name="A2", role=Role.AGENT, member_name="Agent 1002")
LEAD = User(id=3, username="lead1", display_name="L", role=Role.LEAD)
ZHANG = Customer(id=7, name="张三", phones=(PhoneNumber(e164="+8613800138000", raw="13800138000"),))


def normalize(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) != 11:
        raise ValueError(raw)
    return "+86" + digits


class World:
    def __init__(self) -> None:
        self.customers = FakeCustomers(normalize=_try)
        self.calls = FakeCalls()
        self.cases = FakeCases()
        self.callbacks = FakeCallbacks()
        self.audit = FakeAudit()
        self.clock = FakeClock(T0)
        self.service = CustomerCardService(
            customers=self.customers,
            calls=self.calls,
            cases=self.cases,
            callbacks=self.callbacks,
            audit=self.audit,
            clock=self.clock,
            normalize_phone=normalize,
        )


def _try(raw: str) -> str:
    try:
        return normalize(raw)
    except ValueError:
        return raw


def call(n: int, agent: str | None, notes: str | None = None) -> CallRecord:
    return CallRecord(
        call_id=f"c{n}",
        direction=Direction.INBOUND,
        caller_number="13800138000",
        caller_name="张三",
        agent=agent,
        started_at=T0 - timedelta(hours=n),
        outcome=CallOutcome.ANSWERED if agent else CallOutcome.ABANDONED,
        customer_id=ZHANG.id,
        disposition="resolved" if agent else None,
        wrapup_notes=notes,
    )


def callback(n: int, phone: str, status: CallbackStatus) -> Callback:
    return Callback(
        id=n,
        phone_e164=phone,
        reason=CallbackReason.PROMISED,
        status=status,
        created_at=T0 - timedelta(days=1),
        due_at=T0 + timedelta(minutes=n),
        customer_id=ZHANG.id,
    )


@pytest.fixture
def world() -> World:
    w = World()
    w.customers.add(ZHANG)
    w.calls.add(
        call(1, "Agent 1001", "wants the red one"),
        call(2, "Agent 1002", "angry about the bill"),
        call(3, None),
    )
    w.cases.add(
        Case(id=1, kind=CaseKind.COMPLAINT, status=CaseStatus.OPEN, subject="bill",
             created_at=T0, customer_id=ZHANG.id),
        Case(id=2, kind=CaseKind.INQUIRY, status=CaseStatus.CLOSED, subject="old",
             created_at=T0, customer_id=ZHANG.id),
        Case(id=3, kind=CaseKind.INQUIRY, status=CaseStatus.OPEN, subject="other customer",
             created_at=T0, customer_id=99),
    )  # fmt: skip
    w.callbacks.add(
        callback(1, "+8613800138000", CallbackStatus.OVERDUE),
        callback(2, "+8613900139000", CallbackStatus.DONE),
    )
    return w


async def test_the_card_shows_customer_recent_calls_open_cases_and_callbacks(
    world: World,
) -> None:
    card = await world.service.card(LEAD, customer_id=ZHANG.id)
    assert card.known
    assert card.customer == ZHANG
    assert [c.call_id for c in card.recent_calls] == ["c1", "c2", "c3"]
    assert [c.id for c in card.open_cases] == [1]
    assert [c.id for c in card.open_callbacks] == [1]


async def test_an_agent_reads_only_the_notes_of_their_own_calls(world: World) -> None:
    mine = await world.service.card(AGENT1, customer_id=ZHANG.id)
    assert {c.call_id: c.notes for c in mine.recent_calls} == {
        "c1": "wants the red one",
        "c2": None,
        "c3": None,
    }
    theirs = await world.service.card(AGENT2, customer_id=ZHANG.id)
    assert {c.call_id: c.notes for c in theirs.recent_calls}["c2"] == "angry about the bill"
    assert {c.call_id: c.notes for c in theirs.recent_calls}["c1"] is None
    lead = await world.service.card(LEAD, customer_id=ZHANG.id)
    assert [c.notes for c in lead.recent_calls] == [
        "wants the red one",
        "angry about the bill",
        None,
    ]


def test_an_agent_without_a_member_name_reads_no_notes_of_calls_without_an_agent() -> None:
    nameless = User(id=9, username="x", display_name="x", role=Role.AGENT)
    assert not notes_visible_to(nameless, call(3, None, "left by the system"))
    assert notes_visible_to(LEAD, call(3, None, "left by the system"))


async def test_the_popping_call_is_left_out_and_five_calls_are_shown(world: World) -> None:
    world.calls.add(*(call(n, "Agent 1001") for n in range(4, 10)))
    card = await world.service.card(AGENT1, phone="138 0013 8000", call_id="c1")
    assert [c.call_id for c in card.recent_calls] == ["c2", "c3", "c4", "c5", "c6"]
    assert world.calls.filters[-1].limit == 6


async def test_reading_a_card_is_audited_with_the_call_it_popped_for(world: World) -> None:
    await world.service.card(AGENT1, phone="13800138000", call_id="c9")
    await world.service.card(LEAD, customer_id=ZHANG.id)
    assert [(e.actor, e.action, e.subject, e.detail, e.at) for e in world.audit.entries] == [
        ("agent1", "customer.read", "customer:7", "screen pop for call c9", T0),
        ("lead1", "customer.read", "customer:7", "customer card", T0),
    ]
    assert [e.actor_user_id for e in world.audit.entries] == [1, 3]


async def test_an_unknown_number_shows_its_open_callback_and_is_not_audited(
    world: World,
) -> None:
    world.callbacks.add(callback(3, "+8613700137000", CallbackStatus.OPEN))
    card = await world.service.card(AGENT1, phone="13700137000", call_id="c9")
    assert not card.known
    assert card.recent_calls == ()
    assert card.open_cases == ()
    assert [c.id for c in card.open_callbacks] == [3]
    assert world.audit.entries == []


async def test_a_number_that_is_not_one_is_looked_up_as_given(world: World) -> None:
    card = await world.service.card(AGENT1, phone="anonymous")
    assert not card.known
    assert card.open_callbacks == ()
    assert world.service.normalize("anonymous") == "anonymous"
    assert world.service.normalize("13800138000") == "+8613800138000"


async def test_an_unknown_customer_id_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await world.service.card(LEAD, customer_id=424242)
    assert world.audit.entries == []
