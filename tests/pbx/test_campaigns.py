"""The campaign dialer on the real PBX (issue 12 #10, ADR 0044, 0045, 0056).

The service's dialer originates the customer leg through `[outbound]` (customers are
`customer-sim`, their behaviour set per number by globals), an answered customer runs
`[campaign-dial]`: the campaign's queue with a 2 s grace, else the apology. Campaigns
queue on `sales`; the agents also serve `support`, where inbound callers land, so every
agent here is shared and has to be reserved (paused in `support`) before the dialer
dials for them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.pbx.harness import AmiControl, Api, Console, PbxStack, wait_for

QUEUE = "sales"  # the campaign's queue; inbound callers go to `support`


def _zone_at_midday(now: datetime) -> str:
    """A fixed-offset zone where `now` is around midday, so calling hours 06:00-18:00
    cover the whole test whenever it runs."""
    offset = max(-12, min(14, 12 - now.astimezone(UTC).hour))
    if offset == 0:
        return "Etc/GMT"
    # POSIX sign: Etc/GMT-8 is UTC+8
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _national(e164: str) -> str:
    return e164.removeprefix("+86")


async def customer(
    ami: AmiControl, e164: str, *, mode: str, delay: float = 1, talk: float = 0
) -> None:
    """How the customer on `e164` behaves, whatever form of the number reaches them."""
    for digits in {e164.lstrip("+"), _national(e164)}:
        await ami.set_global(f"CUST_{digits}_MODE", mode)
        await ami.set_global(f"CUST_{digits}_DELAY", f"{delay:g}")
        await ami.set_global(f"CUST_{digits}_TALK", f"{talk:g}")


class Campaigns:
    """Creates campaigns through the API and stops every one it made at the end."""

    def __init__(self, operator: Api) -> None:
        self.operator = operator
        self.made: list[int] = []

    async def create(
        self,
        mode: str,
        contacts: list[tuple[str, str]],
        *,
        script: str = "您好，这里是星河贸易的回访",
        max_attempts: int = 3,
    ) -> tuple[int, dict[str, Any]]:
        body = await self.operator.post(
            "/api/campaigns",
            {"name": f"pbx {mode} {len(self.made) + 1}", "mode": mode, "kind": "sales"},
            expect=201,
        )
        cid = int(body["id"])
        self.made.append(cid)
        status, changed = await self.operator.request(
            "PATCH",
            f"/api/campaigns/{cid}",
            {
                "queue": QUEUE,
                "script": script,
                "calling_hours_start": "06:00",
                "calling_hours_end": "18:00",
                "timezone": _zone_at_midday(datetime.now(UTC)),
                "max_attempts": max_attempts,
                "retry_busy_minutes": 60,
                "retry_no_answer_minutes": 60,
                "retry_failed_minutes": 60,
            },
        )
        assert status == 200, changed
        lines = io.StringIO()
        writer = csv.writer(lines)
        writer.writerow(["姓名", "电话"])
        writer.writerows(contacts)
        status, report = await self.operator.request_raw(
            "POST", f"/api/campaigns/{cid}/contacts", lines.getvalue().encode()
        )
        assert status == 200, report
        return cid, report

    async def start(self, cid: int) -> None:
        started = await self.operator.post(f"/api/campaigns/{cid}/start")
        assert started["status"] == "running"
        assert started.get("wait") is None, started  # inside its calling hours

    async def stop_all(self) -> None:
        for cid in self.made:
            await self.operator.request("POST", f"/api/campaigns/{cid}/pause")

    async def results(self, cid: int) -> dict[str, Any]:
        return dict(await self.operator.get(f"/api/campaigns/{cid}/results"))

    async def dialer_turns(self, cid: int, turns: int) -> None:
        """Wait until the dialer has paced the campaign `turns` more times with idle
        agents: each turn samples the floor, so the live occupancy falls every time."""
        for _ in range(turns):
            before = (await self.results(cid))["occupancy"]

            async def fell(before: float | None = before) -> bool:
                now = (await self.results(cid))["occupancy"]
                return now is not None and (before is None or now < before)

            await wait_for(fell, timeout=10, every=0.1, what="a dialer turn")

    async def contacts(self, cid: int) -> list[dict[str, str]]:
        status, text = await self.operator.request(
            "GET", f"/api/campaigns/{cid}/results?format=csv"
        )
        assert status == 200, text
        return list(csv.DictReader(io.StringIO(str(text).lstrip("\ufeff"))))


@pytest.fixture
async def campaigns(manager: Api) -> AsyncIterator[Campaigns]:
    made = Campaigns(manager)
    try:
        yield made
    finally:
        await made.stop_all()


async def sign_in(ami: AmiControl, api: Api, member: str) -> None:
    since = len(ami.events)
    await api.post("/api/agent/state", {"action": "sign_in"})
    for queue in ("sales", "support"):
        await ami.wait_event("QueueMemberAdded", since=since, MemberName=member, Queue=queue)


def national(digits: str) -> str:
    """A number as dialled (E.164 digits or the carrier's national form) → national."""
    digits = digits.lstrip("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def customer_legs(ami: AmiControl, since: int = 0) -> list[str]:
    """The numbers (national) the customer simulator was rung on, one per call."""
    return [
        national(e["Exten"])
        for e in ami.events[since:]
        if e.get("Event") == "Newchannel"
        and e.get("Context") == "customer-sim"
        and e.get("Channel", "").endswith(";2")  # the half that runs customer-sim
    ]


async def campaign_record(manager: Api, call_id: str) -> dict[str, Any]:
    return await manager.call(call_id, timeout=30)


async def open_callbacks_for(manager: Api, call_id: str) -> list[dict[str, Any]]:
    body = await manager.get("/api/callbacks?status=open")
    return [c for c in body["callbacks"] if c.get("call_id") == call_id]


# --- answered → an agent with the campaign card ----------------------------------------------


async def test_progressive_answered_customer_reaches_the_agent_with_the_campaign_card(
    ami: AmiControl, agent1: Api, manager: Api, campaigns: Campaigns
) -> None:
    e164 = "+8613900139001"
    await customer(ami, e164, mode="answer", delay=1, talk=0)
    await ami.phone("1001", answer_after=1, talk=4)
    cid, report = await campaigns.create("progressive", [("钱七", _national(e164))])
    assert report["accepted"] == 1, report
    await sign_in(ami, agent1, "Agent 1001")
    console = await Console(agent1).connect()
    try:
        await campaigns.start(cid)
        pop = await console.wait(
            lambda m: m["type"] == "screen_pop" and m.get("campaign_id") == cid,
            what="the campaign call's pop",
            timeout=40,
        )
        call_id = pop["call_id"]
        card = await console.wait(
            lambda m: m["type"] == "screen_pop_customer" and m["call_id"] == call_id,
            what="the campaign card",
        )
        connect = await ami.wait_event("AgentConnect", Linkedid=call_id, timeout=20)
        # Asterisk reports the agent's device in every queue they are in, not only the
        # campaign's (the simulator does the same since)
        support = [
            e["Status"]
            for e in ami.events
            if e.get("Event") == "QueueMemberStatus"
            and e.get("MemberName") == "Agent 1001"
            and e.get("Queue") == "support"
        ]
        assert {"2", "6"} & set(support), support  # in use / ringing
        record = await campaign_record(manager, call_id)
    finally:
        await console.close()
    assert pop["caller_number"].endswith(_national(e164)), pop
    assert card["campaign"]["id"] == cid
    assert card["campaign"]["script"] == "您好，这里是星河贸易的回访"
    assert card["campaign"]["contact"]["name"] == "钱七"
    assert connect["MemberName"] == "Agent 1001"

    assert record["direction"] == "outbound", record
    assert record["campaign_id"] == cid
    assert record["agent"] == "Agent 1001"
    assert record["outcome"] == "answered"
    assert _national(e164) in (record["dialed_number"] or ""), record
    assert abs(record["talk_seconds"] - 4.0) <= 1.0, record
    assert record["callback_due_at"] is None

    async def booked() -> dict[str, Any] | None:
        res = await campaigns.results(cid)
        return res if res["reached"] == 1 else None

    results = await wait_for(booked, timeout=10, what="the contact booked as reached")
    assert results["abandoned"] == 0
    assert results["attempts_left"] == 0  # reached: closed
    assert customer_legs(ami) == [national(e164)]  # one call, one customer leg


async def test_an_agent_slower_than_the_grace_still_gets_the_customer(
    ami: AmiControl, agent1: Api, manager: Api, campaigns: Campaigns
) -> None:
    """The 2 s grace bounds the customer's wait for a *free* agent, not the ringing of
    the agent it found: a phone answering after 3 s still takes the call."""
    e164 = "+8613900139002"
    await customer(ami, e164, mode="answer", delay=1, talk=0)
    await ami.phone("1001", answer_after=3, talk=2)
    cid, _ = await campaigns.create("progressive", [("孙八", _national(e164))])
    await sign_in(ami, agent1, "Agent 1001")
    await campaigns.start(cid)
    join = await ami.wait_event("QueueCallerJoin", Queue=QUEUE, timeout=40)
    call_id = join["Linkedid"]
    connect = await ami.wait_event("AgentConnect", Linkedid=call_id, timeout=20)
    assert connect["MemberName"] == "Agent 1001"
    record = await campaign_record(manager, call_id)
    assert record["outcome"] == "answered", record
    assert record["agent"] == "Agent 1001"
    assert abs(record["talk_seconds"] - 2.0) <= 1.0, record
    assert [o["result"] for o in record["offers"]] == ["answered"]
    assert 2.5 <= record["offers"][0]["ring_seconds"] <= 4.5, record["offers"]
    assert not [
        e
        for e in ami.events
        if e.get("Event") == "VarSet" and e.get("Variable") == "CC_DIALER_ABANDON"
    ]


# --- no free agent → apology, abandon, callback ----------------------------------------------


async def test_predictive_over_dial_connects_one_customer_and_apologises_to_the_rest(
    ami: AmiControl, agent1: Api, manager: Api, campaigns: Campaigns
) -> None:
    """One agent, predictive at the prior answer rate (0.3): three customers are rung
    for them; all three answer, the first reaches the agent, the others hear the
    apology, are recorded as dialer abandons and are owed one callback each."""
    numbers = ["+8613900139011", "+8613900139012", "+8613900139013"]
    for n, e164 in enumerate(numbers):
        await customer(ami, e164, mode="answer", delay=1 + 3 * n, talk=0)
    await ami.phone("1001", answer_after=0, talk=15)
    cid, _ = await campaigns.create(
        "predictive", [(f"客户{n}", _national(e)) for n, e in enumerate(numbers)]
    )
    await sign_in(ami, agent1, "Agent 1001")
    await campaigns.start(cid)

    joins = [await ami.wait_event("QueueCallerJoin", Queue=QUEUE, timeout=40)]
    for _ in range(2):
        joins.append(
            await ami.wait_event(
                "QueueCallerJoin", Queue=QUEUE, timeout=30, since=ami.events.index(joins[-1]) + 1
            )
        )
    first, *rest = [j["Linkedid"] for j in joins]
    await ami.wait_event("AgentConnect", Linkedid=first, timeout=10)
    records = {c: await campaign_record(manager, c) for c in rest}
    for call_id, record in records.items():
        assert record["direction"] == "outbound", record
        assert record["campaign_id"] == cid
        assert record["outcome"] == "abandoned", record
        assert record["agent"] is None
        assert record["talk_seconds"] == 0
        await ami.wait_event(
            "Newexten", Linkedid=call_id, Application="Playback", AppData="cc/dialer-sorry"
        )
        assert any(
            e.get("Variable") == "CC_DIALER_ABANDON" and e.get("Linkedid") == call_id
            for e in ami.events
            if e.get("Event") == "VarSet"
        )

        async def one_callback(call_id: str = call_id) -> list[dict[str, Any]] | None:
            rows = await open_callbacks_for(manager, call_id)
            return rows if len(rows) == 1 else None

        rows = await wait_for(one_callback, timeout=10, what=f"one open callback for {call_id}")
        assert rows[0]["phone"].endswith(_national(records[call_id]["caller_number"]))

    async def booked() -> dict[str, Any] | None:
        res = await campaigns.results(cid)
        return res if res["reached"] + res["abandoned"] == 3 else None

    results = await wait_for(booked, timeout=20, what="three answered contacts booked")
    assert (results["reached"], results["abandoned"]) == (1, 2), results
    assert results["attempts_left"] == 0  # reached or owed a callback: closed (ADR 0045)
    rows = await campaigns.contacts(cid)
    assert all(r["attempts_left"] == "0" for r in rows), rows
    # the customer who reached the agent: one record, answered by them
    record = await campaign_record(manager, first)
    assert (record["outcome"], record["agent"]) == ("answered", "Agent 1001"), record
    await ami.hangup_all()


# --- busy / no answer -------------------------------------------------------------------------


async def test_busy_and_unanswered_customers_are_recorded_and_keep_their_attempts(
    ami: AmiControl, agent1: Api, manager: Api, campaigns: Campaigns
) -> None:
    busy, silent = "+8613900139021", "+8613900139022"
    await customer(ami, busy, mode="busy")
    await customer(ami, silent, mode="noanswer")
    cid, _ = await campaigns.create(
        "progressive", [("忙音", _national(busy)), ("无人接", _national(silent))], max_attempts=3
    )
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await campaigns.start(cid)

    async def both_tried() -> dict[str, Any] | None:
        res = await campaigns.results(cid)
        return res if res["dialled"] == 2 and res["waiting"] == 2 and res["attempts"] == 2 else None

    # the no-answer attempt rings the 15 s the dialer allows
    results = await wait_for(both_tried, timeout=40, what="both contacts tried once")
    assert (results["reached"], results["abandoned"]) == (0, 0)
    assert results["results"] == {"busy": 1, "no_answer": 1}, results
    assert results["attempts_left"] == 4  # 2 + 2 of max 3 each
    rows = {r["phone"] if "phone" in r else r["电话"]: r for r in await campaigns.contacts(cid)}
    assert {k: v["attempts_left"] for k, v in rows.items()} == {busy: "2", silent: "2"}, rows
    # retried an hour later, not now: each number was rung once
    assert sorted(customer_legs(ami)) == sorted(national(n) for n in (busy, silent))

    # the contact's result comes from the Originate's answer; the call record lands when
    # the last channel of the call is gone, a moment later: wait for both records
    async def both_recorded() -> list[dict[str, Any]] | None:
        calls = await manager.get("/api/calls?limit=20")
        found = [c for c in calls["calls"] if c.get("campaign_id") == cid]
        return found if len(found) == 2 else None

    mine = await wait_for(both_recorded, timeout=20, what="both calls recorded")
    outcomes = {national(c["dialed_number"] or ""): c["outcome"] for c in mine}
    assert outcomes == {national(busy): "busy", national(silent): "no_answer"}, mine
    assert all(c["direction"] == "outbound" and c["callback_due_at"] is None for c in mine)


# --- shared agents with an inbound backlog (issue 12 #10, ADR 0044) --------------------------


async def test_shared_agents_with_an_inbound_backlog_drop_no_answered_customer(
    stack: PbxStack,
    ami: AmiControl,
    agent1: Api,
    manager: Api,
    campaigns: Campaigns,
    http: aiohttp.ClientSession,
) -> None:
    """Two agents in `support` (inbound) and `sales` (the campaign); four inbound
    callers wait while four customers are on the list. Before ADR 0044 every answered
    customer met agents taken by inbound and was dropped after the grace (4 of 4)."""
    agent2 = await Api(stack, http, "agent2").login()
    for ext in ("1001", "1002"):
        await ami.phone(ext, answer_after=0, talk=3)
    numbers = [f"+86139001390{n}" for n in range(31, 35)]
    for e164 in numbers:
        await customer(ami, e164, mode="answer", delay=1, talk=0)
    await sign_in(ami, agent1, "Agent 1001")
    await sign_in(ami, agent2, "Agent 1002")
    inbound = [await ami.call_in(f"1370013700{n}", f"来电{n}") for n in range(4)]
    cid, _ = await campaigns.create(
        "progressive", [(f"外呼{n}", _national(e)) for n, e in enumerate(numbers)]
    )
    await campaigns.start(cid)

    async def done() -> dict[str, Any] | None:
        res = await campaigns.results(cid)
        return res if res["reached"] + res["abandoned"] == 4 else None

    results = await wait_for(done, timeout=90, what="four campaign customers answered")
    # the agents were reserved (paused in support for the campaign) before dialling
    reason = f"cc-campaign:{cid}"
    paused = [
        e
        for e in ami.events
        if e.get("Event") == "QueueMemberPause"
        and e.get("Queue") == "support"
        and e.get("PausedReason") == reason
    ]
    assert {e["MemberName"] for e in paused} == {"Agent 1001", "Agent 1002"}, paused
    for call_id in inbound:
        record = await manager.call(call_id, timeout=30)
        assert record["outcome"] == "answered", record
        assert record["agent"] in ("Agent 1001", "Agent 1002")
    assert results["abandoned"] == 0, (results, stack.service_log())
    assert results["reached"] == 4
    # the list is done: the campaign runs on, but holds nobody back from inbound

    async def quiet_pbx() -> bool:
        channels = await ami.action("CoreShowChannels")
        return not [m for m in channels if m.get("Event") == "CoreShowChannel"]

    await wait_for(quiet_pbx, timeout=30, what="every call ended")
    # two dialer turns with both agents idle: before, the first one reserved them again
    await campaigns.dialer_turns(cid, 2)

    async def back_in_support() -> bool:
        status = await ami.queue_status()
        members = [
            m for m in status if m.get("Event") == "QueueMember" and m.get("Queue") == "support"
        ]
        return len(members) == 2 and all(m.get("Paused") == "0" for m in members)

    await wait_for(back_in_support, timeout=10, what="both agents unpaused in support")
    since = len(ami.events)
    late = await ami.call_in("13700137009", "迟到的来电")
    await ami.wait_event("AgentConnect", Linkedid=late, since=since, timeout=20)
    held = [
        e
        for e in ami.events[since:]
        if e.get("Event") == "QueueMemberPause" and e.get("PausedReason") == reason
    ]
    assert not held, held
    # nobody heard the apology
    assert not [
        e
        for e in ami.events
        if e.get("Event") == "VarSet" and e.get("Variable") == "CC_DIALER_ABANDON"
    ]


# --- an invalid number is never dialled -------------------------------------------------------


async def test_a_seven_digit_number_is_refused_at_import_and_never_dialled(
    ami: AmiControl, agent1: Api, manager: Api, campaigns: Campaigns
) -> None:
    good = "+8613900139041"
    await customer(ami, good, mode="busy")
    cid, report = await campaigns.create(
        "progressive", [("短号", "5550123"), ("正常", _national(good))]
    )
    assert report["accepted"] == 1
    assert [r["reason"] for r in report["rejected"]] == ["invalid-phone"], report
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await campaigns.start(cid)

    async def tried() -> dict[str, Any] | None:
        res = await campaigns.results(cid)
        return res if res["attempts"] == 1 else None

    results = await wait_for(tried, timeout=30, what="the valid contact tried")
    assert results["contacts"] == 1
    legs = customer_legs(ami)
    assert legs == [national(good)], legs
    assert not [e for e in ami.events if "5550123" in e.get("Exten", "") + e.get("Channel", "")]
