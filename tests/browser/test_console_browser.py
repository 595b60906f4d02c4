"""The console in headless Chromium, as an agent uses it."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, FloatRect, expect

from crm_core.domain.events import AgentRingStarted, CallAnswered
from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    CallRecord,
    Direction,
)
from tests.browser.login import log_in
from tests.integration.test_console_harness import PASSWORD, console_stack
from tests.png import decode as png_decode

pytestmark = pytest.mark.browser


def ring(call_id: str, number: str, name: str) -> AgentRingStarted:
    return AgentRingStarted(
        at=datetime.now(UTC),
        call_id=call_id,
        queue="support",
        agent="Agent 1001",
        interface="Local/1001@agents/n",
        caller_number=number,
        caller_name=name,
    )


async def test_pop_answer_wrapup_and_history(sqlite_url: str, browser: Browser) -> None:
    """A call placed on the PBX simulator pops, is answered by the agent's phone, ends,
    is wrapped up in the browser and shows in the history from the CRM."""
    async with console_stack(sqlite_url) as stack:
        await stack.db.customers.create(
            name="王芳", phones=["13800138000"], company="星河贸易", vip_level=2
        )
        page = await log_in(browser, stack.url, "agent1", PASSWORD, locale="en-US", online=True)
        await page.click("#btn-sign-in")
        await expect(page.locator("#state-pill")).to_have_attribute("data-status", "available")
        call_id = stack.sim.place_call("13800138000", "WANG FANG", "support", talk_seconds=1.5)
        card = page.locator(f".card[data-call-id='{call_id}']")
        await expect(card.locator(".caller-number")).to_have_text("13800138000")
        await expect(card.locator(".vip")).to_have_text("VIP 2")
        await expect(card.locator(".caller-name")).to_have_text("王芳")
        await expect(card.locator(".greeting .script-text")).to_have_text(
            "Hello, 示例科技, how may I help you?"
        )
        await expect(card).to_have_attribute("data-state", "talking")
        await card.locator("select[name=disposition]").select_option("order")
        await card.locator("form.wrapup textarea[name=notes]").fill("订单 4521 明天发货")
        await expect(card).to_have_attribute("data-state", "ended", timeout=10_000)
        await card.locator("form.wrapup button[type=submit]").click()
        await expect(card).to_have_count(0)
        row = page.locator(f"#history tr[data-call-id='{call_id}']")
        await expect(row).to_contain_text("订单 4521 明天发货", timeout=10_000)
        saved = await stack.db.calls.get(call_id)
        assert saved.disposition == "order"
        assert saved.wrapup_notes == "订单 4521 明天发货"
        audit = await stack.db.audit.list(actor="agent1")
        assert any(e.action == "wrapup.save" and e.subject == f"call:{call_id}" for e in audit)


async def test_reload_mid_call_keeps_the_card_and_hostile_names_stay_text(
    sqlite_url: str, browser: Browser
) -> None:
    async with console_stack(sqlite_url, telephony=False) as stack:
        page = await log_in(browser, stack.url, "agent1", PASSWORD, online=True)
        hostile = "<script>alert(1)</script>"
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await stack.bus.publish(ring("b-2", "13999999999", hostile))
        card = page.locator(".card[data-call-id='b-2']")
        await expect(card.locator(".caller-name")).to_have_text(hostile)
        await expect(card.locator(".new-customer")).to_have_text("新客户")
        await stack.bus.publish(
            CallAnswered(
                at=datetime.now(UTC),
                call_id="b-2",
                queue="support",
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                wait_seconds=2.0,
                ring_seconds=3.0,
            )
        )
        await expect(card).to_have_attribute("data-state", "talking")
        await page.reload()
        await expect(page.locator("#conn")).to_have_attribute("data-online", "1")
        card = page.locator(".card[data-call-id='b-2']")
        await expect(card).to_have_attribute("data-state", "talking")
        await expect(card.locator(".caller-name")).to_have_text(hostile)
        assert await page.locator("script:text('alert(1)')").count() == 0
        assert dialogs == []


async def test_screenshot_of_a_pop(sqlite_url: str, browser: Browser, tmp_path: Path) -> None:
    """A pop as the agent sees it, checked in the picture itself; keeps
    docs/screenshot-console.png current (set CALLCENTER_SCREENSHOT=1 to write it there,
    otherwise the picture goes to the test's temp dir)."""
    async with console_stack(sqlite_url) as stack:
        customer = await stack.db.customers.create(
            name="张三",
            phones=["13800138000"],
            company="北京星河贸易有限公司",
            vip_level=2,
            title="采购经理",
            notes="偏好下午来电",
        )
        now = datetime.now(UTC)
        await stack.db.calls.save_many(
            [
                CallRecord(
                    call_id="old-1",
                    direction=Direction.INBOUND,
                    caller_number="13800138000",
                    caller_name="ZHANG SAN",
                    queue="support",
                    agent="Agent 1001",
                    started_at=now - timedelta(days=2),
                    answered_at=now - timedelta(days=2),
                    ended_at=now - timedelta(days=2) + timedelta(minutes=3),
                    talk_seconds=170.0,
                    outcome=CallOutcome.ANSWERED,
                    customer_id=customer.id,
                )
            ]
        )
        await stack.db.calls.save_wrapup(
            "old-1", disposition="order", notes="查询订单 4521 的发货时间", customer_id=customer.id
        )
        await stack.db.callbacks.create(
            phone_e164="+8613800138000",
            reason=CallbackReason.PROMISED,
            created_at=now,
            due_at=now + timedelta(minutes=12),
            customer_id=customer.id,
            owner_user_id=stack.users["agent1"].id,
            question="确认退款进度",
        )
        await stack.db.callbacks.create(
            phone_e164="+8613911112222",
            reason=CallbackReason.ABANDONED,
            created_at=now,
            due_at=now + timedelta(minutes=27),
            question="",
        )
        page = await log_in(browser, stack.url, "agent1", PASSWORD, online=True)
        await page.click("#btn-sign-in")
        await expect(page.locator("#state-pill")).to_have_attribute("data-status", "available")
        call_id = stack.sim.place_call("13800138000", "ZHANG SAN", "support", talk_seconds=60)
        card = page.locator(f".card[data-call-id='{call_id}']")
        await expect(card.locator(".caller-name")).to_have_text(customer.name)
        await expect(card).to_have_attribute("data-state", "talking")
        await card.locator("form.wrapup textarea[name=notes]").fill(
            "客户询问退款进度，已核实订单。"
        )
        # the call timer has ticked past zero (what the picture shows is a call under way)
        await expect(card.locator(".timer")).to_have_text(re.compile(r"^00:(0[1-9]|[1-5]\d)$"))
        await expect(card).to_be_in_viewport()
        name, number = card.locator(".caller-name"), card.locator(".caller-number")
        await expect(name).to_be_visible()
        await expect(number).to_have_text("13800138000")
        await expect(number).to_be_visible()
        # the CJK name is laid out as glyphs: its text has a width of about two characters
        name_width = await name.evaluate(
            "n => { const r = document.createRange(); r.selectNodeContents(n);"
            " return r.getBoundingClientRect().width; }"
        )
        font_px = float(await name.evaluate("n => parseFloat(getComputedStyle(n).fontSize)"))
        assert name_width >= 1.5 * font_px > 0, (name_width, font_px)

        viewport = page.viewport_size
        assert viewport is not None
        if os.environ.get("CALLCENTER_SCREENSHOT"):
            target = Path(__file__).resolve().parents[2] / "docs" / "screenshot-console.png"
        else:
            target = tmp_path / "screenshot-console.png"
        png = await page.screenshot(path=str(target), full_page=False)
        assert target.read_bytes() == png
        assert len(png) > 20_000, len(png)  # a rendered console, not a blank page
        boxes: dict[str, FloatRect] = {}
        for part, locator in (("card", card), ("name", name), ("number", number)):
            box = await locator.bounding_box()
            assert box is not None, part
            assert min(box["width"], box["height"]) > 0, (part, box)
            boxes[part] = box
        for part in ("name", "number"):  # wholly inside the picture
            box = boxes[part]
            assert min(box["x"], box["y"]) >= 0, (part, box)
            assert box["x"] + box["width"] <= viewport["width"], (part, box)
            assert box["y"] + box["height"] <= viewport["height"], (part, box)
        shot = png_decode(png, rows=int(boxes["card"]["y"] + boxes["card"]["height"]) + 1)
        assert (shot.width, shot.height) == (viewport["width"], viewport["height"])

        def region(box: FloatRect) -> tuple[int, int, int, int]:
            return (
                max(0, int(box["x"])),
                max(0, int(box["y"])),
                min(shot.width, int(box["x"] + box["width"])),
                min(shot.height, int(box["y"] + box["height"]), len(shot.rows)),
            )

        colours = {part: len(shot.colours(*region(box))) for part, box in boxes.items()}
        # the pop's pixels are a picture (text, badges, borders), not one flat colour, and
        # the caller's name and number are drawn where the DOM puts them
        assert colours["card"] > 20, (colours, boxes)
        assert colours["name"] > 2, (colours, boxes)
        assert colours["number"] > 2, (colours, boxes)


@pytest.mark.parametrize(
    ("locale", "hold", "unhold", "held"),
    [("en-US", "Hold", "Resume call", "On hold"), ("zh-CN", "保持", "取回", None)],
)
async def test_hold_button_holds_and_resumes(
    sqlite_url: str,
    browser: Browser,
    tmp_path: Path,
    locale: str,
    hold: str,
    unhold: str,
    held: str | None,
) -> None:
    """The hold button is there on every PBX (issue 12: it was hidden in production);
    the simulator holds the way Asterisk does (Redirect to music on hold, then Bridge)."""
    async with console_stack(sqlite_url) as stack:
        page = await log_in(browser, stack.url, "agent1", PASSWORD, locale=locale, online=True)
        await page.click("#btn-sign-in")
        await expect(page.locator("#state-pill")).to_have_attribute("data-status", "available")
        call_id = stack.sim.place_call("13800138000", "WANG FANG", "support", talk_seconds=30)
        card = page.locator(f".card[data-call-id='{call_id}']")
        await expect(card).to_have_attribute("data-state", "talking")
        button = card.locator(".act-hold")
        await expect(button).to_have_text(hold)
        await button.click()
        await expect(card).to_have_attribute("data-state", "held")
        await expect(button).to_have_text(unhold)
        if held is not None:
            await expect(card.locator(".state-badge")).to_have_text(held)
        await page.screenshot(path=str(tmp_path / f"console-held-{locale}.png"))
        await button.click()
        await expect(card).to_have_attribute("data-state", "talking")
        sent = [m.get("Action") for m in stack.sim.actions]
        assert "Redirect" in sent
        assert "Bridge" in sent
