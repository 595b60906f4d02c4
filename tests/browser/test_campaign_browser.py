"""Campaign work in headless Chromium on the demo runtime (simulator, dialer, console):
an agent previews a contact, reads the card, dials it; the call pops with the campaign."""

from __future__ import annotations

import os
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from callcenter.demo_seed import DEMO_PASSWORD
from callcenter.wiring import Runtime
from crm_core.domain.models import Campaign, CampaignContact, CampaignKind, CampaignStatus, DialMode
from telephony.sim.pbx import CustomerPhone
from tests.browser.login import log_in

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs"


async def test_preview_contact_dial_and_campaign_pop(runtime: Runtime, browser: Browser) -> None:
    sim, db = runtime.components.sim, runtime.components.db
    sim.customers["8613500135077"] = CustomerPhone("answer", 0.5, 20.0)
    customer = await db.customers.create(
        name="吴<b>十</b>", phones=["13500135077"], company="杭州云帆科技", vip_level=1
    )
    campaign = await db.campaigns.create(
        Campaign(
            id=0,
            name="老客户回访",
            kind=CampaignKind.SALES,
            mode=DialMode.PREVIEW,
            status=CampaignStatus.RUNNING,
            queue="sales",
            script="您好，我是示例科技的客户经理，想了解您最近的使用体验。",
            calling_hours_start="00:00",
            calling_hours_end="23:59",
            dispositions=("sale", "not_interested", "call_back_later", "do_not_call"),
        )
    )
    await db.campaigns.add_contacts(
        [
            CampaignContact(
                id=0,
                campaign_id=campaign.id,
                phone_e164="+8613500135077",
                name="吴十",
                customer_id=customer.id,
            )
        ]
    )
    page = await log_in(browser, runtime.url, "agent2", DEMO_PASSWORD, online=True)

    await page.click("#btn-preview-next")
    card = page.locator("#preview-card")
    await expect(card).to_be_visible()
    # a hostile name is shown as text, never as markup
    await expect(card.locator(".preview-name")).to_have_text("吴<b>十</b>")
    await expect(card.locator(".preview-campaign")).to_have_text("老客户回访")
    await expect(card.locator(".preview-script")).to_contain_text("使用体验")

    await page.click("#btn-preview-dial")
    await expect(card).to_be_hidden()
    # the agent's phone rings first, then the customer: the call pops with the campaign
    pop = page.locator(".card").first
    await expect(pop.locator(".script.campaign")).to_be_visible(timeout=15_000)
    await expect(pop.locator(".campaign-name")).to_have_text("老客户回访")
    options = pop.locator('select[name="disposition"] option')
    await expect(options).to_have_count(4)
    await expect(options.nth(3)).to_have_text("勿扰（不再拨打）")
    if os.environ.get("CALLCENTER_SCREENSHOT") == "1":
        await page.screenshot(path=str(DOCS / "screenshot-campaign-call.png"), full_page=True)
    await page.context.close()


async def test_operator_creates_loads_and_starts_a_campaign(
    runtime: Runtime, browser: Browser, tmp_path: Path
) -> None:
    page = await log_in(browser, runtime.url, "lead1", DEMO_PASSWORD)
    await page.goto(f"{runtime.url}lead/campaigns")
    await expect(page.locator("#cp-empty")).to_be_visible()

    form = page.locator("#cp-form")
    await form.locator("input[name=name]").fill("双十一回访")
    await form.locator("select[name=queue]").select_option("sales")
    await form.locator("select[name=mode]").select_option("predictive")
    await form.locator("textarea[name=script]").fill("您好，感谢您在双十一期间的购买。")
    await form.locator("button[type=submit]").click()
    row = page.locator("#cp-table tbody tr").first
    await expect(row.locator("td").first).to_have_text("双十一回访")
    await expect(row).to_have_attribute("data-status", "draft")

    contacts = tmp_path / "名单.csv"
    contacts.write_bytes(
        "姓名,电话\n张一,13800138001\n李二,12345\n张一,13800138001\n".encode("gbk")
    )
    async with page.expect_file_chooser() as chooser:
        await row.locator("button[data-action=upload]").click()
    await (await chooser.value).set_files(str(contacts))
    report = page.locator("#cp-report")
    await expect(report).to_be_visible()
    await expect(report.locator(".cp-report-summary")).to_contain_text("已导入 1 个联系人")
    # every row not loaded is listed with its reason: never silently dropped
    rejected = report.locator(".cp-rejected tbody tr")
    await expect(rejected).to_have_count(2)
    await expect(rejected.nth(0).locator("td").nth(1)).to_have_text(
        "第 3 行：电话号码 12345 不是 CN 地区的有效号码。"
    )
    await expect(rejected.nth(1).locator("td").nth(1)).to_have_text(
        "第 4 行：+8613800138001 与第 2 行重复，已合并到该行。"
    )
    await expect(row.locator("td").nth(4)).to_have_text("1")
    shots = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if shots:
        await page.screenshot(path=f"{shots}/campaigns-import-zh-CN.png", full_page=True)

    await row.locator("button[data-action=start]").click()
    await expect(page.locator("#cp-table tbody tr").first).to_have_attribute(
        "data-status", "running"
    )
    if os.environ.get("CALLCENTER_SCREENSHOT") == "1":
        await page.screenshot(path=str(DOCS / "screenshot-campaigns.png"), full_page=True)
    await page.context.close()


def _zone_before_opening() -> str:
    """A time zone where it is now between 00:00 and 07:59 (one always exists)."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
        if now.astimezone(zoneinfo.ZoneInfo(name)).hour < 8:
            return name
    raise AssertionError("no zone before 08:00")


@pytest.mark.parametrize(
    ("locale", "running", "waits", "invalid"),
    [
        (
            "zh-CN",
            "进行中",
            "等待中：不在拨打时段，{time}（{zone}）开始拨打",
            "第 3 行：电话号码 7654321 不是 CN 地区的有效号码。",
        ),
        (
            "en-US",
            "running",
            "waiting: outside calling hours, starts {time} ({zone})",
            "Row 3: the phone number 7654321 is not a valid number in region CN.",
        ),
    ],
)
async def test_a_campaign_outside_its_hours_says_it_waits_and_a_short_number_is_refused(
    runtime: Runtime,
    browser: Browser,
    tmp_path: Path,
    locale: str,
    running: str,
    waits: str,
    invalid: str,
) -> None:
    """Issue 12 #10: 进行中 with no hint that it waits; a 7-digit number accepted."""
    zone = _zone_before_opening()
    opens = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d 09:00")
    db = runtime.components.db
    campaign = await db.campaigns.create(
        Campaign(
            id=0,
            name="夜间名单",
            kind=CampaignKind.SALES,
            mode=DialMode.PROGRESSIVE,
            status=CampaignStatus.RUNNING,
            queue="sales",
            timezone=zone,
        )
    )
    page = await log_in(browser, runtime.url, "lead1", DEMO_PASSWORD, locale=locale)
    await page.goto(f"{runtime.url}lead/campaigns")
    row = page.locator(f"#cp-table tbody tr[data-id='{campaign.id}']")
    await expect(row).to_have_attribute("data-waiting", "outside-calling-hours")
    status = row.locator("td").nth(2)
    await expect(status).to_contain_text(running)
    await expect(status.locator(".cp-wait")).to_have_text(waits.format(time=opens, zone=zone))

    contacts = tmp_path / "list.csv"
    contacts.write_bytes(b"name,phone\nA,13800138009\nB,7654321\n")
    async with page.expect_file_chooser() as chooser:
        await row.locator("button[data-action=upload]").click()
    await (await chooser.value).set_files(str(contacts))
    rejected = page.locator("#cp-report .cp-rejected tbody tr")
    await expect(rejected).to_have_count(1)
    await expect(rejected.first.locator("td").nth(1)).to_have_text(invalid)
    shots = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if shots:
        await page.screenshot(path=f"{shots}/campaigns-waiting-{locale}.png", full_page=True)
    await page.context.close()
