"""Campaign REST API over a real socket and database: create, upload, start, results."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from aiohttp import web

from agent_console.app import create_app
from agent_console.campaigns import setup_campaign_routes
from agent_console.services import ConsoleConfig, ConsoleServices
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.db import open_database
from tests.integration.test_console_harness import PASSWORD, SECRET, make_users


async def test_operator_loads_a_list_and_reads_results(database_url: str) -> None:
    db = await open_database(database_url, phone_region="CN")
    users = await make_users(db)
    services = ConsoleServices(
        db=db,
        bus=InProcessBus(),
        commands=None,  # type: ignore[arg-type]  # no telephony needed for these routes
        clock=SystemClock(),
        config=replace(ConsoleConfig(), secret_key=SECRET),
        extra_setup=[setup_campaign_routes],
    )
    runner = web.AppRunner(create_app(services))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    lead = next(u.username for u in users.values() if u.role.value == "lead")
    try:
        async with aiohttp.ClientSession() as s:

            async def login(name: str) -> dict[str, str]:
                async with s.post(
                    f"{url}/api/login", json={"username": name, "password": PASSWORD}
                ) as r:
                    assert r.status == 200
                    return {"Authorization": f"Bearer {(await r.json())['token']}"}

            agent_h, lead_h = await login("agent1"), await login(lead)
            async with s.post(f"{url}/api/campaigns", json={"name": "x"}, headers=agent_h) as r:
                assert r.status == 403
            async with s.post(
                f"{url}/api/campaigns", json={"name": "春季", "mode": "predictive"}, headers=lead_h
            ) as r:
                assert r.status == 201
                cid = (await r.json())["id"]
            body = "姓名,电话\n甲,13800138000\n乙,bad\n".encode("gbk")
            async with s.post(
                f"{url}/api/campaigns/{cid}/contacts", data=body, headers=lead_h
            ) as r:
                assert r.status == 200, await r.text()
                report = await r.json()
            assert report["accepted"] == 1
            assert report["rejected"][0]["reason"] == "invalid-phone"
            async with s.post(
                f"{url}/api/campaigns/{cid}/contacts", data=b"a,b\n", headers=lead_h
            ) as r:
                assert r.status == 400
            async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead_h) as r:
                assert (await r.json())["status"] == "running"
            async with s.get(f"{url}/api/campaigns/{cid}/results", headers=lead_h) as r:
                results = await r.json()
            assert results["contacts"] == 1
            assert results["attempts_left"] == 3
            async with s.get(f"{url}/api/campaigns/{cid}/results?format=csv", headers=lead_h) as r:
                text = (await r.read()).decode("utf-8-sig")
            assert "+8613800138000" in text
            async with s.get(f"{url}/api/campaigns/999/results", headers=lead_h) as r:
                assert r.status == 404
    finally:
        await runner.cleanup()
        await db.close()
