"""The wallboard routes: violations and queue figures for everyone, and the lead's
tools (`setup_lead_routes`): the wallboard page and socket, actions on agents, spy,
and reassigning cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from agent_console.live.keys import HUB_KEY, LIVE_KEY
from agent_console.wallboard.actions import agent_action
from agent_console.wallboard.cases import reassign_case
from agent_console.wallboard.live_api import list_queues, list_violations
from agent_console.wallboard.monitor import MONITOR_KEY, LeadMonitor
from agent_console.wallboard.page import wallboard_page
from agent_console.wallboard.spy import SPY_KEY, SpyDesk, spy
from agent_console.web.auth import SUPERVISORS
from agent_console.web.deps import DEPS_KEY
from agent_console.web.openapi import (
    TEXT,
    Route,
    add_routes,
    json_object,
    one_of,
    register_operation,
)
from crm_core.domain.models import User
from crm_core.ports.telephony import SpyMode
from crm_core.services.live import LiveBoard, LiveBoardConfig

ROUTES: list[Route] = [
    ("GET", "/api/violations", list_violations, "Rule violations", (), ("since", "agent")),
    ("GET", "/api/queues", list_queues, "Live queue figures", ("lead", "manager", "admin"), ()),
]


def setup_routes(app: web.Application) -> None:
    add_routes(app, ROUTES, {})


def setup_lead_routes(app: web.Application, board: LiveBoardConfig) -> None:
    monitor = LeadMonitor(services=app[DEPS_KEY], hub=app[HUB_KEY], board=LiveBoard(board))
    app[MONITOR_KEY] = monitor
    app[SPY_KEY] = SpyDesk()
    monitor.hub.add_message_handler("wallboard_subscribe", SUPERVISORS, monitor.subscribe)

    live = app[LIVE_KEY]

    async def live_agents(user: User) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = monitor.view(user)["agents"]
        return agents

    async def live_queues(user: User) -> list[dict[str, Any]]:
        queues: list[dict[str, Any]] = monitor.view(user)["queues"]
        return queues

    live.agents, live.queues = live_agents, live_queues

    r = app.router
    r.add_get("/lead", wallboard_page)
    r.add_post("/api/agents/{member}/{action:pause|resume|logout}", agent_action)
    r.add_post("/api/agents/{member}/spy", spy)
    r.add_post("/api/cases/{case_id:\\d+}/reassign", reassign_case)
    supervisors = tuple(role.value for role in SUPERVISORS)
    bodies = {
        "/api/agents/{member}/pause": json_object(reason=TEXT),
        "/api/agents/{member}/spy": json_object(mode=one_of(*(m.value for m in SpyMode), "stop")),
        "/api/cases/{case_id}/reassign": json_object("to", to=TEXT),
    }
    for method, path, summary in (
        ("POST", "/api/agents/{member}/pause", "Pause an agent in every queue {reason}"),
        ("POST", "/api/agents/{member}/resume", "Resume a paused agent"),
        ("POST", "/api/agents/{member}/logout", "Remove an agent from their queues"),
        (
            "POST",
            "/api/agents/{member}/spy",
            "Listen, whisper or barge {mode} from your phone, one at a time; stop ends it",
        ),
        ("POST", "/api/cases/{case_id}/reassign", "Hand an open case {to}"),
    ):
        register_operation(
            app, method, path, summary, roles=supervisors, tag="lead", request_body=bodies.get(path)
        )

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await monitor.start()
        try:
            yield
        finally:
            await monitor.stop()

    app.cleanup_ctx.append(lifecycle)
