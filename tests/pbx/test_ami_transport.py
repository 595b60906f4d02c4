"""The AMI client's transport against a real Asterisk: reconnect back-off, refused logins.

Each test starts a bare isolated Asterisk (tests/pbx/asterisk_bare.py) on a free port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.ops import setup_ops_routes
from crm_core.clock import SystemClock
from crm_core.domain.events import AmiConnected, AmiDisconnected, DomainEvent
from crm_core.health import HealthRegistry
from telephony.ami.client import AmiClient, Endpoint
from telephony.pbx_reader import pbx_reader
from telephony.tracker import CallTracker
from tests.pbx.asterisk_bare import BareAsterisk, needs_asterisk

pytestmark = [pytest.mark.pbx, needs_asterisk]

REFUSED = "AMI login refused for user callcenter"


@dataclass
class Link:
    pbx: BareAsterisk
    events: list[DomainEvent] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    health: HealthRegistry = field(default_factory=lambda: HealthRegistry(("ami",)))

    async def sink(self, batch: list[DomainEvent]) -> None:
        for event in batch:
            self.events.append(event)
            self.health.handle(event)
            if isinstance(event, AmiConnected):
                self.connected.set()

    def client(self, secret: str | None = None) -> AmiClient:
        return pbx_reader(
            Endpoint("127.0.0.1", self.pbx.port, self.pbx.username, secret or self.pbx.secret),
            tracker=CallTracker(15.0),
            on_events=self.sink,
            clock=SystemClock(),
            ping_interval=1.0,
            watchdog=5.0,
        )


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[Link]:
    pbx = BareAsterisk(tmp_path / "ast")
    await pbx.start()
    try:
        yield Link(pbx)
    finally:
        await pbx.stop()


async def _session_of(link: Link) -> str:
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while True:
        ids = await link.pbx.sessions(link.pbx.username)
        if len(ids) == 1:
            return ids[0]
        if loop.time() > end:
            raise AssertionError(f"expected one AMI session, Asterisk lists {ids}")
        await asyncio.sleep(0.05)


async def test_each_kick_reconnects_within_two_seconds(link: Link) -> None:
    """Issue 12 #6: eight kicks in a row; the back-off starts over after every login."""
    client = link.client()
    client.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        loop = asyncio.get_running_loop()
        delays: list[float] = []
        for _ in range(8):
            session = await _session_of(link)
            link.connected.clear()
            kicked = loop.time()
            await link.pbx.cli(f"manager kick session {session}")
            await asyncio.wait_for(link.connected.wait(), 10)
            delays.append(loop.time() - kicked)
        logging.getLogger(__name__).warning("reconnect after kicks: %s", delays)
        assert max(delays) < 2.0, delays
        assert client.connects == 9
    finally:
        await client.stop()


async def test_logged_in_again_soon_after_core_restart(link: Link) -> None:
    """Issue 12 #6: `core restart now` → logged in within ~2 s of AMI being back.

    Kicked five times first, as a long-running service would have been: the back-off
    must not carry over from earlier drops.
    """
    client = link.client()
    client.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        for _ in range(5):
            session = await _session_of(link)
            link.connected.clear()
            await link.pbx.cli(f"manager kick session {session}")
            await asyncio.wait_for(link.connected.wait(), 40)
        link.events.clear()
        loop = asyncio.get_running_loop()
        for _ in range(2):
            link.connected.clear()
            await link.pbx.cli("core restart now")
            await asyncio.wait_for(
                _until(lambda: any(isinstance(e, AmiDisconnected) for e in link.events)), 10
            )
            ready = await link.pbx.wait_ami(30)
            await asyncio.wait_for(link.connected.wait(), 30)
            late = loop.time() - ready
            logging.getLogger(__name__).warning("logged in %.2f s after AMI was back", late)
            assert late < 2.5, late
            link.events.clear()
    finally:
        await client.stop()


async def _until(pred: object) -> None:
    assert callable(pred)
    while not pred():
        await asyncio.sleep(0.02)


async def test_refused_login_is_named_once_without_traceback(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 #8: a wrong secret → "AMI login refused for user X", once, on /readyz too."""
    caplog.set_level(logging.DEBUG)
    client = link.client(secret="wrong")
    client.start()
    try:
        # Asterisk answers a bad login after about a second: wait for three refusals
        await asyncio.wait_for(_until(lambda: caplog.text.count(REFUSED) >= 3), 30)
        assert "failed to authenticate" in (link.pbx.root / "log" / "messages").read_text()
    finally:
        await client.stop()
    refused = [r for r in caplog.records if REFUSED in r.message]
    warned = [r for r in refused if r.levelno >= logging.WARNING]
    assert len(warned) == 1, [r.message for r in warned]
    assert len(refused) >= 3  # every retry is still visible at debug level
    assert all(r.exc_info is None for r in caplog.records)
    assert "Task exception was never retrieved" not in caplog.text
    assert "Traceback" not in caplog.text
    ami = link.health.snapshot()["ami"]
    healthy, detail = ami["healthy"], ami["detail"]
    assert healthy is False
    assert str(detail).startswith(REFUSED), detail
    assert client.health() == (False, detail)
    assert not link.health.ready
    gone = [e for e in link.events if isinstance(e, AmiDisconnected)]
    assert len(gone) == 1  # one state change, one event
    app = web.Application()
    setup_ops_routes(app, link.health)
    async with TestClient(TestServer(app)) as http:
        resp = await http.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
    assert body["components"]["ami"]["detail"].startswith(REFUSED)
