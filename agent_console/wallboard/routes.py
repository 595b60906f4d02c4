"""The wallboard routes: violations and queue figures for everyone, and the lead's
tools (`setup_lead_routes`): the wallboard page and socket, actions on agents, spy,
and reassigning cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from agent_console.live.keys import HUB_KEY, LIVE_KEY
from agent_console.wallboard.actions import logout_agent, pause_agent, resume_agent
from agent_console.wallboard.cases import reassign_case
from agent_console.wallboard.live_api import list_queues, list_violations
from agent_console.wallboard.monitor import MONITOR_KEY, LeadMonitor
from agent_console.wallboard.page import wallboard_page
from agent_console.wallboard.spy import SPY_KEY, SpyDesk, spy
from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import add_routes
from agent_console.web.deps import DEPS_KEY
from crm_core.domain.models import User
from crm_core.services.live import AgentFigures, LiveBoard, LiveBoardConfig, QueueFigures


def setup_routes(app: web.Application) -> None:
    add_routes(app, list_violations, list_queues)


def setup_lead_routes(app: web.Application, board: LiveBoardConfig) -> None:
    monitor = LeadMonitor(services=app[DEPS_KEY], hub=app[HUB_KEY], board=LiveBoard(board))
    app[MONITOR_KEY] = monitor
    app[SPY_KEY] = SpyDesk()
    monitor.hub.add_message_handler("wallboard_subscribe", SUPERVISORS, monitor.subscribe)

    live = app[LIVE_KEY]

    async def live_agents(user: User) -> list[AgentFigures]:
        return monitor.view(user)["agents"]

    async def live_queues(user: User) -> list[QueueFigures]:
        return monitor.view(user)["queues"]

    live.agents, live.queues = live_agents, live_queues

    app.router.add_get("/lead", wallboard_page)  # a page, not an API operation
    add_routes(app, pause_agent, resume_agent, logout_agent, spy, reassign_case)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await monitor.start()
        try:
            yield
        finally:
            await monitor.stop()

    app.cleanup_ctx.append(lifecycle)
