"""The console's hold on the real PBX (issue 12: hold worked only on the simulator)."""

from __future__ import annotations

from tests.pbx.harness import AmiControl, Api, Console

AGENT1 = "Agent 1001"


async def test_hold_plays_music_keeps_both_legs_and_unhold_reconnects(
    ami: AmiControl, agent1: Api, manager: Api
) -> None:
    await ami.phone("1001", answer_after=1, talk=0)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    console = await Console(agent1).connect()
    try:
        call_id = await ami.call_in("13800138000", "张三")
        connect = await ami.wait_event("AgentConnect", Linkedid=call_id)
        customer, agent_leg = connect["Channel"], connect["DestChannel"]
        await console.wait(
            lambda m: m["type"] == "call_update" and m.get("state") == "talking", what="talking"
        )
        since = len(ami.events)
        await agent1.post(f"/api/calls/{call_id}/hold", {"hold": True})
        moh = await ami.wait_event("MusicOnHoldStart", since=since, Channel=customer)
        await console.wait(
            lambda m: m["type"] == "call_update" and m.get("state") == "held", what="held"
        )
        live = {
            m["Channel"]: m
            for m in await ami.action("CoreShowChannels")
            if m.get("Event") == "CoreShowChannel"
        }
        assert live[customer]["Application"] == "MusicOnHold"
        assert live[agent_leg]["Application"] == "Wait", "the agent's leg must stay up"
        assert not [e for e in ami.events[since:] if e.get("Event") == "Hangup"]

        since = len(ami.events)
        await agent1.post(f"/api/calls/{call_id}/hold", {"hold": False})
        stop = await ami.wait_event("MusicOnHoldStop", since=since, Channel=customer)
        one = await ami.wait_event("BridgeEnter", since=since, Channel=customer)
        two = await ami.wait_event("BridgeEnter", since=since, Channel=agent_leg)
        assert one["BridgeUniqueid"] == two["BridgeUniqueid"]
        await console.wait(
            lambda m: (
                m["type"] == "call_update"
                and m.get("state") == "talking"
                and m["_t"] > float(moh["_t"])
            ),
            what="talking again",
        )
        # the queue call is not over: the member is still on it, the caller still up
        status = await ami.queue_status()
        assert not [e for e in ami.events if e.get("Event") == "AgentComplete"]
        assert any(m.get("Event") == "QueueMember" and m["Name"] == AGENT1 for m in status)
        since = len(ami.events)
        await ami.action("Hangup", Channel=customer)
        # (Asterisk sends no AgentComplete for a call bridged again by the Bridge action)
        await ami.wait_event("Hangup", since=since, Channel=agent_leg)
        record = await manager.call(call_id)
    finally:
        await console.close()
    held = float(stop["_t"]) - float(moh["_t"])
    assert (record["outcome"], record["agent"]) == ("answered", AGENT1)
    assert abs(record["hold_seconds"] - held) <= 0.5, (record["hold_seconds"], held)
    assert record["hold_seconds"] > 0
