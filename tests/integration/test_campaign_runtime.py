"""A campaign run through the whole product (`callcenter demo` wiring: simulator over AMI,
dialer, console): an operator configures and starts a campaign over the API, the
dialer calls the contact, the agent's console pops the campaign's card, and the
agent's "do not call" disposition closes the contact and lists the number as DNC."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp

from callcenter.commands.demo import demo_settings
from callcenter.settings import load_settings
from callcenter.wiring import DemoOptions, Runtime
from crm_core.domain.models import ContactStatus
from telephony.sim.pbx import CustomerPhone


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            for item in data if isinstance(data, list) else [data]:  # frames may batch
                if item.get("type") == kind:
                    return dict(item)


async def test_campaign_call_pops_its_card_and_the_disposition_lands_on_the_contact(
    tmp_path: Path,
) -> None:
    database = tmp_path / "demo.db"
    settings = dataclasses.replace(
        demo_settings(load_settings(environ={}), database),
        agi_port=0,
        outbox_path=str(tmp_path / "outbox.db"),
    )
    runtime = Runtime(
        settings=settings,
        demo=DemoOptions(database_file=database, calls_per_minute=0),
        host="127.0.0.1",
        port=0,
    )
    await runtime.start()
    sim = runtime.objects["sim"]
    db = runtime.objects["db"]
    sim.customers["8613700137000"] = CustomerPhone("answer", 0.3, 30.0)
    for n in range(3, 7):  # only Agent 1002 (agent2) is free for the campaign's queue
        sim.pause_member("sales", f"Local/100{n}@agents/n", True, "training")
    url = runtime.url.rstrip("/")
    try:
        async with aiohttp.ClientSession() as s:

            async def login(name: str) -> dict[str, str]:
                async with s.post(
                    f"{url}/api/login", json={"username": name, "password": "demo"}
                ) as r:
                    assert r.status == 200, await r.text()
                    return {"Authorization": f"Bearer {(await r.json())['token']}"}

            lead, agent = await login("lead1"), await login("agent2")
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
            async with s.post(
                f"{url}/api/campaigns/{cid}/contacts", data=csv_body, headers=lead
            ) as r:
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
    finally:
        await runtime.stop()
    assert runtime.parts == []
