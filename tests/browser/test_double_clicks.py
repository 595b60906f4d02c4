"""Double-clicks do things once (issue 13 item 4): 保存小结 promises one callback,
创建 creates one campaign — in the browser, as people click."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, Request, expect

from callcenter.demo_seed import DEMO_PASSWORD
from callcenter.wiring import Runtime
from crm_core.domain.models import CallbackReason
from tests.browser.login import log_in
from tests.integration.test_console_harness import PASSWORD, console_stack
from tests.polling import eventually

pytestmark = pytest.mark.browser


class Posts:
    """The page's POSTs whose path ends with `suffix`: how many left, how many were
    answered (or failed). When all that left are answered, the server has done all the
    clicks asked of it: the positive sign that a double would show now."""

    def __init__(self, page: Page, suffix: str) -> None:
        self.suffix = suffix
        self.sent = 0
        self.done = 0
        page.on("request", self._sent)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _ours(self, request: Request) -> bool:
        return request.method == "POST" and request.url.split("?")[0].endswith(self.suffix)

    def _sent(self, request: Request) -> None:
        self.sent += self._ours(request)

    def _done(self, request: Request) -> None:
        self.done += self._ours(request)

    def settled(self) -> bool:
        return self.sent >= 1 and self.done == self.sent


async def test_double_clicking_save_wrapup_promises_one_callback(
    sqlite_url: str, browser: Browser
) -> None:
    async with console_stack(sqlite_url) as stack:
        page = await log_in(browser, stack.url, "agent1", PASSWORD, online=True)
        await page.click("#btn-sign-in")
        await expect(page.locator("#state-pill")).to_have_attribute("data-status", "available")
        call_id = stack.sim.place_call("13800138000", "张三", "support", talk_seconds=1.0)
        card = page.locator(f".card[data-call-id='{call_id}']")
        await expect(card).to_have_attribute("data-state", "ended", timeout=15_000)
        await card.locator("input[name=result][value=callback]").check()
        await card.locator("form.wrapup textarea[name=notes]").fill("客户要报价单")
        saves = Posts(page, f"/api/calls/{call_id}/wrapup")
        await card.locator("form.wrapup button[type=submit]").dblclick()
        await expect(card).to_have_count(0)
        await eventually(saves.settled, timeout=10, what="every save answered")
        callbacks = [
            c
            for c in await stack.db.callbacks.list(call_id=call_id)
            if c.reason is CallbackReason.PROMISED
        ]
        assert len(callbacks) == 1


async def test_double_clicking_create_makes_one_campaign(
    runtime: Runtime, browser: Browser
) -> None:
    page = await log_in(browser, runtime.url, "lead1", DEMO_PASSWORD)
    await page.goto(f"{runtime.url}lead/campaigns")
    form = page.locator("#cp-form")
    await form.locator("input[name=name]").fill("双击测试")
    await form.locator("select[name=queue]").select_option("sales")
    creates = Posts(page, "/api/campaigns")
    await form.locator("button[type=submit]").dblclick()
    await expect(page.locator("#cp-table tbody tr").first.locator("td").first).to_have_text(
        "双击测试"
    )
    await eventually(creates.settled, timeout=10, what="every create answered")
    await page.reload()
    await expect(page.locator("#cp-table tbody tr")).to_have_count(1)
    db = runtime.components.db
    assert [c.name for c in await db.campaigns.list()] == ["双击测试"]
    await page.context.close()
