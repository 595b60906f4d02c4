"""Which agents a campaign may pace on when they also serve inbound queues (ADR 0044)."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_core.domain.events import (
    AgentRingEnded,
    AgentRingStarted,
    AgentStateChanged,
    CallAnswered,
    CallOffered,
)
from crm_core.domain.models import AgentStatus, DialMode, OfferResult
from telephony.pacing import PacingState, PredictivePacer, calls_to_place
from telephony.reservation import Floor, agents_needed, reserve_reason

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
A, B = "Local/1001@agents/n", "Local/1002@agents/n"


def member(
    queue: str, iface: str, status: AgentStatus, *, paused: bool = False, reason: str = ""
) -> AgentStateChanged:
    return AgentStateChanged(
        at=T0,
        agent=iface,
        interface=iface,
        queue=queue,
        status=AgentStatus.PAUSED if paused else status,
        paused=paused,
        pause_reason=reason,
    )


def shared_floor() -> Floor:
    floor = Floor()
    for iface in (A, B):
        for q in ("support", "sales"):
            floor.handle(member(q, iface, AgentStatus.AVAILABLE))
    return floor


def confirm(floor: Floor, campaign_id: int) -> None:
    """Perform the plan like the dialer does and let Asterisk's pause events arrive."""
    plan = floor.plan(campaign_id, "sales", keep=0, active=True)
    for iface, queues in plan.reserve:
        floor.reserved(iface, campaign_id, "sales", queues)
        for q in queues:
            floor.handle(
                member(q, iface, AgentStatus.AVAILABLE, paused=True, reason=reserve_reason(1))
            )


def test_an_agent_is_paced_on_only_once_paused_in_the_inbound_queues() -> None:
    floor = shared_floor()
    assert floor.ready(1, "sales") == []  # free, but inbound could still take them
    plan = floor.plan(1, "sales", keep=0, active=True)
    assert plan.reserve == [(A, ("support",)), (B, ("support",))]
    for iface, queues in plan.reserve:
        floor.reserved(iface, 1, "sales", queues)
    assert floor.ready(1, "sales") == []  # the pauses are not confirmed yet
    floor.handle(member("support", A, AgentStatus.AVAILABLE, paused=True, reason="cc-campaign:1"))
    assert floor.ready(1, "sales") == [A]


def test_an_agent_being_offered_an_inbound_call_is_not_free() -> None:
    """The real-PBX case: the member still reads 'available' in the campaign's queue
    while an inbound queue rings them; the offer and the other queue's status count."""
    floor = shared_floor()
    floor.handle(
        AgentRingStarted(
            at=T0,
            call_id="in-1",
            queue="support",
            agent="Agent 1001",
            interface=A,
            caller_number="13800000000",
            caller_name="",
        )
    )
    assert floor.eligible(1, "sales") == [B]
    floor.handle(
        AgentRingEnded(
            at=T0,
            call_id="in-1",
            queue="support",
            agent="Agent 1001",
            interface=A,
            ring_seconds=3,
            result=OfferResult.ANSWERED,
        )
    )
    floor.handle(member("support", A, AgentStatus.ON_CALL))
    assert floor.eligible(1, "sales") == [B]  # talking in support, idle in sales: busy
    floor.handle(member("support", A, AgentStatus.AVAILABLE))
    assert floor.eligible(1, "sales") == [A, B]


def test_inbound_first_no_reservation_while_a_caller_waits() -> None:
    floor = shared_floor()
    floor.handle(
        CallOffered(
            at=T0, call_id="in-2", queue="support", position=1, caller_number="1", caller_name=""
        )
    )
    assert floor.plan(1, "sales", keep=0, active=True).reserve == []
    floor.handle(
        CallAnswered(
            at=T0,
            call_id="in-2",
            queue="support",
            agent="Agent 1001",
            interface=A,
            wait_seconds=1,
            ring_seconds=1,
        )
    )
    assert [i for i, _ in floor.plan(1, "sales", keep=0, active=True).reserve] == [A, B]


def test_reserved_idle_agents_go_back_to_inbound_only_when_no_call_needs_them() -> None:
    floor = shared_floor()
    confirm(floor, 1)
    assert floor.ready(1, "sales") == [A, B]
    floor.handle(
        CallOffered(
            at=T0, call_id="in-3", queue="support", position=1, caller_number="1", caller_name=""
        )
    )
    # two customers ringing for two agents (progressive): nobody is given back
    assert floor.plan(1, "sales", keep=2, active=True).release == []
    # one call left: one agent goes back to support
    assert len(floor.plan(1, "sales", keep=1, active=True).release) == 1
    # the campaign paused, nothing in flight: both go back
    assert sorted(floor.plan(1, "sales", keep=0, active=False).release) == [A, B]


def test_a_reservation_ends_when_the_campaign_call_reaches_the_agent() -> None:
    floor = shared_floor()
    confirm(floor, 1)
    floor.handle(member("sales", A, AgentStatus.RINGING))
    assert floor.plan(1, "sales", keep=1, active=True).release == [A]
    assert floor.ready(1, "sales") == [B]


def test_another_campaign_does_not_take_a_reserved_agent() -> None:
    floor = shared_floor()
    confirm(floor, 1)
    assert floor.eligible(2, "sales") == []


def test_a_pause_left_by_a_crashed_dialer_is_stale() -> None:
    floor = shared_floor()
    floor.handle(member("support", A, AgentStatus.AVAILABLE, paused=True, reason="cc-campaign:7"))
    floor.handle(member("support", B, AgentStatus.AVAILABLE, paused=True, reason="lunch"))
    assert floor.stale_pauses() == [("support", A)]


def test_the_arithmetic_of_adr_0044() -> None:
    """Four shared agents, answer rate 0.3. Counted free while inbound takes them, the
    progressive dialer places 4 calls and the predictive one 13; every answer finds no
    agent. Reserved, the same calls are placed only for agents inbound cannot take."""
    pacer = PredictivePacer()
    assert calls_to_place(DialMode.PROGRESSIVE, PacingState(4, 0, 0), None) == 4
    assert calls_to_place(DialMode.PREDICTIVE, PacingState(4, 0, 0), pacer) == 13
    # 13 calls in flight need ceil(13 × 0.3 / 1.0) = 4 agents held; 3 calls need 1
    assert agents_needed(DialMode.PREDICTIVE, 13, pacer.ratio, pacer.answer_rate()) == 4
    assert agents_needed(DialMode.PREDICTIVE, 3, pacer.ratio, pacer.answer_rate()) == 1
    assert agents_needed(DialMode.PROGRESSIVE, 3, 1.0, 0.3) == 3
    assert agents_needed(DialMode.PROGRESSIVE, 0, 1.0, 0.3) == 0
