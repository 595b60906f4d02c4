"""Listen, whisper and barge on the real PBX: one spy at a time per lead (issue 12 item 9)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.pbx.harness import LEAD_EXT, AmiControl, Api, PbxStack, wait_for

AGENT1 = "Agent 1001"
LEAD_PHONE = f"Local/{LEAD_EXT}@phone-sim"


async def channels(ami: AmiControl) -> list[dict[str, str]]:
    reply = await ami.action("CoreShowChannels")
    return [m for m in reply if m.get("Event") == "CoreShowChannel"]


def spies(live: list[dict[str, str]]) -> list[str]:
    return [c["Channel"] for c in live if c.get("Application") == "ChanSpy"]


def lead_rings(ami: AmiControl, since: int = 0) -> int:
    """How many times the lead's phone was rung (a new phone-sim channel for 9001)."""
    return sum(
        1
        for e in ami.events[since:]
        if e.get("Event") == "Newchannel"
        and e.get("Context") == "phone-sim"
        and e.get("Exten") == LEAD_EXT
        and e.get("Channel", "").endswith(";2")  # the phone's half of the Local pair
    )


def most_spies_at_once(ami: AmiControl) -> int:
    live: set[str] = set()
    most = 0
    for e in ami.events:
        if e.get("Event") == "ChanSpyStart":
            live.add(e["SpyerChannel"])
        elif e.get("Event") == "ChanSpyStop":
            live.discard(e["SpyerChannel"])
        elif e.get("Event") == "Hangup":
            live.discard(e.get("Channel", ""))
        most = max(most, len(live))
    return most


async def talking(ami: AmiControl, agent1: Api) -> str:
    await ami.phone("1001", answer_after=1, talk=0)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=AGENT1, Queue="sales")
    call_id = await ami.call_in("13800138000", "张三")
    await ami.wait_event("AgentConnect", Linkedid=call_id)
    return call_id


async def caller_up(ami: AmiControl, call_id: str) -> bool:
    return any(
        c.get("Linkedid") == call_id and c.get("Application") == "Queue" and c.get("BridgeId")
        for c in await channels(ami)
    )


async def test_listen_whisper_barge_one_session_at_a_time(
    ami: AmiControl, agent1: Api, manager: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    lead = await Api(stack, http, "lead1").login()
    await ami.phone(LEAD_EXT, answer_after=1, talk=0)
    call_id = await talking(ami, agent1)
    for n, mode in enumerate(("listen", "whisper", "barge", "listen"), 1):
        since = len(ami.events)
        reply = await lead.post(f"/api/agents/{AGENT1}/spy", {"mode": mode})
        assert reply["mode"] == mode
        start = await ami.wait_event("ChanSpyStart", since=since)
        assert start["SpyeeLinkedid"] == call_id
        live = await channels(ami)
        assert spies(live) == [start["SpyerChannel"]], (mode, live)
        assert lead_rings(ami, since) == 1, f"{mode}: the lead's phone rang more than once"
        assert lead_rings(ami) == n
        assert await caller_up(ami, call_id), f"the call was hurt by {mode}"
    assert most_spies_at_once(ami) == 1

    reply = await lead.post(f"/api/agents/{AGENT1}/spy", {"mode": "stop"})
    assert reply["stopped"] is True

    async def no_spy() -> bool:
        live = await channels(ami)
        return not spies(live) and not any(c["Channel"].startswith(LEAD_PHONE) for c in live)

    await wait_for(no_spy, timeout=10, what="the spy session to end")
    assert await caller_up(ami, call_id)
    reply = await lead.post(f"/api/agents/{AGENT1}/spy", {"mode": "stop"})
    assert reply["stopped"] is False
    assert lead_rings(ami) == 4

    await ami.action(
        "Hangup",
        Channel=next(
            c["Channel"]
            for c in await channels(ami)
            if c.get("Linkedid") == call_id and c.get("Application") == "Queue"
        ),
    )
    record = await manager.call(call_id)
    assert (record["outcome"], record["agent"]) == ("answered", AGENT1)


async def test_a_new_mode_while_the_lead_phone_rings_replaces_the_first(
    ami: AmiControl, agent1: Api, stack: PbxStack, http: aiohttp.ClientSession
) -> None:
    """The issue's case: whisper asked for while listen still rings the lead's phone."""
    lead = await Api(stack, http, "lead1").login()
    await ami.phone(LEAD_EXT, answer_after=3, talk=0)
    call_id = await talking(ami, agent1)
    since = len(ami.events)
    listen = asyncio.create_task(
        lead.request("POST", f"/api/agents/{AGENT1}/spy", {"mode": "listen"})
    )
    await ami.wait_event("Newchannel", since=since, Context="phone-sim", Exten=LEAD_EXT)
    whisper = await lead.request("POST", f"/api/agents/{AGENT1}/spy", {"mode": "whisper"})
    first = await listen
    assert first[0] == 409, first
    assert whisper[0] == 200, whisper
    start = await ami.wait_event("ChanSpyStart", since=since)
    live = await channels(ami)
    assert spies(live) == [start["SpyerChannel"]]
    lead_legs = [c["Channel"] for c in live if c["Channel"].startswith(LEAD_PHONE)]
    assert len(lead_legs) == 2, lead_legs  # the ;1 running ChanSpy and its ;2 phone half
    assert most_spies_at_once(ami) == 1
    assert await caller_up(ami, call_id)
    await lead.post(f"/api/agents/{AGENT1}/spy", {"mode": "stop"})
