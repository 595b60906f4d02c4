"""Campaign REST API over a real socket and database: create, upload, start, results."""

from __future__ import annotations

from tests.integration.campaign_console import campaign_console


async def test_operator_loads_a_list_and_reads_results(database_url: str) -> None:
    async with campaign_console(database_url) as cc:
        s, url, db = cc.session, cc.url, cc.db
        agent_h, lead_h = await cc.login("agent1"), cc.headers
        async with s.post(f"{url}/api/campaigns", json={"name": "x"}, headers=agent_h) as r:
            assert r.status == 403
        async with s.post(
            f"{url}/api/campaigns", json={"name": "春季", "mode": "predictive"}, headers=lead_h
        ) as r:
            assert r.status == 201
            cid = (await r.json())["id"]
        body = "姓名,电话\n甲,13800138000\n乙,bad\n".encode("gbk")
        async with s.post(f"{url}/api/campaigns/{cid}/contacts", data=body, headers=lead_h) as r:
            assert r.status == 200, await r.text()
            report = await r.json()
        assert report["accepted"] == 1
        assert report["rejected"][0]["reason"] == "invalid-phone"
        async with s.post(
            f"{url}/api/campaigns/{cid}/contacts", data=b"a,b\n", headers=lead_h
        ) as r:
            assert r.status == 400
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead_h) as r:
            assert r.status == 409  # no queue of agents yet
            assert (await r.json())["error_id"] == "no-queue"
        bad_settings = [
            {"calling_hours_start": "9:00"},
            {"calling_hours_start": "22:00", "calling_hours_end": "08:00"},
            {"timezone": "Mars/Olympus"},
            {"max_attempts": 0},
            {"retry_busy_minutes": True},
            {"dispositions": ["Sale!"]},
            {"mode": "robocall"},
        ]
        for change in bad_settings:
            async with s.patch(f"{url}/api/campaigns/{cid}", json=change, headers=lead_h) as r:
                assert r.status == 400, change
                problem = await r.json()
                assert (
                    next(iter(change)) in problem["message"]
                    or "calling_hours" in (problem["message"])
                )
        settings = {
            "queue": "sales",
            "script": "您好，我是{company}的客服",
            "calling_hours_start": "09:30",
            "calling_hours_end": "20:00",
            "timezone": "Asia/Urumqi",
            "max_attempts": 5,
            "retry_busy_minutes": 15,
            "retry_no_answer_minutes": 90,
            "retry_failed_minutes": 45,
            "dispositions": ["sale", "not_interested", "do_not_call"],
            "caller_id": "4008001234",
        }
        async with s.patch(f"{url}/api/campaigns/{cid}", json=settings, headers=agent_h) as r:
            assert r.status == 403
        async with s.patch(f"{url}/api/campaigns/{cid}", json=settings, headers=lead_h) as r:
            assert r.status == 200, await r.text()
        async with s.get(f"{url}/api/campaigns/{cid}", headers=lead_h) as r:
            stored = await r.json()
        assert {k: stored[k] for k in settings} == settings
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead_h) as r:
            assert (await r.json())["status"] == "running"
        async with s.get(f"{url}/api/campaigns", headers=lead_h) as r:
            assert [c["id"] for c in (await r.json())["campaigns"]] == [cid]
        async with s.get(f"{url}/api/campaigns/{cid}/results", headers=lead_h) as r:
            results = await r.json()
        assert results["contacts"] == 1
        assert results["attempts_left"] == 5
        assert results["abandon_rate"] is None  # nothing answered yet: no rate, not 0 %
        async with s.get(f"{url}/api/campaigns/{cid}/results?format=csv", headers=lead_h) as r:
            raw = await r.read()
        assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet programs read 中文
        text = raw.decode("utf-8-sig")
        assert "+8613800138000" in text
        assert "甲" in text
        async with s.post(f"{url}/api/campaigns/{cid}/stop", headers=lead_h) as r:
            assert (await r.json())["status"] == "stopped"
        async with s.post(f"{url}/api/campaigns/{cid}/start", headers=lead_h) as r:
            assert r.status == 409  # a stopped campaign stays stopped
        audit = [e.action for e in await db.audit.list(limit=100)]
        for action in ("campaign.create", "campaign.update", "campaign.stopped"):
            assert action in audit
        assert "campaign.export" in audit  # the export of customer data is audited
        for path in ("/api/campaigns/999/results", "/api/campaigns/%C2%B3"):
            async with s.get(f"{url}{path}", headers=lead_h) as r:
                assert r.status == 404
