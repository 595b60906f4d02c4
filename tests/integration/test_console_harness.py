"""The console wired to a real CRM database, the real in-process bus and the PBX
simulator over TCP, served on a real port; plus small real clients.

Shared by the `test_console_*` modules (this module holds no tests itself).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import web

from agent_console.app import create_app
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.deps import ConsoleConfig, ConsoleDeps
from callcenter.adapters import rules_promiser
from callcenter.testing.staff import create_agents, create_lead, numbered_agents
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.domain.models import Role, User
from tests.console_frames import unbatched
from tests.integration.served import served

PASSWORD = "s3cret-pass"
SECRET = "test-secret-key-0123456789"


@dataclass
class Stack:
    db: Any
    bus: InProcessBus
    app: web.Application
    url: str
    sim: Any
    commands: Any
    users: dict[str, User] = field(default_factory=dict)
    parts: list[Any] = field(default_factory=list)

    @property
    def hub(self) -> Any:
        return self.app[HUB_KEY]

    @property
    def seats(self) -> Any:
        return self.app[SEATS_KEY]

    async def token(self, session: aiohttp.ClientSession, username: str) -> str:
        async with session.post(
            f"{self.url}/api/login", json={"username": username, "password": PASSWORD}
        ) as res:
            assert res.status == 200, await res.text()
            body = await res.json()
        return str(body["token"])

    async def ws(
        self, session: aiohttp.ClientSession, token: str, after: int | None = None
    ) -> aiohttp.ClientWebSocketResponse:
        query = f"?token={token}" + (f"&after={after}" if after is not None else "")
        return await session.ws_connect(f"{self.url}/ws{query}", autoping=True)

    async def live(
        self, session: aiohttp.ClientSession, username: str
    ) -> tuple[str, aiohttp.ClientWebSocketResponse]:
        """`username` signed in: the token and a live connection past its snapshot."""
        token = await self.token(session, username)
        ws = await self.ws(session, token)
        await receive_until(ws, "snapshot")
        return token, ws


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def make_users(db: Any) -> dict[str, User]:
    from crm_core.passwords import hash_password

    hashed = hash_password(PASSWORD)
    team = await db.users.get_or_create_team("Team A")
    other = await db.users.get_or_create_team("Team B")
    users = await create_agents(db.users, team.id, numbered_agents(2), hashed)
    users |= await create_agents(db.users, other.id, numbered_agents(3, first=3), hashed)
    users["lead1"] = await create_lead(db.users, team.id, hashed)
    users["manager1"] = await db.users.create(
        username="manager1", display_name="Manager", role=Role.MANAGER, password_hash=hashed
    )
    return users


async def start_telephony(bus: InProcessBus) -> tuple[Any, Any, list[Any]]:
    """Simulator on port 0 (demo phones, answering after 0.3 s), our AMI client reading
    it, domain events onto the bus."""
    from telephony.commands import AmiCommands
    from telephony.sim import demo_simulator
    from telephony.tracker import CallTracker
    from tests.integration.local_reader import local_reader

    sim = demo_simulator(ami_secret="sim-secret", agents=3, answer_after=0.3)
    port = await sim.start("127.0.0.1", 0)

    tracker = CallTracker(15.0)
    client = local_reader(port, "sim-secret", tracker, bus.publish_all)
    client.start()
    await client.wait_connected()
    return sim, AmiCommands(client, tracker), [sim, client]


@asynccontextmanager
async def console_stack(
    database_url: str, *, config: ConsoleConfig | None = None, telephony: bool = True
) -> AsyncIterator[Stack]:
    from crm_core.db import open_database

    db = await _maybe(open_database(database_url, phone_region="CN"))
    bus = InProcessBus()
    users = await make_users(db)
    sim, commands, parts = (None, None, [])
    if telephony:
        from crm_core.services.call_log import CallLogWriter

        writer = CallLogWriter(db.calls, outbox_path=":memory:", bus=bus)
        await writer.start()
        bus.subscribe(writer.handle)
        sim, commands, parts = await start_telephony(bus)
        parts.insert(0, writer)
    async with serve_stack(
        db, bus, sim=sim, commands=commands, users=users, parts=parts, config=config
    ) as stack:
        yield stack


@asynccontextmanager
async def serve_stack(
    db: Any,
    bus: InProcessBus,
    *,
    sim: Any,
    commands: Any,
    users: dict[str, User],
    parts: list[Any],
    config: ConsoleConfig | None = None,
    extra_setup: Sequence[Callable[[web.Application], None]] = (),
) -> AsyncIterator[Stack]:
    """The console over these parts on a real port (test secret, company 示例科技, phones
    in region CN); on leaving, it, the `parts` (last started first) and the database stop."""
    from crm_core.phones import normalize

    services = ConsoleDeps(
        db=db,
        engine=db.engine,
        bus=bus,
        commands=commands,
        clock=SystemClock(),
        callbacks=rules_promiser(db, bus, SystemClock()),
        normalize_phone=lambda raw: normalize(raw, "CN"),
        config=replace(config or ConsoleConfig(), secret_key=SECRET, company_name="示例科技"),
        extra_setup=list(extra_setup),
    )
    app = create_app(services)
    try:
        async with served(app) as url:
            yield Stack(
                db=db,
                bus=bus,
                app=app,
                url=url,
                sim=sim,
                commands=commands,
                users=users,
                parts=parts,
            )
    finally:
        for part in reversed(parts):
            for name in ("stop", "close"):
                method = getattr(part, name, None)
                if method is not None:
                    await _maybe(method())
                    break
        for name in ("close", "dispose"):
            method = getattr(db, name, None)
            if method is not None:
                await _maybe(method())
                break


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, wanted: str, timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read (unpacking array frames) until a message of type `wanted`; return it and all seen."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            for msg in await receive_batch(ws):
                seen.append(msg)
                if msg["type"] == wanted:
                    return msg, seen


async def receive_batch(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frame = await ws.receive()
    if frame.type is not aiohttp.WSMsgType.TEXT:
        raise ConnectionError(f"socket closed: {frame.type} {frame.data} {frame.extra}")
    return unbatched(frame.data)


async def raw_ws_handshake(url: str, token: str, *, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads: a stuck laptop."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock
