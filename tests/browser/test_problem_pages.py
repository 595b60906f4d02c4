"""Errors in the user's language in the browser (issue 14): a 404 and a 403 of a page are
pages in the console's layout, in zh-CN and in English; an API error the console shows is
rendered from its `code` + `params` with the texts of the user's language.

With CALLCENTER_PROBLEM_SHOTS=<dir> the pictures are kept there (otherwise in the test's
temp dir)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Route, expect

from crm_core.domain.events import AgentRingStarted
from tests.browser.login import log_in
from tests.integration.test_console_harness import PASSWORD
from tests.integration.test_lead_api import lead_stack

pytestmark = pytest.mark.browser

# (browser locale, the page language, texts the page shows)
LANGUAGES = {
    "zh-CN": {
        "not-found": ("未找到。", "404"),
        "forbidden": ("您没有执行此操作的权限。", "403"),
        "needs-name": "出错了：客户必须有姓名。",
        "too-long": "出错了：company：文字过长。",
    },
    "en-US": {
        "not-found": ("Not found.", "404"),
        "forbidden": ("You do not have permission to do this.", "403"),
        "needs-name": "Something went wrong: A customer needs a name.",
        "too-long": "Something went wrong: company: the text is too long.",
    },
}


def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("CALLCENTER_PROBLEM_SHOTS", str(tmp_path)))
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.parametrize("locale", list(LANGUAGES))
async def test_a_missing_page_and_a_forbidden_page_are_pages_in_the_users_language(
    sqlite_url: str, browser: Browser, tmp_path: Path, locale: str
) -> None:
    texts = LANGUAGES[locale]
    async with lead_stack(sqlite_url) as stack:
        page = await log_in(
            browser, stack.url, "agent1", PASSWORD, locale=locale, size=(1280, 800), online=True
        )
        for error_id, path in (
            ("not-found", "/no-such-page"),
            ("forbidden", "/lead/reports"),
            ("forbidden", "/lead"),
        ):
            message, status = texts[error_id]
            response = await page.goto(f"{stack.url}{path}")
            assert response is not None
            assert response.status == int(status), path
            assert "text/html" in response.headers["content-type"], path
            box = page.locator("main[data-error-id]")
            await expect(box).to_have_attribute("data-error-id", error_id)
            await expect(box.locator(".form-error")).to_have_text(message)
            await expect(box.locator(".brand-sub")).to_contain_text(status)
            await expect(page.locator("html")).to_have_attribute(
                "lang", "zh-CN" if locale == "zh-CN" else "en"
            )
            # a way back to the console, in the page's language
            back = box.locator("a[href='/']")
            await expect(back).to_be_visible()
            if path != "/lead":
                name = f"problem-{status}-{path.strip('/').replace('/', '-')}-{locale}.png"
                png = await page.screenshot(path=str(shots(tmp_path) / name))
                assert len(png) > 5_000  # a rendered page, not a blank one
        await page.context.close()


@pytest.mark.parametrize("locale", list(LANGUAGES))
async def test_an_api_error_is_shown_in_the_users_language_in_the_console(
    sqlite_url: str, browser: Browser, tmp_path: Path, locale: str
) -> None:
    async with lead_stack(sqlite_url) as stack:
        page = await log_in(
            browser, stack.url, "agent1", PASSWORD, locale=locale, size=(1280, 800), online=True
        )
        await stack.bus.publish(
            AgentRingStarted(
                at=datetime.now(UTC),
                call_id="c-err",
                queue="support",
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                caller_number="13911112222",
                caller_name="LI SI",
            )
        )
        card = page.locator(".card[data-call-id='c-err']")
        form = card.locator("form.customer-form")
        await expect(form).to_be_visible()
        # blanks pass the browser's `required`; the server refuses them (bad-name)
        await form.locator("input[name=name]").fill("   ")
        async with page.expect_response(
            lambda r: r.url.endswith("/api/customers") and r.request.method == "POST"
        ) as answer:
            await form.locator("button[type=submit]").click()
        refusal = await (await answer.value).json()
        assert refusal["error_id"] == "bad-name"
        assert refusal["code"] == "customer.needs_name"
        toast = page.locator("#toast")
        await expect(toast).to_have_text(LANGUAGES[locale]["needs-name"])
        await expect(toast).to_have_class("toast show bad")
        await expect(toast).to_have_css("opacity", "1")
        await page.screenshot(path=str(shots(tmp_path) / f"console-api-error-{locale}.png"))

        # the text comes from `code` + `params` and the page's texts, not from `message`
        async def refuse(route: Route) -> None:
            await route.fulfill(
                status=400,
                json={
                    "error_id": "bad-field",
                    "message": "SERVER TEXT",
                    "code": "validation.too_long",
                    "params": {"field": "company"},
                },
            )

        await page.route("**/api/customers", refuse)
        await form.locator("input[name=name]").fill("王芳")
        await form.locator("button[type=submit]").click()
        await expect(toast).to_have_text(LANGUAGES[locale]["too-long"])
        await page.context.close()
