"""The two hard rules on the real PBX: three rings (violation + auto-pause) and the
30-minute callback owed to a caller who gave up."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from tests.pbx.harness import RING_LIMIT, AmiControl, Api, PbxStack, wait_for


async def _paused_on_pbx(ami: AmiControl, member: str) -> bool:
    status = await ami.queue_status()
    entries = [m for m in status if m.get("Event") == "QueueMember" and m["Name"] == member]
    return bool(entries) and all(m.get("Paused") == "1" for m in entries)


async def _gives_up_after(ami: AmiControl, number: str, name: str, seconds: float) -> str:
    """A caller who hangs up `seconds` after joining the queue (the PBX's own timer)."""
    since = len(ami.events)
    call_id = await ami.call_in(number, name)
    join = await ami.wait_event("QueueCallerJoin", since=since, Linkedid=call_id, timeout=60)
    reply = await ami.action("AbsoluteTimeout", Channel=join["Channel"], Timeout=f"{seconds:g}")
    assert reply[0].get("Response") == "Success", reply
    return call_id


async def test_ring_limit_pauses_the_agent_records_the_violation_and_the_next_agent_answers(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api, http: aiohttp.ClientSession
) -> None:
    agent2 = await Api(stack, http, "agent2").login()
    await ami.phone("1001", answer_after="never")
    await ami.phone("1002", answer_after=1, talk=2)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName="Agent 1001")

    call_id = await ami.call_in("13900139001", "李四")
    missed = await ami.wait_event("AgentRingNoAnswer", Linkedid=call_id, timeout=RING_LIMIT + 10)
    assert missed["MemberName"] == "Agent 1001"
    # the rule pauses agent 1 on the PBX: the next ring goes elsewhere
    await wait_for(lambda: _paused_on_pbx(ami, "Agent 1001"), timeout=10, what="Agent 1001 paused")
    await agent2.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("AgentConnect", Linkedid=call_id, MemberName="Agent 1002", timeout=30)

    record = await manager.call(call_id)
    assert record["outcome"] == "answered"
    assert record["agent"] == "Agent 1002"
    assert "ring_limit" in record["rule_violations"]
    assert record["callback_due_at"] is None
    first, *_, last = record["offers"]
    assert first["agent"] == "Agent 1001"
    assert first["result"] == "no_answer"
    assert abs(first["ring_seconds"] - RING_LIMIT) <= 1.0
    assert last["agent"] == "Agent 1002"
    assert last["result"] == "answered"
    # the 1001 offers are rung out, none answered: whatever Asterisk retried
    assert all(o["result"] == "no_answer" for o in record["offers"] if o["agent"] == "Agent 1001")

    violations = await manager.get("/api/violations")
    mine = [v for v in violations["violations"] if v["call_id"] == call_id]
    assert [v["agent"] for v in mine] == ["Agent 1001"]
    assert mine[0]["kind"] == "missed_call"
    agents = await manager.get("/api/agents")
    row = next(a for a in agents["agents"] if a["name"] == "Agent 1001")
    assert row["paused"] is True
    assert row["missed_today"] == 1


async def test_a_caller_who_gives_up_is_owed_a_callback_within_30_minutes(
    ami: AmiControl, manager: Api
) -> None:
    # nobody signed in: the caller waits in the queue, then hangs up after 8 s
    call_id = await _gives_up_after(ami, "13700137000", "王五", 8)
    await ami.wait_event("QueueCallerAbandon", Linkedid=call_id, timeout=40)
    record = await manager.call(call_id)
    assert record["outcome"] == "abandoned"
    assert record["agent"] is None
    assert record["callback_due_at"] is not None
    ended = datetime.fromisoformat(record["ended_at"])
    due = datetime.fromisoformat(record["callback_due_at"])
    assert abs((due - ended) - timedelta(minutes=30)) <= timedelta(seconds=2)

    async def callback_row() -> dict[str, object] | None:
        body = await manager.get("/api/callbacks?status=open")
        rows = [c for c in body["callbacks"] if c.get("call_id") == call_id]
        return rows[0] if len(rows) == 1 else None

    row = await wait_for(callback_row, timeout=10, what="exactly one open callback")
    assert row["phone"].endswith("13700137000")


async def test_a_caller_who_hangs_up_within_seconds_is_not_owed_a_callback(
    ami: AmiControl, manager: Api
) -> None:
    call_id = await _gives_up_after(ami, "13600136000", "赵六", 1)
    await ami.wait_event("QueueCallerAbandon", Linkedid=call_id, timeout=30)
    record = await manager.call(call_id)
    assert record["callback_due_at"] is None
    body = await manager.get("/api/callbacks?status=open")
    assert not [c for c in body["callbacks"] if c.get("call_id") == call_id]
