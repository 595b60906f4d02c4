"""`create_app(deps)`: the console's aiohttp application, composed of its parts.

Everything the console runs in the background (the seat board's tasks, the
heartbeat) is started and stopped by the app's `cleanup_ctx`, so the owner of
the app owns them too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_console.agents.login import THROTTLE_KEY
from agent_console.api import setup_routes
from agent_console.live.hub import Hub
from agent_console.live.keys import HUB_KEY, LIVE_KEY, SEATS_KEY, LiveProviders
from agent_console.live.seats import SeatBoard
from agent_console.web.auth import (
    SIGNER_KEY,
    USERS_KEY,
    TokenSigner,
    UserCache,
    authenticate,
)
from agent_console.web.deps import DEPS_KEY, ConsoleDeps
from agent_console.web.edge import edge_checks
from agent_console.web.errors import json_errors
from agent_console.web.forwarded import forwarded_middleware
from agent_console.web.idempotency import IDEMPOTENCY_KEY, idempotent_writes
from agent_console.web.pages import JINJA_KEY, make_environment
from agent_console.web.problem_pages import problems_as_pages
from agent_console.web.throttle import LoginThrottle
from crm_core.aio import cancel_and_wait
from crm_core.db.idempotency import IdempotencyRepo

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def create_app(deps: ConsoleDeps, *, hub: Hub | None = None) -> web.Application:
    config = deps.config
    middlewares: list[Any] = [
        json_errors,
        problems_as_pages,
        edge_checks,
        authenticate,
        idempotent_writes,
    ]
    if config.trust_forwarded_headers:
        middlewares.insert(0, forwarded_middleware())
    app = web.Application(middlewares=middlewares, client_max_size=2 * 1024 * 1024)
    hub = hub or Hub(buffer_size=config.ws_buffer_size, socket_queue=config.ws_socket_queue)
    seats = SeatBoard(deps, hub)
    app[DEPS_KEY] = deps
    app[HUB_KEY] = hub
    app[SEATS_KEY] = seats
    app[LIVE_KEY] = LiveProviders()
    signer = TokenSigner(config.secret_key, deps.revocations)
    signer.revocations.watch(hub.close_session)  # logged out anywhere: its sockets end here
    app[SIGNER_KEY] = signer
    app[USERS_KEY] = UserCache(deps.db.users)
    app[THROTTLE_KEY] = deps.login_limiter or LoginThrottle(
        deps.clock,
        max_failures=config.login_max_failures,
        max_failures_per_address=config.login_max_failures_per_address,
        window_seconds=config.login_window_seconds,
    )
    app[JINJA_KEY] = make_environment()
    if deps.engine is not None:  # the CRM database: keys shared by every instance
        app[IDEMPOTENCY_KEY] = IdempotencyRepo(deps.engine)

    setup_routes(app)
    app.router.add_static("/static/", STATIC, append_version=True)
    for extra in deps.extra_setup:
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
    deps = app[DEPS_KEY]
    seats = app[SEATS_KEY]
    hub = app[HUB_KEY]
    await seats.start()
    heartbeat = asyncio.create_task(
        hub.run_heartbeats(deps.config.heartbeat_seconds, asyncio.sleep), name="ws-heartbeat"
    )
    try:
        yield
    finally:
        await cancel_and_wait(heartbeat)
        await seats.stop()
