"""Issue 12 #10 through the campaign API over a real socket and database: a number that
is not valid in the region is refused at import with a reason, attempts left agree
between the database, the results and the CSV export, and a running campaign outside
its calling hours says it waits and when it starts."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from crm_core.clock import FakeClock
from crm_core.db import Database
from crm_core.domain.models import ContactStatus
from crm_core.services.campaigns import record_attempt
from crm_core.services.dial_rules import AttemptResult
from tests.integration.campaign_console import campaign_console

# 22:30 in Shanghai: after the default calling hours (09:00–21:00)
LATE = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


@dataclass
class Api:
    s: aiohttp.ClientSession
    url: str
    headers: dict[str, str]
    db: Database

    async def call(self, method: str, path: str, **kw: object) -> tuple[int, Any]:
        async with self.s.request(method, self.url + path, headers=self.headers, **kw) as r:  # type: ignore[arg-type]
            ctype = r.headers.get("Content-Type", "")
            body = await r.json() if "json" in ctype else await r.text()
            return r.status, body


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with campaign_console(database_url, clock=FakeClock(LATE)) as cc:
        yield Api(cc.session, cc.url, cc.headers, cc.db)


async def _campaign(api: Api) -> int:
    status, body = await api.call(
        "POST", "/api/campaigns", json={"name": "春季回访", "queue": "sales", "max_attempts": 3}
    )
    assert status == 201, body
    return int(body["id"])


async def test_a_seven_digit_number_is_refused_at_import_with_its_reason(api: Api) -> None:
    cid = await _campaign(api)
    data = "姓名,电话\n甲,13800138000\n乙,7654321\n丙,010 6552 9988\n".encode()
    status, report = await api.call("POST", f"/api/campaigns/{cid}/contacts", data=data)
    assert status == 200, report
    assert report["accepted"] == 2  # a mobile and a Beijing landline
    assert report["rejected"] == [
        {
            "row": 3,
            "reason": "invalid-phone",
            # the message code and its parameters (the old params kept, row and phone added)
            "code": "import.rejected.invalid_phone",
            "params": {"number": "7654321", "region": "CN", "row": 3, "phone": "7654321"},
            "detail": "not a phone number: '7654321' (not a valid number in region CN)",
        }
    ]
    stored = sorted(c.phone_e164 for c in await api.db.campaigns.contacts(cid))
    assert stored == ["+861065529988", "+8613800138000"]


async def test_attempts_left_agree_in_the_database_the_results_and_the_csv(api: Api) -> None:
    cid = await _campaign(api)
    data = b"phone\n13800138001\n13800138002\n13800138003\n"
    await api.call("POST", f"/api/campaigns/{cid}/contacts", data=data)
    campaign = await api.db.campaigns.get(cid)
    abandoned, busy, _fresh = await api.db.campaigns.contacts(cid)
    # answered, but no agent within the grace: closed, a callback is owed instead
    await record_attempt(
        campaign,
        abandoned,
        AttemptResult.ANSWERED,
        now=LATE,
        campaigns=api.db.campaigns,
        last_result="abandoned",
    )
    await record_attempt(campaign, busy, AttemptResult.BUSY, now=LATE, campaigns=api.db.campaigns)
    by_phone = {c.phone_e164: c for c in await api.db.campaigns.contacts(cid)}
    assert by_phone["+8613800138001"].status is ContactStatus.DONE
    assert by_phone["+8613800138002"].status is ContactStatus.RETRY

    status, results = await api.call("GET", f"/api/campaigns/{cid}/results")
    assert status == 200
    _, text = await api.call("GET", f"/api/campaigns/{cid}/results?format=csv")
    rows = {r["phone"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    left = {phone: int(r["attempts_left"]) for phone, r in rows.items()}
    assert left == {"+8613800138001": 0, "+8613800138002": 2, "+8613800138003": 3}
    assert results["attempts_left"] == sum(left.values()) == 5
    assert rows["+8613800138001"]["status"] == "done"


async def test_a_running_campaign_outside_its_hours_says_it_waits_and_until_when(
    api: Api,
) -> None:
    cid = await _campaign(api)
    await api.call("POST", f"/api/campaigns/{cid}/contacts", data=b"phone\n13800138004\n")
    _, draft = await api.call("GET", f"/api/campaigns/{cid}")
    assert draft["wait"] is None  # not running: nothing to wait for
    status, started = await api.call("POST", f"/api/campaigns/{cid}/start")
    assert status == 200
    expected = {
        "reason": "outside-calling-hours",
        "until": "2025-03-04T01:00:00+00:00",
        "until_local": "2025-03-04 09:00",
        "timezone": "Asia/Shanghai",
    }
    assert started["status"] == "running"
    assert started["wait"] == expected
    _, listed = await api.call("GET", "/api/campaigns")
    assert listed["campaigns"][0]["wait"] == expected
    _, results = await api.call("GET", f"/api/campaigns/{cid}/results")
    assert results["wait"] == expected
    # in another zone the same instant is inside the hours: no wait
    status, moved = await api.call(
        "PATCH", f"/api/campaigns/{cid}", json={"timezone": "America/New_York"}
    )
    assert status == 200
    assert moved["wait"] is None  # 09:30 in New York


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-CN", "表头 姓名, 公司 中没有电话列（电话/手机/phone）。"),
        ("en", "No phone column among the headers 姓名, 公司 (电话/手机/phone)."),
    ],
)
async def test_a_file_without_a_phone_column_is_refused_in_the_users_language(
    api: Api, language: str, message: str
) -> None:
    cid = await _campaign(api)
    async with api.s.post(
        f"{api.url}/api/campaigns/{cid}/contacts",
        data="姓名,公司\n甲,某公司\n".encode(),
        headers={**api.headers, "Accept-Language": language},
    ) as r:
        status, problem = r.status, await r.json()
    assert status == 400, problem
    assert problem["error_id"] == "bad-contact-file"
    assert (problem["code"], problem["params"]) == (
        "import.no_phone_column",
        {"headers": "姓名, 公司"},
    )
    assert problem["message"] == message
    assert "no phone column" in problem["detail"]  # the technical English text


async def test_the_rejected_rows_as_csv_say_why_in_the_users_language(api: Api) -> None:
    cid = await _campaign(api)
    data = "姓名,电话\n甲,13800138000\n乙,7654321\n丙,13800138000\n".encode()
    texts = {}
    for language in ("zh-CN", "en"):
        async with api.s.post(
            f"{api.url}/api/campaigns/{cid}/contacts?format=csv",
            data=data,
            headers={**api.headers, "Accept-Language": language},
        ) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Content-Type"].startswith("text/csv")
            texts[language] = list(csv.DictReader(io.StringIO((await r.text()).lstrip("\ufeff"))))
    zh, en = texts["zh-CN"], texts["en"]
    # the first upload stored row 2; the second finds it in the campaign already
    assert [(r["row"], r["reason"]) for r in zh] == [("3", "invalid-phone"), ("4", "duplicate")]
    assert zh[0]["message"] == "第 3 行：电话号码 7654321 不是 CN 地区的有效号码。"
    assert [(r["row"], r["reason"]) for r in en] == [
        ("2", "already-in-campaign"),
        ("3", "invalid-phone"),
        ("4", "duplicate"),
    ]
    assert (
        en[0]["message"] == "Row 2: +8613800138000 is already in the campaign (an earlier upload)."
    )
    assert en[2]["message"] == (
        "Row 4: +8613800138000 is already in the file (row 2); merged into that row."
    )
    assert en[1]["detail"] == zh[0]["detail"]  # the technical detail stays English
