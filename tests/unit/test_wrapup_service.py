"""The wrap-up use case (crm_core.services.wrapup) on in-memory fakes of its ports."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from crm_core.clock import FakeClock
from crm_core.domain.event_codec import decode, encode
from crm_core.domain.events import WrapUpSaved
from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    CallRecord,
    CaseKind,
    CaseStatus,
    Direction,
    Role,
    User,
)
from crm_core.services.wrapup import (
    RETRY_INTERVAL,
    RETRY_TRIES,
    CallContext,
    WrapUp,
    WrapUpError,
    WrapUpResult,
    WrapUpService,
)
from tests.fakes.repos import DatabaseDown
from tests.fakes.wrapup import FakePromiser, FakeWrapUpRepos, RecordingBus, Tasks

AGENT = User(id=7, username="agent1", display_name="A1", role=Role.AGENT, member_name="Agent 1001")
CARD = CallContext(phone="13800138000", queue="support", customer_id=3)


@dataclass
class World:
    service: WrapUpService
    repos: FakeWrapUpRepos
    promiser: FakePromiser
    bus: RecordingBus
    clock: FakeClock
    tasks: Tasks

    def saved_events(self) -> list[WrapUpSaved]:
        return [e for e in self.bus.events if isinstance(e, WrapUpSaved)]


def record(call_id: str = "c-1", **fields: object) -> CallRecord:
    base = CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number="13800138000",
        caller_name="",
        queue="support",
        agent="Agent 1001",
        outcome=CallOutcome.ANSWERED,
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    repos = FakeWrapUpRepos()
    promiser = FakePromiser(repos.callbacks, clock.now())
    bus = RecordingBus()
    tasks = Tasks()
    service = WrapUpService(
        repos=repos,
        promiser=promiser,
        bus=bus,
        clock=clock,
        tasks=tasks,
        callback_window_minutes=30,
        departments=("billing", "technical"),
    )
    yield World(service, repos, promiser, bus, clock, tasks)
    await tasks.stop()


async def test_a_resolved_wrap_up_is_written_and_announced(world: World) -> None:
    await world.repos.calls.save_many([record()])
    done = await world.service.save(
        WrapUp(call_id="c-1", agent=AGENT, disposition="order", notes="发货查询"), CARD
    )
    assert (done.saved, done.callback, done.case) == (True, None, None)
    stored = world.repos.calls.rows["c-1"]
    assert (stored.disposition, stored.wrapup_notes, stored.customer_id) == ("order", "发货查询", 3)
    (event,) = world.saved_events()
    assert (event.call_id, event.agent_user_id, event.agent, event.result) == (
        "c-1",
        7,
        "Agent 1001",
        "resolved",
    )
    assert (event.disposition, event.phone, event.customer_id) == ("order", "13800138000", 3)
    assert decode(encode(event)) == event  # it crosses the Redis bus as it is


async def test_a_promised_callback_is_owned_by_the_agent_and_due_in_the_window(
    world: World,
) -> None:
    await world.repos.calls.save_many([record()])
    done = await world.service.save(
        WrapUp(call_id="c-1", agent=AGENT, result=WrapUpResult.CALLBACK, notes="call back"),
        CARD,
    )
    cb = done.callback
    assert cb is not None
    assert (cb.reason, cb.owner_user_id, cb.phone_e164, cb.queue) == (
        CallbackReason.PROMISED,
        7,
        "13800138000",
        "support",
    )
    assert cb.question == "call back"  # the notes, when no question is given
    assert cb.due_at == world.clock.now() + timedelta(minutes=30)
    assert world.saved_events()[0].callback_id == cb.id


async def test_a_callback_needs_a_phone(world: World) -> None:
    with pytest.raises(WrapUpError) as err:
        await world.service.save(
            WrapUp(call_id="c-9", agent=AGENT, result=WrapUpResult.CALLBACK), CallContext()
        )
    assert err.value.error_id == "no-phone"
    assert world.promiser.promises == 0
    assert world.saved_events() == []


async def test_a_second_save_finds_the_first_promise(world: World) -> None:
    await world.repos.calls.save_many([record()])
    wrapup = WrapUp(call_id="c-1", agent=AGENT, result=WrapUpResult.CALLBACK)
    first = await world.service.save(wrapup, CARD)
    second = await world.service.save(wrapup, None)  # the card is gone by now
    assert first.callback is not None
    assert second.callback is not None
    assert second.callback.id == first.callback.id
    assert world.promiser.promises == 1
    assert len(world.repos.callbacks.rows) == 1


async def test_a_double_click_promises_once(world: World) -> None:
    await world.repos.calls.save_many([record()])
    wrapup = WrapUp(call_id="c-1", agent=AGENT, result=WrapUpResult.CALLBACK)
    a, b = await asyncio.gather(world.service.save(wrapup, CARD), world.service.save(wrapup, CARD))
    assert a.callback is not None
    assert b.callback is not None
    assert a.callback.id == b.callback.id
    assert world.promiser.promises == 1


async def test_an_escalation_opens_a_case_the_first_contact_owns(world: World) -> None:
    await world.repos.calls.save_many([record()])
    done = await world.service.save(
        WrapUp(
            call_id="c-1",
            agent=AGENT,
            result=WrapUpResult.ESCALATE,
            notes="refund refused twice",
            complaint=True,
        ),
        CARD,
    )
    case = done.case
    assert case is not None
    assert (case.kind, case.status, case.owner_user_id, case.department) == (
        CaseKind.COMPLAINT,
        CaseStatus.ESCALATED,
        7,
        "team_lead",
    )
    assert (case.subject, case.call_id, case.customer_id) == ("refund refused twice", "c-1", 3)
    assert case.history[-1].note == "escalated to team lead"
    assert world.saved_events()[0].case_id == case.id


async def test_an_escalation_to_a_department_names_a_known_one(world: World) -> None:
    to_billing = WrapUp(
        call_id="c-1",
        agent=AGENT,
        result=WrapUpResult.ESCALATE,
        escalate_to_department=True,
        department="billing",
    )
    await world.repos.calls.save_many([record()])
    done = await world.service.save(to_billing, CARD)
    assert done.case is not None
    assert done.case.department == "billing"
    with pytest.raises(WrapUpError) as err:
        await world.service.save(
            WrapUp(
                call_id="c-1",
                agent=AGENT,
                result=WrapUpResult.ESCALATE,
                escalate_to_department=True,
                department="sales",
            ),
            CARD,
        )
    assert err.value.error_id == "bad-department"
    assert len(world.repos.cases.rows) == 1


async def test_without_a_card_the_record_says_what_the_call_was(world: World) -> None:
    outbound = record(
        direction=Direction.OUTBOUND,
        caller_number="1001",
        dialed_number="13900139000",
        campaign_id=5,
        customer_id=11,
    )
    await world.repos.calls.save_many([outbound])
    await world.service.save(WrapUp(call_id="c-1", agent=AGENT, disposition="sale"), None)
    (event,) = world.saved_events()
    assert (event.campaign_id, event.phone, event.customer_id) == (5, "13900139000", 11)


async def test_a_record_that_lands_late_is_written_by_the_retry(world: World) -> None:
    done = await world.service.save(
        WrapUp(call_id="c-1", agent=AGENT, disposition="order", notes="late"), CARD
    )
    assert done.saved is False
    assert world.saved_events()[0].call_id == "c-1"  # announced at once all the same
    await world.clock.advance(0)  # the retry task starts and sleeps
    await world.clock.advance(RETRY_INTERVAL * 3)
    assert "c-1" not in world.repos.calls.rows
    await world.repos.calls.save_many([record()])  # the hang-up's record lands
    await world.clock.advance(RETRY_INTERVAL)
    await asyncio.wait_for(world.tasks.tasks["wrapup:c-1"], 1)
    stored = world.repos.calls.rows["c-1"]
    assert (stored.disposition, stored.wrapup_notes) == ("order", "late")


async def test_the_retry_gives_up_after_two_minutes(world: World) -> None:
    await world.service.save(WrapUp(call_id="c-1", agent=AGENT), CARD)
    await world.clock.advance(0)  # the retry task starts and sleeps
    await world.clock.advance(RETRY_INTERVAL * RETRY_TRIES)
    with pytest.raises(RuntimeError, match="no call record after 2 minutes"):
        await asyncio.wait_for(world.tasks.tasks["wrapup:c-1"], 1)


async def test_a_database_outage_is_not_retried_in_the_background(world: World) -> None:
    world.repos.calls.down = True
    with pytest.raises(DatabaseDown):
        await world.service.save(WrapUp(call_id="c-1", agent=AGENT), CARD)
    assert world.tasks.tasks == {}
    assert world.saved_events() == []
