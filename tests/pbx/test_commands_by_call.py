"""Commands by call id on the real Asterisk (ADR 0072): the adapter finds the channels.

The test runs its own AMI client, tracker and `AmiCommands` against the stack's Asterisk
(next to the service's), and names only the call: the tracker's live state supplies the
customer's channel and the answering agent's leg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from crm_core.clock import SystemClock
from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.domain.models import CallRecord
from telephony.ami.client import AmiClient, Endpoint
from telephony.commands import AmiCommands
from telephony.pbx_reader import pbx_reader
from telephony.tracker import CallTracker
from tests.pbx.harness import (
    RING_LIMIT,
    TEST_AMI_SECRET,
    TEST_AMI_USER,
    AmiControl,
    Api,
    PbxStack,
)

AGENT1, AGENT2 = "Agent 1001", "Agent 1002"


@dataclass
class Own:
    client: AmiClient
    commands: AmiCommands
    events: list[DomainEvent] = field(default_factory=list)

    def record(self, call_id: str) -> CallRecord | None:
        return next(
            (
                e.record
                for e in self.events
                if isinstance(e, CallEnded) and e.record.call_id == call_id
            ),
            None,
        )

    async def until(self, pred: Callable[[], object], timeout: float = 20.0) -> None:
        async def wait() -> None:
            while not pred():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def own(stack: PbxStack) -> AsyncIterator[Own]:
    events: list[DomainEvent] = []

    async def sink(batch: list[DomainEvent]) -> None:
        events.extend(batch)

    tracker = CallTracker(RING_LIMIT)
    tracker.know_agents({"Local/1001@agents/n": AGENT1, "Local/1002@agents/n": AGENT2})
    client = pbx_reader(
        Endpoint("127.0.0.1", stack.ami_port, TEST_AMI_USER, TEST_AMI_SECRET),
        tracker=tracker,
        on_events=sink,
        clock=SystemClock(),
    )
    client.start()
    try:
        await client.wait_connected(15)
        yield Own(client, AmiCommands(client, tracker), events)
    finally:
        await asyncio.wait_for(client.stop(), 15)


async def _talking(ami: AmiControl, agent1: Api, own: Own) -> tuple[str, str, str]:
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1)
    call_id = await ami.call_in("13800138000", "张三")
    connect = await ami.wait_event("AgentConnect", Linkedid=call_id, MemberName=AGENT1)
    customer, agent_leg = connect["Channel"], connect["DestChannel"]
    await own.until(lambda: own.commands.tracker.answered_legs(call_id) is not None)
    legs = own.commands.tracker.answered_legs(call_id)
    assert legs is not None
    assert (legs.customer, legs.agent_leg) == (customer, agent_leg)
    return call_id, customer, agent_leg


async def _live(ami: AmiControl) -> dict[str, dict[str, str]]:
    reply = await ami.action("CoreShowChannels")
    return {m["Channel"]: m for m in reply if m.get("Event") == "CoreShowChannel"}


async def test_hold_unhold_and_hang_up_by_call_id(ami: AmiControl, agent1: Api, own: Own) -> None:
    await ami.phone("1001", answer_after=1, talk=0)
    call_id, customer, agent_leg = await _talking(ami, agent1, own)

    since = len(ami.events)
    await own.commands.hold(call_id, True)
    await ami.wait_event("MusicOnHoldStart", since=since, Channel=customer)
    live = await _live(ami)
    assert live[customer]["Application"] == "MusicOnHold"
    assert live[agent_leg]["Application"] == "Wait", "the agent's leg must stay up"

    since = len(ami.events)
    await own.commands.hold(call_id, False)
    await ami.wait_event("MusicOnHoldStop", since=since, Channel=customer)
    one = await ami.wait_event("BridgeEnter", since=since, Channel=customer)
    two = await ami.wait_event("BridgeEnter", since=since, Channel=agent_leg)
    assert one["BridgeUniqueid"] == two["BridgeUniqueid"]

    since = len(ami.events)
    await own.commands.hangup_call(call_id)
    await ami.wait_event("Hangup", since=since, Channel=customer)
    await own.until(lambda: own.record(call_id) is not None)
    record = own.record(call_id)
    assert record is not None
    assert (record.outcome.value, record.agent) == ("answered", AGENT1)
    assert record.hold_seconds > 0


async def test_blind_transfer_to_a_colleague_by_call_id(
    ami: AmiControl, agent1: Api, own: Own
) -> None:
    await ami.phone("1001", answer_after=1, talk=0)
    await ami.phone("1002", answer_after=1, talk=3)
    call_id, customer, agent_leg = await _talking(ami, agent1, own)

    since = len(ami.events)
    await own.commands.transfer_to_agent(call_id, "Local/1002@agents/n")
    sent = await ami.wait_event("BlindTransfer", since=since)
    assert sent["TransfererChannel"] == agent_leg  # the agent's leg, not the customer's
    bridged = await ami.wait_event(
        "BridgeEnter", since=since, Channel=customer, timeout=RING_LIMIT + 10
    )
    assert customer in await _live(ami), "the customer was hung up by the transfer"
    peers = ami.bridge_peers(since, bridged["BridgeUniqueid"], but=customer)
    assert any("1002@" in e["Channel"] for e in peers), peers
    # the tracker follows the call to the colleague: the next command acts on their leg
    await own.until(
        lambda: (
            (legs := own.commands.tracker.answered_legs(call_id)) is not None
            and legs.agent_interface == "Local/1002@agents/n"
        )
    )
    await ami.wait_event("Hangup", since=since, timeout=20, Channel=customer)
    await own.until(lambda: own.record(call_id) is not None)
    record = own.record(call_id)
    assert record is not None
    assert record.agent == AGENT2
    assert record.transferred_to == "1002"
    answered = [o.agent for o in record.offers if o.result.value == "answered"]
    assert answered == [AGENT1, AGENT2]
