"""An inbound call on the real PBX: pop before answer, the record as it happened."""

from __future__ import annotations

from datetime import datetime

from tests.pbx.harness import AmiControl, Api, Console


async def test_inbound_call_pops_before_answer_and_is_recorded(
    ami: AmiControl, agent1: Api, manager: Api
) -> None:
    await ami.phone("1001", answer_after=2, talk=3)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName="Agent 1001")
    console = await Console(agent1).connect()
    try:
        call_id = await ami.call_in("13800138000", "张三", menu="1", survey=None)
        pop = await console.wait(
            lambda m: m["type"] == "screen_pop" and m["call_id"] == call_id, what="screen pop"
        )
        connect = await ami.wait_event("AgentConnect", Linkedid=call_id)
        assert pop["_t"] < float(connect["_t"]), "the pop came after the agent answered"
        assert pop["caller_number"] == "13800138000"
        card = await console.wait(
            lambda m: m["type"] == "screen_pop_customer" and m["call_id"] == call_id,
            what="customer card",
        )
        assert card["known"]
        assert card["customer"]["name"] == "张三"

        # the IVR ran over FastAGI with the dialplan's secret and identified the caller
        found = await ami.wait_event("VarSet", Linkedid=call_id, Variable="CC_CUSTOMER_ID")
        assert found["Value"] == str(card["customer"]["id"])
        # the agent hangs up after 3 s; the caller leaves when the survey asks
        survey = await ami.wait_agi(call_id, "GET DATA cc/rate-1-to-5", timeout=30)
        await ami.action("Hangup", Channel=survey["Channel"])
        record = await manager.call(call_id)
    finally:
        await console.close()
    assert record["direction"] == "inbound"
    assert record["caller_number"] == "13800138000"
    assert record["caller_name"] == "张三"
    assert record["agent"] == "Agent 1001"
    assert record["outcome"] == "answered"
    assert record["rule_violations"] == []
    assert record["callback_due_at"] is None
    assert abs(record["talk_seconds"] - 3.0) <= 1.0
    answered = datetime.fromisoformat(record["answered_at"])
    assert abs(answered.timestamp() - float(connect["_t"])) <= 1.0
    offers = record["offers"]
    assert [o["result"] for o in offers] == ["answered"]
    assert 1.0 <= offers[0]["ring_seconds"] <= 3.5
