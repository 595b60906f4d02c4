"""Shared browser fixtures: Debian's chromium driven by Playwright, and one SQLite CRM."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from callcenter.wiring import Runtime
from tests.integration.demo_server import demo_runtime

# the flags the machine needs: no sandbox as root, and no calls out to the closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """One backend is enough in the browser; the API tests run on both."""
    from crm_core.db.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_async(url)
    return url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """The demo's whole runtime (simulator, dialer, console) on free ports."""
    runtime = demo_runtime(tmp_path, answer_after_seconds=1.0)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
