"""The lead's board on the real PBX: states, waiting callers and the console's agent_state.

Every test here also ends with the `ami` fixture's board == PBX check (tests/pbx/board.py);
the explicit checks name the defect each test is about (issue 12, item 7).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.pbx.board import assert_board_matches_pbx
from tests.pbx.harness import AmiControl, Api, Console, PbxStack

AGENT1 = "Agent 1001"
AGENT2 = "Agent 1002"


async def login(stack: PbxStack, http: aiohttp.ClientSession, username: str) -> Api:
    return await Api(stack, http, username).login()


def on_board(agents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [a for a in agents if a["name"] == name]
    assert len(found) == 1, (name, agents)
    return found[0]


async def members(ami: AmiControl, name: str) -> list[dict[str, str]]:
    return [
        m for m in await ami.queue_status() if m.get("Event") == "QueueMember" and m["Name"] == name
    ]


async def signed_in_and_paused_by_lead(
    ami: AmiControl, agent1: Api, stack: PbxStack, http: aiohttp.ClientSession, reason: str
) -> Api:
    """agent1 signs in and lead1 pauses them with `reason`: the board agrees with the PBX.
    Returns lead1's client."""
    lead = await login(stack, http, "lead1")
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    await lead.post(f"/api/agents/{AGENT1}/pause", {"reason": reason})
    await ami.wait_event("QueueMemberPause", MemberName=AGENT1, Paused="1")
    await assert_board_matches_pbx(ami, lead)
    return lead


async def test_lead_logout_of_a_paused_agent_shows_them_logged_out(
    ami: AmiControl, agent1: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    lead = await signed_in_and_paused_by_lead(ami, agent1, stack, http, "training")

    reply = await lead.post(f"/api/agents/{AGENT1}/logout")
    assert reply["queues"] == ["sales", "support"]
    await ami.wait_event("QueueMemberRemoved", MemberName=AGENT1, Queue="sales")
    await ami.wait_event("QueueMemberRemoved", MemberName=AGENT1, Queue="support")
    assert await members(ami, AGENT1) == []
    await assert_board_matches_pbx(ami, lead)
    agent = on_board((await lead.get("/api/agents"))["agents"], AGENT1)
    assert (agent["status"], agent["paused"]) == ("logged_out", False)
    # the agent's own console says so too
    state = (await agent1.get("/api/me"))["agent_state"]
    assert (state["status"], state["paused"]) == ("logged_out", False)


async def test_lead_pause_and_resume_reach_the_board(
    ami: AmiControl, agent1: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    lead = await signed_in_and_paused_by_lead(ami, agent1, stack, http, "break")
    agent = on_board((await lead.get("/api/agents"))["agents"], AGENT1)
    assert (agent["status"], agent["pause_reason"]) == ("paused", "break")
    since = len(ami.events)
    await lead.post(f"/api/agents/{AGENT1}/resume")
    await ami.wait_event("QueueMemberPause", since=since, MemberName=AGENT1, Paused="0")
    await assert_board_matches_pbx(ami, lead)
    agent = on_board((await lead.get("/api/agents"))["agents"], AGENT1)
    assert (agent["status"], agent["paused"]) == ("available", False)


async def test_each_state_change_is_one_agent_state_message(
    ami: AmiControl, agent1: Api, manager: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    console = await Console(agent1).connect()
    start = console.messages[0]["seq"]
    try:
        steps = [
            ({"action": "sign_in"}, ("QueueMemberAdded", {"Queue": "sales"}), "available"),
            (
                {"action": "pause", "reason": "break"},
                ("QueueMemberPause", {"Paused": "1", "Queue": "sales"}),
                "paused",
            ),
            (
                {"action": "resume"},
                ("QueueMemberPause", {"Paused": "0", "Queue": "sales"}),
                "available",
            ),
            ({"action": "sign_out"}, ("QueueMemberRemoved", {"Queue": "sales"}), "logged_out"),
        ]
        for body, (event, match), _status in steps:
            since = len(ami.events)
            await agent1.post("/api/agent/state", body)
            await ami.wait_event(event, since=since, MemberName=AGENT1, **match)
            await assert_board_matches_pbx(ami, manager)
        # a second console's snapshot carries the stream's seq: every message sent so far
        fence = await Console(agent1).connect()
        last = fence.messages[0]["seq"]
        await fence.close()
        await console.wait(lambda m: m.get("seq") == last, what=f"message {last}")
    finally:
        await console.close()
    states = [
        m["status"]
        for m in console.messages
        if m["type"] == "agent_state" and start < m["seq"] <= last
    ]
    sent = [
        {k: v for k, v in m.items() if k != "_t"}
        for m in console.messages
        if m["type"] == "agent_state" and start < m["seq"] <= last
    ]
    assert states == [status for *_, status in steps], "\n".join(map(str, sent))


async def test_an_agent_on_a_call_is_on_call_in_their_own_console(
    ami: AmiControl, agent1: Api, manager: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    """Asterisk sends no QueueMemberStatus when a Local member answers (the last one said
    "in use, not in a call": ringing); the console's header said 振铃中 all call long."""
    await ami.phone("1001", answer_after=1, talk=0)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    console = await Console(agent1).connect()
    try:
        call_id = await ami.call_in("13800138000", "张三")
        await ami.wait_event("AgentConnect", Linkedid=call_id, MemberName=AGENT1)
        await console.wait(
            lambda m: m["type"] == "call_update" and m.get("state") == "talking", what="talking"
        )
        await console.wait(
            lambda m: m["type"] == "agent_state" and m.get("status") == "on_call", what="on_call"
        )
        assert (await agent1.get("/api/me"))["agent_state"]["status"] == "on_call"
        await assert_board_matches_pbx(ami, manager)
        since = len(ami.events)
        await ami.action("Hangup", Channel=await caller_channel(ami, call_id))
        await ami.wait_event("Hangup", since=since, Linkedid=call_id)
        await console.wait(
            lambda m: m["type"] == "agent_state" and m.get("status") == "available",
            what="available after the call",
        )
    finally:
        await console.close()


async def test_lead_is_not_an_agent_on_the_board(
    ami: AmiControl, agent1: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    lead = await login(stack, http, "lead1")
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    for viewer in (lead, await login(stack, http, "manager1")):
        names = {a["name"] for a in (await viewer.get("/api/agents"))["agents"]}
        assert names <= {"Agent 1001", "Agent 1002", "Agent 1003"}, names
        assert AGENT1 in names


async def test_a_call_transferred_into_a_queue_leaves_no_ghost_caller(
    ami: AmiControl, agent1: Api, manager: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    """Answered, then sent into another queue where it waits and gives up: the board's
    waiting count follows the PBX's queue entries, not the call's first queue."""
    await ami.phone("1001", answer_after=1, talk=0)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    console = await Console(agent1).connect()
    try:
        call_id = await ami.call_in("13800138000", "张三")
        await ami.wait_event("AgentConnect", Linkedid=call_id)
        await console.wait(
            lambda m: m["type"] == "call_update" and m.get("state") == "talking", what="talking"
        )
        # agent1 pauses (nobody free in sales), then sends the caller to sales
        await agent1.post("/api/agent/state", {"action": "pause", "reason": "break"})
        since = len(ami.events)
        caller = await caller_channel(ami, call_id)
        await ami.action(
            "Redirect", Channel=caller, Context="transfer", Exten="sales", Priority="1"
        )
        await ami.wait_event("QueueCallerJoin", since=since, Queue="sales", Linkedid=call_id)
        await assert_board_matches_pbx(ami, manager)
        sales = [q for q in (await manager.get("/api/queues"))["queues"] if q["name"] == "sales"]
        assert sales[0]["waiting"] == 1
        # the caller gives up in sales
        await ami.action("Hangup", Channel=caller)
        await ami.wait_event("QueueCallerAbandon", since=since, Queue="sales")
        await assert_board_matches_pbx(ami, manager)
    finally:
        await console.close()


async def test_a_call_transferred_into_a_queue_and_answered_there_is_not_waiting(
    ami: AmiControl, agent1: Api, manager: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    agent2 = await login(stack, http, "agent2")
    await ami.phone("1001", answer_after=1, talk=0)
    await ami.phone("1002", answer_after=1, talk=0)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    call_id = await ami.call_in("13800138000", "张三")
    await ami.wait_event("AgentConnect", Linkedid=call_id, MemberName=AGENT1)
    await agent1.post("/api/agent/state", {"action": "pause", "reason": "break"})
    await agent2.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT2, Queue="sales")
    since = len(ami.events)
    caller = await caller_channel(ami, call_id)
    await ami.action("Redirect", Channel=caller, Context="transfer", Exten="sales", Priority="1")
    await ami.wait_event("QueueCallerJoin", since=since, Queue="sales", Linkedid=call_id)
    await ami.wait_event("AgentConnect", since=since, Queue="sales", MemberName=AGENT2)
    await assert_board_matches_pbx(ami, manager)
    sales = [q for q in (await manager.get("/api/queues"))["queues"] if q["name"] == "sales"]
    assert sales[0]["waiting"] == 0


async def caller_channel(ami: AmiControl, call_id: str) -> str:
    """The customer's own channel of a call (the caller-sim Local channel's ;2 half)."""
    for msg in await ami.action("CoreShowChannels"):
        if (
            msg.get("Event") == "CoreShowChannel"
            and msg.get("Linkedid") == call_id
            and msg.get("Application") == "Queue"
        ):
            return msg["Channel"]
    raise AssertionError(f"no channel of call {call_id} is in Queue()")
