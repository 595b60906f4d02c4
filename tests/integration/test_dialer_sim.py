"""The live campaign dialer against the simulator over real AMI, a real bus and database:
calls placed by Originate, answered calls bridged to an agent with a screen-pop event,
results classified and retried, DNC re-read before each dial, no dialing into an empty
room, and an answered call with no agent recorded abandoned and owed a callback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.db import Database, open_database
from crm_core.domain.events import AgentRingStarted, CallEnded, DomainEvent
from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Direction,
)
from crm_core.services.callbacks import CallbackService
from telephony.commands import AmiCommands
from telephony.dialer import CampaignDialer, DialerConfig
from telephony.dialer_task import SupervisedDialer
from telephony.sim import Simulator, demo_simulator
from telephony.sim.pbx import CustomerPhone
from telephony.tracker import CallTracker
from tests.integration.local_reader import local_reader
from tests.polling import eventually

SECRET = "dialer-secret"


@dataclass
class Stack:
    sim: Simulator
    db: Database
    dialer: CampaignDialer
    loop: SupervisedDialer
    events: list[DomainEvent] = field(default_factory=list)

    async def until(self, pred: Callable[[], object], timeout: float = 25.0) -> None:
        await eventually(pred, timeout=timeout, what="the dialer scenario's condition")

    async def until_async(self, pred: Callable[[], Awaitable[bool]], timeout: float = 25.0) -> None:
        await eventually(pred, timeout=timeout, what="the dialer scenario's stored state")

    def originates(self) -> list[str]:
        return [a.get("Channel") for a in self.sim.actions if a.get("Action") == "Originate"]

    async def campaign(self, numbers: list[str], *, queue: str = "sales") -> Campaign:
        c = await self.db.campaigns.create(
            Campaign(
                id=0,
                name="回访测试",
                kind=CampaignKind.SALES,
                mode=DialMode.PROGRESSIVE,
                status=CampaignStatus.DRAFT,
                queue=queue,
                calling_hours_start="00:00",
                calling_hours_end="23:59",
                caller_id="4008001234",
            )
        )
        await self.db.campaigns.add_contacts(
            [CampaignContact(id=0, campaign_id=c.id, phone_e164=f"+86{n}") for n in numbers]
        )
        return c


@pytest.fixture
async def stack(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    agents = getattr(request, "param", 6)  # agents in both support and sales
    sim = demo_simulator(ami_secret=SECRET, preload_members=True, answer_after=0.2, agents=agents)
    for q in sim.queues.values():
        q.member_timeout, q.retry = 2.0, 0.1
    await sim.start()
    db = await open_database(database_url)
    bus = InProcessBus()
    events: list[DomainEvent] = []
    bus.subscribe(events.append)
    settings = Settings()
    clock = SystemClock()

    tracker = CallTracker(settings.ring_limit_seconds)
    client = local_reader(sim.port, SECRET, tracker, bus.publish_all)
    callbacks = CallbackService(db=db, bus=bus, clock=clock, settings=settings)
    bus.subscribe(callbacks.handle)
    dialer = CampaignDialer(
        campaigns=db.campaigns,
        dnc=db.dnc,
        commands=AmiCommands(client, tracker),
        clock=clock,
        config=DialerConfig(channel="Local/{number}@customers", instance="test"),
    )
    bus.subscribe(dialer.handle)  # before the connect: the resync tells it who is logged in
    client.start()
    await client.wait_connected(5)
    loop = SupervisedDialer(dialer.step, dialer.agents_available, clock, tick_seconds=0.2)
    yield Stack(sim, db, dialer, loop, events)
    await loop.stop()
    await dialer.close()
    await callbacks.stop()
    await asyncio.wait_for(client.stop(), 10)
    await asyncio.wait_for(sim.stop(), 10)
    await db.close()


async def _start(stack: Stack, campaign: Campaign) -> None:
    await stack.db.campaigns.update(campaign.id, status=CampaignStatus.RUNNING)
    await stack.dialer.refresh()
    stack.loop.start()


async def test_progressive_dials_bridges_classifies_and_rereads_dnc(stack: Stack) -> None:
    stack.sim.customers["8613900000001"] = CustomerPhone("answer", 0.3, 0.5)
    stack.sim.customers["8613900000002"] = CustomerPhone("busy", 0.3, 0.5)
    stack.sim.customers["8613900000003"] = CustomerPhone("answer", 0.3, 0.5)
    campaign = await stack.campaign(["13900000001", "13900000002", "13900000003"])
    await stack.db.dnc.add("+8613900000003", reason="asked after the list was loaded")
    await stack.until(lambda: stack.dialer.free_agents("sales") > 0)
    await _start(stack, campaign)

    async def settled() -> bool:
        contacts = await stack.db.campaigns.contacts(campaign.id)
        return all(c.status is not ContactStatus.PENDING and c.last_result for c in contacts)

    await stack.until_async(settled)
    by_phone = {c.phone_e164: c for c in await stack.db.campaigns.contacts(campaign.id)}
    reached = by_phone["+8613900000001"]
    assert (reached.status, reached.attempts, reached.last_result) == (
        ContactStatus.DONE,
        1,
        "answered",
    )
    busy = by_phone["+8613900000002"]
    assert (busy.status, busy.attempts, busy.last_result) == (ContactStatus.RETRY, 1, "busy")
    assert busy.next_attempt_at is not None
    wait = busy.next_attempt_at - stack.dialer.clock.now()
    assert timedelta(minutes=9) < wait <= timedelta(minutes=10)
    # on the DNC list since the upload: never dialed, closed as DNC
    assert by_phone["+8613900000003"].status is ContactStatus.DNC
    assert not any("13900000003" in ch for ch in stack.originates())

    # the answered call rang an agent with the campaign on the screen-pop event …
    pops = [e for e in stack.events if isinstance(e, AgentRingStarted)]
    assert any(p.campaign_id == campaign.id for p in pops)
    # … and its record is an outbound campaign call, answered by that agent
    await stack.until(lambda: any(isinstance(e, CallEnded) for e in stack.events))
    await stack.until(
        lambda: any(
            isinstance(e, CallEnded) and e.record.outcome is CallOutcome.ANSWERED
            for e in stack.events
        )
    )
    record = next(
        e.record
        for e in stack.events
        if isinstance(e, CallEnded) and e.record.outcome is CallOutcome.ANSWERED
    )
    assert record.direction is Direction.OUTBOUND
    assert record.campaign_id == campaign.id
    assert record.agent is not None
    # one originate per attempt: no double dial of the same contact
    assert sorted(stack.originates()) == sorted(set(stack.originates()))
    assert len(stack.originates()) == 2
    stats = stack.dialer.stats(campaign.id)
    assert stats is not None
    assert stats["placed"] == 2
    assert stats["reached"] == 1


async def test_no_call_is_placed_while_no_agent_of_the_campaign_is_free(stack: Stack) -> None:
    stack.sim.customers["8613900000011"] = CustomerPhone("answer", 0.3, 0.5)
    campaign = await stack.campaign(["13900000011"], queue="sales")
    await stack.until(lambda: stack.dialer.free_agents("sales") > 0)
    members = [m.interface for m in stack.sim.queues["sales"].members]
    for iface in members:  # every agent of the campaign's queue pauses
        stack.sim.pause_member("sales", iface, True, "break")
    await stack.until(lambda: stack.dialer.free_agents("sales") == 0)
    await _start(stack, campaign)
    # the positive signal that the period under test has passed: the loop completed
    # five decision turns (agents counted, step taken or skipped) with the campaign
    # running and nobody free
    turned = stack.loop.ticks
    await stack.until(lambda: stack.loop.ticks >= turned + 5)
    assert stack.loop.calls_placed == 0  # no turn picked a contact to dial …
    stats = stack.dialer.stats(campaign.id)
    assert stats is None or stats["placed"] == 0
    (contact,) = await stack.db.campaigns.contacts(campaign.id)
    assert (contact.status, contact.attempts) == (ContactStatus.PENDING, 0)
    assert stack.originates() == []  # … and none reached the PBX
    assert stack.loop.crashes == 0
    stack.sim.pause_member("sales", members[0], False, "")
    await stack.until(lambda: len(stack.originates()) == 1)


async def test_answered_call_without_an_agent_is_abandoned_and_owed_a_callback(
    stack: Stack,
) -> None:
    stack.sim.customers["8613900000021"] = CustomerPhone("answer", 1.0, 0.5)
    campaign = await stack.campaign(["13900000021"], queue="sales")
    await stack.until(lambda: stack.dialer.free_agents("sales") > 0)
    await _start(stack, campaign)
    await stack.until(lambda: len(stack.originates()) == 1)
    stack.loop.start()  # idempotent
    # while the customer's phone rings, the only agents are taken by another matter
    for m in stack.sim.queues["sales"].members:
        m.busy = True
    await stack.until(
        lambda: any(
            isinstance(e, CallEnded) and e.record.campaign_id == campaign.id for e in stack.events
        )
    )
    record = next(
        e.record
        for e in stack.events
        if isinstance(e, CallEnded) and e.record.campaign_id == campaign.id
    )
    assert record.outcome is CallOutcome.ABANDONED
    assert record.direction is Direction.OUTBOUND

    async def owed() -> bool:
        return await stack.db.callbacks.open_for_phone("+8613900000021") is not None

    await stack.until_async(owed)
    cb = await stack.db.callbacks.open_for_phone("+8613900000021")
    assert cb is not None
    assert cb.reason is CallbackReason.DIALER_ABANDON

    async def booked() -> bool:
        contacts = await stack.db.campaigns.contacts(campaign.id)
        return contacts[0].last_result == "abandoned"

    await stack.until_async(booked)
    stats = stack.dialer.stats(campaign.id)
    assert stats is not None
    assert stats["abandoned"] == 1
    assert not any(isinstance(e, AgentRingStarted) for e in stack.events)


class _FlakyCampaigns:
    """The real repository, with the database "away" for the first result writes."""

    def __init__(self, real: Any, failures: int) -> None:
        self._real = real
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact:
        if "attempts" in fields and self.failures > 0:
            self.failures -= 1
            raise OperationalError("UPDATE campaign_contacts", {}, ConnectionError("db away"))
        result: CampaignContact = await self._real.update_contact(contact_id, **fields)
        return result


async def test_an_attempt_result_is_stored_once_the_database_is_back(stack: Stack) -> None:
    flaky = _FlakyCampaigns(stack.db.campaigns, failures=2)
    stack.dialer.campaigns = flaky  # type: ignore[assignment]
    stack.sim.customers["8613900000031"] = CustomerPhone("busy", 0.3, 0.5)
    campaign = await stack.campaign(["13900000031"])
    await stack.until(lambda: stack.dialer.free_agents("sales") > 0)
    await _start(stack, campaign)

    async def stored() -> bool:
        contacts = await stack.db.campaigns.contacts(campaign.id)
        return contacts[0].last_result is not None

    await stack.until_async(stored, timeout=30)
    contact = (await stack.db.campaigns.contacts(campaign.id))[0]
    assert (contact.status, contact.attempts, contact.last_result) == (
        ContactStatus.RETRY,
        1,
        "busy",
    )
    assert flaky.failures == 0  # it did fail twice before the write went through
    assert len(stack.originates()) == 1  # and the contact was not dialed again meanwhile


@pytest.mark.parametrize("stack", [2], indirect=True)
async def test_shared_agents_with_an_inbound_backlog_are_not_counted_free(stack: Stack) -> None:
    """Issue 12 #10: both agents serve support (inbound, a backlog waiting) and the
    campaign's queue. Counting them free dialed customers who then found every agent
    on an inbound call: 100 % abandon. The dialer now waits for the backlog, reserves
    the agents (paused in support) and only then dials: every answer reaches an agent."""
    numbers = ["13900000041", "13900000042"]
    for n in numbers:
        stack.sim.customers[f"86{n}"] = CustomerPhone("answer", 0.5, 1.0)
    campaign = await stack.campaign(numbers, queue="sales")
    await stack.until(lambda: stack.dialer.free_agents("sales") == 2)
    inbound = [
        stack.sim.place_call(f"1380000010{i}", queue="support", talk_seconds=1.5) for i in range(5)
    ]
    # both agents are taken by inbound callers and three more wait in support
    await stack.until(lambda: all(m.busy for m in stack.sim.queues["support"].members))
    await stack.until(lambda: len(stack.sim.queues["support"].waiting) >= 1)
    await _start(stack, campaign)

    async def settled() -> bool:
        contacts = await stack.db.campaigns.contacts(campaign.id)
        return all(c.last_result for c in contacts)

    await stack.until_async(settled, timeout=40)
    contacts = await stack.db.campaigns.contacts(campaign.id)
    assert sorted(c.last_result or "" for c in contacts) == ["answered", "answered"]
    stats = stack.dialer.stats(campaign.id)
    assert stats is not None
    assert stats["abandoned"] == 0
    # no customer was dialed while an inbound caller waited for these agents
    ended = {e.record.call_id: e.record for e in stack.events if isinstance(e, CallEnded)}
    assert all(ended[c].outcome is CallOutcome.ANSWERED for c in inbound if c in ended)
    # the reservations were lifted: the agents serve support again
    await stack.until(
        lambda: not any(m.paused for q in stack.sim.queues.values() for m in q.members)
    )
