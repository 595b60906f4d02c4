"""Signing in through the login page, as a person does, in a browser context of its own
(so two users' cookies never mix): the one log-in of the browser tests."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect


async def log_in(
    browser: Browser,
    site: str,
    username: str,
    password: str,
    *,
    locale: str = "zh-CN",
    size: tuple[int, int] = (1440, 900),
    timezone_id: str | None = None,
    online: bool = False,
) -> Page:
    """`site`: the base URL, with or without its closing slash; `online`: an agent's log-in
    returns once the console's live connection is up, the page's own sign that it works."""
    width, height = size
    context = await browser.new_context(
        locale=locale, viewport={"width": width, "height": height}, timezone_id=timezone_id
    )
    page = await context.new_page()
    await page.goto(f"{site.rstrip('/')}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url)
    if online:
        await expect(page.locator("#conn")).to_have_attribute("data-online", "1")
    return page
