"""The wallboard in headless Chromium, as a team lead uses it; with CALLCENTER_SCREENSHOT=1
it refreshes docs/screenshot-wallboard.png (otherwise the picture goes to the temp dir)."""

from __future__ import annotations

import os
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from crm_core.clock import SystemClock
from crm_core.domain.events import (
    AgentMissedCall,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallOffered,
    DomainEvent,
    ServiceHealthChanged,
)
from crm_core.domain.models import AgentStatus, CallOutcome, CallRecord, Direction
from crm_core.services.live import LiveBoard
from tests.browser.login import log_in
from tests.integration.test_console_harness import PASSWORD, Stack
from tests.integration.test_lead_api import lead_stack

pytestmark = pytest.mark.browser

SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshot-wallboard.png"
    if os.environ.get("CALLCENTER_SCREENSHOT")
    else Path(tempfile.gettempdir()) / "screenshot-wallboard.png"
)
REPORT_SHOT = Path(os.environ.get("CALLCENTER_REPORT_SHOT", "/tmp/report-page.png"))


async def sign_in(browser: Browser, stack: Stack, username: str, locale: str = "zh-CN") -> Page:
    """The wall screen's size, in the team's time zone."""
    return await log_in(
        browser,
        stack.url,
        username,
        PASSWORD,
        locale=locale,
        size=(1600, 1000),
        timezone_id="Asia/Shanghai",
    )


def earlier_today(now: datetime) -> list[DomainEvent]:
    """A morning of traffic in two queues, finished before the page opens."""
    rnd = random.Random(3)
    day_start = LiveBoard().day_start(LiveBoard().local_day(now))
    span = max(60.0, (now - day_start).total_seconds() - 600)
    events: list[DomainEvent] = []
    for i in range(60):
        start = day_start + timedelta(seconds=span * (0.3 + 0.7 * rnd.random()))
        queue = "support" if i % 3 else "sales"
        answered = rnd.random() < 0.85
        wait = rnd.choice([4.0, 8.0, 12.0, 18.0, 25.0, 40.0])
        agent = "Agent 1001" if i % 2 else "Agent 1002"
        events.append(
            CallOffered(
                at=start,
                call_id=f"m.{i}",
                queue=queue,
                position=1,
                caller_number="13800138000",
                caller_name="张三",
            )
        )
        at = start + timedelta(seconds=wait)
        if answered:
            events.append(
                CallAnswered(
                    at=at,
                    call_id=f"m.{i}",
                    queue=queue,
                    agent=agent,
                    interface=None,
                    wait_seconds=wait,
                    ring_seconds=min(wait, 17.0),
                )
            )
        else:
            events.append(
                CallAbandoned(
                    at=at,
                    call_id=f"m.{i}",
                    queue=queue,
                    caller_number="13800138000",
                    wait_seconds=wait,
                )
            )
        end = at + timedelta(seconds=120)
        events.append(
            CallEnded(
                at=end,
                record=CallRecord(
                    call_id=f"m.{i}",
                    direction=Direction.INBOUND,
                    caller_number="13800138000",
                    caller_name="张三",
                    queue=queue,
                    agent=agent if answered else None,
                    started_at=start,
                    answered_at=at if answered else None,
                    ended_at=end,
                    wait_seconds=wait,
                    talk_seconds=120.0 if answered else 0.0,
                    outcome=CallOutcome.ANSWERED if answered else CallOutcome.ABANDONED,
                ),
            )
        )
    return sorted(events, key=lambda e: e.at)


async def test_wallboard_live_in_the_browser(sqlite_url: str, browser: Browser) -> None:
    async with lead_stack(sqlite_url) as stack:
        now = SystemClock().now()
        for event in earlier_today(now):
            await stack.bus.publish(event)
        page = await sign_in(browser, stack, "lead1")
        await page.goto(f"{stack.url}/lead")
        # the lead's browser asks for zh-CN
        await expect(page.locator("#wb-status")).to_have_text("实时")
        support = page.locator('.queue[data-queue="support"]')
        await expect(support).to_be_visible()

        # live: a caller queues, an agent misses a ring, states change
        now = SystemClock().now()
        await stack.bus.publish(
            CallOffered(
                at=now,
                call_id="live.1",
                queue="support",
                position=1,
                caller_number="13912345678",
                caller_name="李<b>雷</b>",
            )
        )
        await stack.bus.publish(
            AgentMissedCall(
                at=now,
                call_id="live.1",
                queue="support",
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                ring_seconds=15.0,
            )
        )
        await stack.bus.publish(
            AgentStateChanged(
                at=now - timedelta(minutes=3),
                agent="Agent 1002",
                interface="Local/1002@agents/n",
                queue="support",
                status=AgentStatus.PAUSED,
                paused=True,
                pause_reason="meal",
            )
        )
        await stack.bus.publish(
            CallAnswered(
                at=now - timedelta(seconds=95),
                call_id="live.0",
                queue="sales",
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                wait_seconds=6.0,
                ring_seconds=4.0,
            )
        )
        alert = page.locator("#wb-alerts .al-missed_ring")
        await expect(alert).to_have_count(1)
        await expect(alert).to_contain_text("Agent 1001")
        await expect(alert).to_contain_text("未接听")  # the alert itself in the lead's language
        await expect(support.locator(".tile").first.locator(".tile-value")).to_have_text("1")
        row = page.locator('#wb-agents tr[data-agent="Agent 1002"]')
        await expect(row).to_contain_text("小休")  # paused, with its reason, in Chinese
        await expect(row).to_contain_text("用餐")
        # Team B's agent is not on lead1's wall
        await expect(page.locator('#wb-agents tr[data-agent="Agent 1003"]')).to_have_count(0)
        # hostile caller names are text, never markup
        await expect(page.locator("#wb-agents b")).to_have_count(0)

        await expect(page.locator("#wallboard.flash")).to_have_count(0)  # alert flash over
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)

        # the CRM database goes away: leads are told plainly, and told when it is back
        await stack.bus.publish(
            ServiceHealthChanged(
                at=datetime.now(UTC), component="database", healthy=False, detail="refused"
            )
        )
        banner = page.locator("#wb-banner")
        await expect(banner).to_contain_text("CRM 数据库")
        await expect(banner).to_contain_text("不会丢失")
        await stack.bus.publish(
            ServiceHealthChanged(at=datetime.now(UTC), component="database", healthy=True)
        )
        await expect(banner).to_be_hidden()
        await expect(page.locator("li.al-service_back")).to_have_count(1)

        # an action from the wall reaches the PBX
        await row.locator('button[data-path="resume"]').click()
        await expect(page.locator("#wb-message")).to_contain_text("完成")
        unpause = [
            m
            for m in stack.sim.actions
            if m.get("Action").lower() == "queuepause"
            and m.get("Interface").endswith("1002@agents/n")
        ]
        assert unpause
        assert unpause[-1].get("Paused").lower() in ("false", "0", "no")

        # the report page draws its chart of the period from the CRM's call records
        await stack.db.calls.save_many(
            [e.record for e in earlier_today(now) if isinstance(e, CallEnded)]
        )
        manager = await sign_in(browser, stack, "manager1")
        await manager.goto(f"{stack.url}/lead/reports?period=weekly&group=queue")
        await expect(manager.locator("#rp-chart svg.chart rect").first).to_be_attached()
        await expect(manager.locator(".rp-table tbody tr").first).to_contain_text("sales")
        await expect(manager.locator('th[data-col="calls_in"]')).to_have_text("呼入")
        await manager.screenshot(path=str(REPORT_SHOT), full_page=True)
        # the same page for a manager whose browser asks for English
        english = await sign_in(browser, stack, "manager1", locale="en-US")
        await english.goto(f"{stack.url}/lead/reports?period=weekly&group=queue")
        await expect(english.locator('th[data-col="calls_in"]')).to_have_text("calls in")
        await expect(english.locator("h1 span")).to_have_text("Reports")
        # a year's chart has a bar a month (three rects a bar), not one a day
        await english.goto(f"{stack.url}/lead/reports?period=annual&group=queue")
        await expect(english.locator("#rp-chart svg.chart rect")).to_have_count(12 * 3)
        await expect(english.locator("#rp-chart .chart-axis span").first).to_have_text("01")

        agent_page = await sign_in(browser, stack, "agent1")
        response = await agent_page.goto(f"{stack.url}/lead")
        assert response is not None
        assert response.status == 403
