"""Blind transfer on the real PBX: the customer stays up and reaches the target.

AMI `BlindTransfer` names the *transferer* in `Channel`: the service passes the agent's
leg, so Asterisk releases the agent and sends the customer (the bridge peer) on to the
`[transfer]` context (ADR 0046).
"""

from __future__ import annotations

from typing import Any

from tests.pbx.harness import AmiControl, Api, Console, PbxStack, wait_for


async def _answered_by_agent1(ami: AmiControl, agent1: Api, console: Console) -> str:
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName="Agent 1001")
    call_id = await ami.call_in("13800138000", "张三")
    await ami.wait_event("AgentConnect", Linkedid=call_id, MemberName="Agent 1001")
    await console.wait(
        lambda m: (
            m["type"] == "call_update" and m["call_id"] == call_id and m.get("state") == "talking"
        ),
        what="agent 1 talking",
    )
    return call_id


def _customer_channel(ami: AmiControl, call_id: str) -> str:
    """The customer's channel: the one that joined the queue first."""
    join = next(
        e for e in ami.events if e.get("Event") == "QueueCallerJoin" and e["Linkedid"] == call_id
    )
    return join["Channel"]


async def _alive(ami: AmiControl, channel: str) -> bool:
    reply = await ami.action("CoreShowChannels")
    return any(m.get("Channel") == channel for m in reply if m.get("Event") == "CoreShowChannel")


async def _transfer_and_talk(
    stack: PbxStack,
    ami: AmiControl,
    agent1: Api,
    agent2: Api,
    manager: Api,
    body: dict[str, str],
) -> tuple[str, dict[str, Any], Console]:
    await ami.phone("1001", answer_after=1, talk=0)
    await ami.phone("1002", answer_after=1, talk=3)
    console1 = await Console(agent1).connect()
    console2 = await Console(agent2).connect()
    try:
        call_id = await _answered_by_agent1(ami, agent1, console1)
        customer = _customer_channel(ami, call_id)
        since = len(ami.events)
        await agent1.post(f"/api/calls/{call_id}/transfer", body)
        # agent 2's console pops the customer and the phone really connects to them
        pop = await console2.wait(
            lambda m: m["type"] == "screen_pop" and m["call_id"] == call_id,
            what="agent 2's screen pop",
        )
        assert pop["caller_number"] == "13800138000"
        await console2.wait(
            lambda m: (
                m["type"] == "call_update"
                and m["call_id"] == call_id
                and m.get("state") == "talking"
            ),
            what="agent 2 talking",
        )
        bridged = await ami.wait_event("BridgeEnter", since=since, Channel=customer)
        assert await _alive(ami, customer), "the customer was hung up by the transfer"
        # the customer's bridge holds agent 2's leg now
        peers = ami.bridge_peers(since, bridged["BridgeUniqueid"], but=customer)
        assert any("1002@" in e["Channel"] for e in peers), peers
        # agent 1's leg is released
        assert not any(
            "Local/1001@agents" in m.get("Channel", "")
            for m in await ami.action("CoreShowChannels")
            if m.get("Event") == "CoreShowChannel"
        )
        hangup = await ami.wait_event("Hangup", since=since, timeout=20, Channel=customer)
        assert hangup  # agent 2 hung up after talking; the survey follows, then the end
        record = await manager.call(call_id)
        # the board shows nobody waiting once the call is over
        await _no_one_waiting(manager)
        return call_id, record, console1
    finally:
        await console2.close()
        await console1.close()


async def _no_one_waiting(manager: Api) -> None:
    async def clear() -> bool:
        queues = (await manager.get("/api/queues"))["queues"]
        return all(q.get("waiting", 0) == 0 for q in queues)

    await wait_for(clear, timeout=5, what="no caller waiting on /api/queues")


def _check_record(record: dict[str, Any], target: str) -> None:
    assert record["direction"] == "inbound"
    assert record["outcome"] == "answered"
    assert record["caller_number"] == "13800138000"
    answered = [o["agent"] for o in record["offers"] if o["result"] == "answered"]
    assert answered == ["Agent 1001", "Agent 1002"], record["offers"]
    assert record["agent"] == "Agent 1002", record
    assert record["transferred_to"] == target
    assert record["talk_seconds"] >= 3.0


async def test_blind_transfer_to_a_queue_keeps_the_customer(
    stack: PbxStack, ami: AmiControl, agent1: Api, agent2: Api, manager: Api
) -> None:
    await agent2.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName="Agent 1002", Queue="sales")
    # agent 2 only takes sales: out of support, so the transfer is what reaches them
    await ami.action("QueueRemove", Queue="support", Interface="Local/1002@agents/n")
    _call_id, record, _console = await _transfer_and_talk(
        stack, ami, agent1, agent2, manager, {"target": "sales", "kind": "queue"}
    )
    _check_record(record, "sales")
    assert record["queue"] == "support"


async def test_blind_transfer_to_a_colleague_keeps_the_customer(
    stack: PbxStack, ami: AmiControl, agent1: Api, agent2: Api, manager: Api
) -> None:
    _call_id, record, _console = await _transfer_and_talk(
        stack, ami, agent1, agent2, manager, {"target": "agent2", "kind": "agent"}
    )
    _check_record(record, "1002")
