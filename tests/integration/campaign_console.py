"""The console with its campaign routes on a real port, and a lead signed in: the set-up
the campaign API tests share (this module holds no tests itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import aiohttp

from agent_console.app import create_app
from agent_console.campaigns.routes import setup_campaign_routes
from agent_console.web.deps import ConsoleConfig, ConsoleDeps
from callcenter.adapters import rules_promiser
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.db import Database, open_database
from crm_core.domain.models import Role, User
from crm_core.ports.clock import Clock
from tests.integration.served import served
from tests.integration.test_console_harness import PASSWORD, SECRET, make_users


async def bearer(session: aiohttp.ClientSession, url: str, username: str) -> dict[str, str]:
    """Signs `username` in (the test password) and returns its Authorization header."""
    async with session.post(
        f"{url}/api/login", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


@dataclass
class CampaignConsole:
    url: str
    session: aiohttp.ClientSession
    db: Database
    users: dict[str, User]
    headers: dict[str, str]
    """The lead's Authorization header."""

    async def login(self, username: str) -> dict[str, str]:
        return await bearer(self.session, self.url, username)


@asynccontextmanager
async def campaign_console(
    database_url: str, *, clock: Clock | None = None
) -> AsyncIterator[CampaignConsole]:
    """The console with its campaign routes (no telephony) over a fresh database with the
    test users, and a client session in which the lead is signed in."""
    clock = clock or SystemClock()
    db = await open_database(database_url, phone_region="CN")
    users = await make_users(db)
    services = ConsoleDeps(
        db=db,
        engine=db.engine,
        bus=InProcessBus(),
        commands=None,  # type: ignore[arg-type]  # no telephony needed for these routes
        clock=clock,
        callbacks=rules_promiser(db, InProcessBus(), clock),
        config=replace(ConsoleConfig(), secret_key=SECRET),
        extra_setup=[
            setup_campaign_routes(
                campaigns=db.campaigns,
                customers=db.customers,
                dnc=db.dnc,
                surveys=db.surveys,
                cases=db.cases,
                effects=db.effects,
                phone_region="CN",
            )
        ],
    )
    lead = next(u.username for u in users.values() if u.role is Role.LEAD)
    try:
        async with served(create_app(services)) as url, aiohttp.ClientSession() as s:
            yield CampaignConsole(url, s, db, users, await bearer(s, url, lead))
    finally:
        await db.close()
