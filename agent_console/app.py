"""`create_app(services)`: the console's aiohttp application.

Everything the console runs in the background (the seat board's tasks, the
heartbeat) is started and stopped by the app's `cleanup_ctx`, so the owner of
the app owns them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_console.api import THROTTLE_KEY, setup_api_routes
from agent_console.auth import (
    SIGNER_KEY,
    USERS_KEY,
    TokenSigner,
    UserCache,
    authenticate,
)
from agent_console.errors import json_errors
from agent_console.forwarded import forwarded_middleware
from agent_console.hub import Hub
from agent_console.idempotency import IDEMPOTENCY_KEY, idempotent_writes
from agent_console.keys import HUB_KEY, LIVE_KEY, SEATS_KEY, SERVICES_KEY, LiveProviders
from agent_console.openapi import OPENAPI_KEY, OpenApiRegistry
from agent_console.pages import setup_page_routes
from agent_console.seats import SeatBoard
from agent_console.services import ConsoleServices
from agent_console.throttle import LoginThrottle
from agent_console.ws import websocket
from crm_core.db.idempotency import IdempotencyRepo

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def create_app(services: ConsoleServices, *, hub: Hub | None = None) -> web.Application:
    config = services.config
    middlewares: list[Any] = [json_errors, authenticate, idempotent_writes]
    if config.trust_forwarded_headers:
        middlewares.insert(0, forwarded_middleware())
    app = web.Application(middlewares=middlewares, client_max_size=2 * 1024 * 1024)
    hub = hub or Hub(buffer_size=config.ws_buffer_size, socket_queue=config.ws_socket_queue)
    seats = SeatBoard(services, hub)
    app[SERVICES_KEY] = services
    app[HUB_KEY] = hub
    app[SEATS_KEY] = seats
    app[LIVE_KEY] = LiveProviders()
    signer = TokenSigner(config.secret_key, services.revocations)
    signer.revocations.watch(hub.close_session)  # logged out anywhere: its sockets end here
    app[SIGNER_KEY] = signer
    app[USERS_KEY] = UserCache(services.db.users)
    app[THROTTLE_KEY] = services.login_limiter or LoginThrottle(
        services.clock,
        max_failures=config.login_max_failures,
        max_failures_per_address=config.login_max_failures_per_address,
        window_seconds=config.login_window_seconds,
    )
    app[OPENAPI_KEY] = OpenApiRegistry()
    engine = getattr(services.db, "engine", None)
    if engine is not None:  # the CRM database: keys shared by every instance
        app[IDEMPOTENCY_KEY] = IdempotencyRepo(engine)

    setup_page_routes(app)
    setup_api_routes(app)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", STATIC, append_version=True)
    for extra in services.extra_setup:
        extra(app)
    app.cleanup_ctx.append(_background)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    """Runs before the server waits for open requests: end every console socket (1001)."""
    hub = app[HUB_KEY]
    for username in hub.connected_users():
        hub.close_user(username, 1001)


async def _background(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES_KEY]
    seats = app[SEATS_KEY]
    hub = app[HUB_KEY]
    await seats.start()
    heartbeat = asyncio.create_task(
        hub.run_heartbeats(services.config.heartbeat_seconds, asyncio.sleep), name="ws-heartbeat"
    )
    try:
        yield
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        await seats.stop()
