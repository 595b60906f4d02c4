"""Calls across AMI gaps on the real PBX, through the real service (issue 12 #2).

The gaps are made as they happen in production: the service's AMI session is kicked
(`manager kick session`), its logins are refused for a while (its secret changed and
`manager reload`ed), or Asterisk restarts (`core restart now`). Truth comes from the
PBX: the test's own AMI connection (`AmiControl`, another AMI user) and the CDRs
Asterisk writes into the service's schema.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.pbx.harness import AmiControl, Api, PbxStack, wait_for


def _at(value: str | None) -> float:
    assert value, "no time"
    return datetime.fromisoformat(value).timestamp()


async def _sign_in(ami: AmiControl, api: Api, member: str) -> None:
    since = len(ami.events)
    await api.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", since=since, MemberName=member)


async def _answered_by_agent1(
    ami: AmiControl, agent1: Api, *, hold: int
) -> tuple[str, dict[str, str]]:
    """Agent 1001 signs in and answers 张三's call: (call id, the AgentConnect event)."""
    await ami.phone("1001", answer_after=1, talk=0)
    await _sign_in(ami, agent1, "Agent 1001")
    call_id = await ami.call_in("13800138000", "张三", hold=hold)
    return call_id, await ami.wait_event("AgentConnect", Linkedid=call_id, timeout=30)


async def _open_callbacks(manager: Api, call_id: str) -> list[dict[str, Any]]:
    body = await manager.get("/api/callbacks?status=open")
    return [c for c in body["callbacks"] if c.get("call_id") == call_id]


async def _board_row(manager: Api, member: str) -> dict[str, Any]:
    agents = await manager.get("/api/agents")
    return next(a for a in agents["agents"] if a["name"] == member)


async def test_kick_mid_call_keeps_the_answered_call_and_the_board(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    call_id, connect = await _answered_by_agent1(ami, agent1, hold=16)
    await stack.kick_service()
    kicked = time.time()
    back = await stack.wait_service_logged_in()
    assert back - kicked < 3.0

    rows: list[dict[str, Any]] = []

    async def talking() -> bool:
        rows.append(await _board_row(manager, "Agent 1001"))
        return bool(rows[-1]["status"] == "on_call")

    try:
        await wait_for(talking, timeout=5, what="Agent 1001 on a call on the board")
    except AssertionError as exc:
        qs = [m for m in await ami.queue_status() if m.get("Event") == "QueueMember"]
        raise AssertionError(
            f"{exc}; the board says {rows[-1]}; {qs}; {stack.service_log(3000)}"
        ) from None
    hangup = await ami.wait_event("Hangup", Linkedid=call_id, Uniqueid=call_id, timeout=30)
    record = await manager.call(call_id)
    assert record["outcome"] == "answered", (record, stack.service_log())
    assert record["agent"] == "Agent 1001"
    assert abs(_at(record["answered_at"]) - float(connect["_t"])) <= 1.0
    assert abs(_at(record["ended_at"]) - float(hangup["_t"])) <= 1.0
    assert record["callback_due_at"] is None
    assert [o["result"] for o in record["offers"]] == ["answered"]
    assert await _open_callbacks(manager, call_id) == []
    cdrs = await stack.cdrs(call_id)
    assert cdrs, "Asterisk wrote no CDR into the service's schema"
    assert any(c["answer"] for c in cdrs), "the CDR table lacks the exact times (0004)"


async def _service_gone(stack: PbxStack) -> None:
    async def gone() -> bool:
        return not await stack.service_sessions()

    await wait_for(gone, timeout=5, every=0.1, what="the service's AMI session to end")


async def test_calls_begun_and_ended_in_a_gap_are_recovered_at_the_reconnect(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    await ami.phone("1001", answer_after=1, talk=0)
    await _sign_in(ami, agent1, "Agent 1001")
    await stack.refuse_service_logins()
    try:
        await stack.kick_service()
        await _service_gone(stack)
        # A is answered and talks; B waits behind A (Agent 1001 busy) and gives up
        # (each caller spends about 4 s in the IVR before the queue: welcome, then 0)
        answered_id = await ami.call_in("13800138000", "张三", hold=20)
        connect = await ami.wait_event("AgentConnect", Linkedid=answered_id, timeout=30)
        abandoned_id = await ami.call_in("13700137000", "王五")
        joined = await ami.wait_event("QueueCallerJoin", Linkedid=abandoned_id, timeout=30)
        # B gives up 7 s after joining the queue (the PBX's own timer)
        reply = await ami.action("AbsoluteTimeout", Channel=joined["Channel"], Timeout="7")
        assert reply[0].get("Response") == "Success", reply
        gave_up = await ami.wait_event("QueueCallerAbandon", Linkedid=abandoned_id, timeout=30)
        b_end = await ami.wait_event("Hangup", Uniqueid=abandoned_id, timeout=30)
        a_end = await ami.wait_event("Hangup", Uniqueid=answered_id, timeout=30)
        assert not await stack.service_sessions(), "the service logged in during the gap"
    finally:
        await stack.refuse_service_logins(False)
    back = await stack.wait_service_logged_in(timeout=40)

    try:
        record = await manager.call(answered_id, timeout=10)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {stack.service_log(4000)}") from None
    recovered = time.time()
    assert recovered - back < 8, "recovered by the reconcile timer, not at the reconnect"
    a_start = await ami.wait_event("Newchannel", Uniqueid=answered_id)
    assert record["outcome"] == "answered", (record, stack.service_log())
    assert record["agent"] == "Agent 1001"
    assert record["direction"] == "inbound"
    assert record["caller_number"] == "13800138000"
    assert abs(_at(record["started_at"]) - float(a_start["_t"])) <= 1.0
    assert abs(_at(record["answered_at"]) - float(connect["_t"])) <= 1.0
    assert abs(_at(record["ended_at"]) - float(a_end["_t"])) <= 1.0
    assert abs(record["talk_seconds"] - (float(a_end["_t"]) - float(connect["_t"]))) <= 1.0
    assert record["callback_due_at"] is None
    assert [o["agent"] for o in record["offers"]] == ["Agent 1001"]
    assert [o["result"] for o in record["offers"]] == ["answered"]

    try:
        lost = await manager.call(abandoned_id, timeout=10)
    except AssertionError as exc:
        cdrs = await stack.cdrs(abandoned_id)
        raise AssertionError(f"{exc}: {cdrs} {stack.service_log(3000)}") from None
    assert lost["outcome"] == "abandoned", (lost, stack.service_log())
    assert lost["agent"] is None
    waited = float(gave_up["_t"]) - float(joined["_t"])
    assert abs(lost["wait_seconds"] - waited) <= 1.0
    assert abs(_at(lost["ended_at"]) - float(b_end["_t"])) <= 1.0
    assert lost["callback_due_at"] is not None

    async def one_callback() -> list[dict[str, Any]] | None:
        rows = await _open_callbacks(manager, abandoned_id)
        return rows or None

    rows = await wait_for(one_callback, timeout=10, what="the abandoned call's callback")
    assert len(rows) == 1, rows
    assert await _open_callbacks(manager, answered_id) == []


async def test_asterisk_restart_mid_call_ends_the_answered_call_at_the_restart(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    call_id, connect = await _answered_by_agent1(ami, agent1, hold=0)
    restarted = time.time()
    await stack.cli("core restart now")
    await ami.closed()
    await ami.stop()
    await stack.wait_ami_banner()
    ami_back = time.time()
    await ami.start()
    logged_in = await stack.wait_service_logged_in(timeout=20)
    assert logged_in - ami_back < 3.0, "the service logged in late after the restart"

    record = await manager.call(call_id)
    assert record["outcome"] == "answered", (record, stack.service_log())
    assert record["agent"] == "Agent 1001"
    assert abs(_at(record["answered_at"]) - float(connect["_t"])) <= 1.0
    assert abs(_at(record["ended_at"]) - restarted) <= 1.0, (record, restarted)
    assert record["callback_due_at"] is None
    assert await _open_callbacks(manager, call_id) == []

    # Asterisk keeps dynamic members across a restart (persistentmembers = yes)
    async def board_equals_pbx() -> bool:
        status = await ami.queue_status()
        pbx = {
            (m["Name"], m["Queue"]): m["Paused"] == "1"
            for m in status
            if m.get("Event") == "QueueMember"
        }
        agents = (await manager.get("/api/agents"))["agents"]
        signed_in = {
            (a["name"], q): a["paused"]
            for a in agents
            if a["status"] != "logged_out"
            for q in a["queues"]
        }
        board.append((pbx, signed_in))
        return bool(pbx) and pbx == signed_in

    board: list[tuple[object, object]] = []
    try:
        await wait_for(board_equals_pbx, timeout=10, what="the board to equal QueueStatus")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {board[-1]}") from None
