"""A campaign run through the whole product (`callcenter demo` wiring: simulator over AMI,
dialer, console): an operator configures and starts a campaign over the API, the
dialer calls the contact, the agent's console pops the campaign's card, and the
agent's "do not call" disposition closes the contact and lists the number as DNC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.wiring import Runtime
from crm_core.domain.models import CaseKind, CaseStatus, ContactStatus
from telephony.sim.pbx import CustomerPhone
from tests.console_frames import unbatched
from tests.integration.demo_server import demo_runtime
from tests.polling import eventually


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            for item in unbatched(msg.data):
                if item.get("type") == kind:
                    return dict(item)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = demo_runtime(tmp_path)
    await runtime.start()
    for n in range(3, 7):  # only Agent 1002 (agent2) is free for the campaign's queue
        runtime.components.sim.pause_member("sales", f"Local/100{n}@agents/n", True, "training")
    try:
        yield runtime
    finally:
        await runtime.stop()
    assert runtime.parts == []


async def _login(s: aiohttp.ClientSession, url: str, name: str) -> dict[str, str]:
    async with s.post(f"{url}/api/login", json={"username": name, "password": "demo"}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def test_campaign_call_pops_its_card_and_the_disposition_lands_on_the_contact(
    runtime: Runtime,
) -> None:
    sim = runtime.components.sim
    db = runtime.components.db
    sim.customers["8613700137000"] = CustomerPhone("answer", 0.3, 30.0)
    url = runtime.url.rstrip("/")
    async with aiohttp.ClientSession() as s:
        lead, agent = await _login(s, url, "lead1"), await _login(s, url, "agent2")
        token = agent["Authorization"].split(" ", 1)[1]
        ws = await s.ws_connect(f"{url}/ws?token={token}")
        async with s.post(
            f"{url}/api/campaigns",
            json={
                "name": "春季回访",
                "queue": "sales",
                "mode": "progressive",
                "script": "您好，这里是示例科技的回访专线",
                "calling_hours_start": "00:00",
                "calling_hours_end": "23:59",
                "dispositions": ["sale", "not_interested", "do_not_call"],
            },
            headers=lead,
        ) as r:
            assert r.status == 201, await r.text()
            cid = (await r.json())["id"]
        csv_body = "姓名,电话\n赵六,13700137000\n".encode()
        async with s.post(f"{url}/api/campaigns/{cid}/contacts", data=csv_body, headers=lead) as r:
            assert (await r.json())["accepted"] == 1
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead) as r:
            assert (await r.json())["status"] == "running"

        pop = await _next(ws, "screen_pop")
        assert pop["campaign_id"] == cid
        assert pop["caller_number"] == "+8613700137000"  # the customer, not our trunk
        card = await _next(ws, "screen_pop_customer")
        assert card["campaign"]["name"] == "春季回访"
        assert card["campaign"]["script"] == "您好，这里是示例科技的回访专线"
        assert card["campaign"]["dispositions"] == ["sale", "not_interested", "do_not_call"]
        assert card["campaign"]["contact"]["name"] == "赵六"

        async with s.post(
            f"{url}/api/calls/{pop['call_id']}/wrapup",
            json={
                "disposition": "do_not_call",
                "disposition_reason": "客户要求不再来电",
                "result": "resolved",
                "notes": "",
            },
            headers=agent,
        ) as r:
            assert r.status in (200, 202), await r.text()
        contact = (await db.campaigns.contacts(cid))[0]
        assert contact.disposition == "do_not_call"
        assert contact.disposition_reason == "客户要求不再来电"
        assert contact.status is ContactStatus.DNC
        assert await db.dnc.contains("+8613700137000")

        async with s.get(f"{url}/api/campaigns/{cid}/results", headers=lead) as r:
            results = await r.json()
        assert results["dialled"] == 1
        assert results["dispositions"] == {"do_not_call": 1}
        assert results["live"]["placed"] == 1
        await ws.close()


async def test_follow_up_campaign_from_closed_cases_stores_the_satisfaction(
    runtime: Runtime,
) -> None:
    sim = runtime.components.sim
    db = runtime.components.db
    now = datetime.now(UTC)
    due = await db.customers.create(name="孙八", phones=["13600136999"])
    later = await db.customers.create(name="周九", phones=["13600136998"])
    for customer, closed in ((due, now - timedelta(days=30)), (later, now - timedelta(days=5))):
        case = await db.cases.create(
            kind=CaseKind.INQUIRY,
            subject="送货",
            created_at=closed - timedelta(days=2),
            customer_id=customer.id,
            owner_user_id=None,
        )
        await db.cases.set_status(case.id, CaseStatus.CLOSED, at=closed, by_user_id=None)
    sim.customers["8613600136999"] = CustomerPhone("answer", 0.3, 30.0)
    url = runtime.url.rstrip("/")
    async with aiohttp.ClientSession() as s:
        lead, agent = await _login(s, url, "lead1"), await _login(s, url, "agent2")
        token = agent["Authorization"].split(" ", 1)[1]
        ws = await s.ws_connect(f"{url}/ws?token={token}")
        window = {
            "start": (now - timedelta(days=3)).isoformat(),
            "end": (now + timedelta(days=4)).isoformat(),
        }
        async with s.post(
            f"{url}/api/campaigns/followups", json={"queue": "sales", **window}, headers=agent
        ) as r:
            assert r.status == 403  # operators only
        async with s.post(
            f"{url}/api/campaigns/followups", json={"queue": "sales", **window}, headers=lead
        ) as r:
            assert r.status == 201, await r.text()
            made = await r.json()
        assert made["kind"] == "follow_up"
        assert made["contacts"] == 1  # closed a month ago: due; closed 5 days ago: not yet
        cid = made["id"]
        contact = (await db.campaigns.contacts(cid))[0]
        assert (contact.name, contact.extra["visit"]) == ("孙八", "1")
        await db.campaigns.update(cid, calling_hours_start="00:00", calling_hours_end="23:59")
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead) as r:
            assert r.status == 200, await r.text()
        pop = await _next(ws, "screen_pop")
        card = await _next(ws, "screen_pop_customer")
        assert card["campaign"]["kind"] == "follow_up"
        async with s.post(
            f"{url}/api/calls/{pop['call_id']}/wrapup",
            json={"disposition": "surveyed", "satisfaction": 7, "result": "resolved"},
            headers=agent,
        ) as r:
            assert r.status == 400  # not on the five-step scale
        async with s.post(
            f"{url}/api/calls/{pop['call_id']}/wrapup",
            json={"disposition": "surveyed", "satisfaction": 4, "result": "resolved"},
            headers=agent,
        ) as r:
            assert r.status in (200, 202), await r.text()
        answers = await db.surveys.for_call(pop["call_id"])
        assert [(a.score, a.campaign_id, a.customer_id) for a in answers] == [(4, cid, due.id)]
        assert (await db.campaigns.contacts(cid))[0].disposition == "surveyed"
        await ws.close()


async def test_preview_agent_takes_reads_skips_and_dials_a_contact(runtime: Runtime) -> None:
    sim = runtime.components.sim
    db = runtime.components.db
    sim.customers["8613500135002"] = CustomerPhone("answer", 0.3, 0.5)
    url = runtime.url.rstrip("/")
    async with aiohttp.ClientSession() as s:
        lead, agent = await _login(s, url, "lead1"), await _login(s, url, "agent2")
        async with s.post(
            f"{url}/api/campaigns",
            json={
                "name": "预览外呼",
                "queue": "sales",
                "mode": "preview",
                "calling_hours_start": "00:00",
                "calling_hours_end": "23:59",
            },
            headers=lead,
        ) as r:
            cid = (await r.json())["id"]
        body = "姓名,电话\n钱一,13500135001\n钱二,13500135002\n".encode()
        async with s.post(f"{url}/api/campaigns/{cid}/contacts", data=body, headers=lead) as r:
            assert (await r.json())["accepted"] == 2
        async with s.post(f"{url}/api/campaigns/preview/next", headers=agent) as r:
            assert (await r.json())["contact"] is None  # not started yet
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead) as r:
            assert r.status == 200
        # the automatic dialer leaves preview campaigns alone: the positive signal that
        # it had its chance is three completed decision turns with the campaign running
        loop = runtime.components.telephony.dialer_loop
        turned, placed = loop.ticks, loop.calls_placed
        await eventually(
            lambda: loop.ticks >= turned + 3, timeout=15, what="three turns of the dialer loop"
        )
        assert loop.calls_placed == placed  # no turn picked a contact …
        assert runtime.components.telephony.dialer.stats(cid) is None  # … nor ran the campaign
        assert [c.attempts for c in await db.campaigns.contacts(cid)] == [0, 0]
        assert not [a for a in sim.actions if a.get("Action") == "Originate"]

        async with s.post(f"{url}/api/campaigns/preview/next", headers=agent) as r:
            first = await r.json()
        assert first["contact"]["name"] == "钱一"
        assert first["campaign"]["name"] == "预览外呼"
        async with s.post(f"{url}/api/campaigns/preview/next", headers=agent) as r:
            assert (await r.json())["contact"]["id"] == first["contact"]["id"]  # still mine
        one = first["contact"]["id"]
        async with s.post(
            f"{url}/api/campaigns/{cid}/contacts/{one}/skip", json={"reason": "?"}, headers=agent
        ) as r:
            assert r.status == 400
        async with s.post(
            f"{url}/api/campaigns/{cid}/contacts/{one}/dial", json={}, headers=lead
        ) as r:
            assert r.status == 409  # someone else's contact
        async with s.post(
            f"{url}/api/campaigns/{cid}/contacts/{one}/skip",
            json={"reason": "wrong_number", "note": "空号"},
            headers=agent,
        ) as r:
            assert (await r.json())["status"] == "done"

        async with s.post(f"{url}/api/campaigns/preview/next", headers=agent) as r:
            second = await r.json()
        two = second["contact"]["id"]
        assert second["contact"]["name"] == "钱二"
        async with s.post(
            f"{url}/api/campaigns/{cid}/contacts/{two}/dial", json={}, headers=agent
        ) as r:
            assert r.status == 202, await r.text()

        async def booked() -> bool:
            c = await db.campaigns.contact(two)
            return c.last_result is not None

        await eventually(booked, timeout=30, what="the dialled contact's result")
        done = await db.campaigns.contact(two)
        assert (done.status, done.attempts, done.last_result) == (
            ContactStatus.DONE,
            1,
            "answered",
        )
        skipped = await db.campaigns.contact(one)
        assert (skipped.disposition, skipped.disposition_reason) == ("wrong_number", "空号")
        originates = [a for a in sim.actions if a.get("Action") == "Originate"]
        # the carrier's national form (setting carrier_number_format, ADR 0047)
        assert [a.get("Exten") for a in originates] == ["13500135002"]
        assert originates[0].get("Channel") == "Local/1002@agents/n"  # the agent first
