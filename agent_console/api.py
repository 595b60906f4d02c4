"""The route table: which feature serves which part of the console (CONTRACTS.md).

`setup_routes` adds what every console has; `setup_lead_routes` is the team lead's
extension (`ConsoleDeps.extra_setup`): the wallboard, supervision actions, reassigning
callbacks and cases, and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from agent_console.agents import routes as agent_routes
from agent_console.callbacks import routes as callback_routes
from agent_console.calls import routes as call_routes
from agent_console.customers import routes as customer_routes
from agent_console.live.ws import websocket
from agent_console.reports import routes as report_routes
from agent_console.wallboard import routes as wallboard_routes
from agent_console.web.declared import add_routes
from agent_console.web.deps import DEPS_KEY
from agent_console.web.openapi import openapi_doc
from crm_core.services.live import LiveBoardConfig
from crm_core.services.reports import ReportConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadConfig:
    board: LiveBoardConfig | None = None  # None: defaults + the console's ring limit
    reports: ReportConfig | None = None


def setup_routes(app: web.Application) -> None:
    agent_routes.setup_pages(app)
    agent_routes.setup_routes(app)
    call_routes.setup_routes(app)
    customer_routes.setup_routes(app)
    callback_routes.setup_routes(app)
    wallboard_routes.setup_routes(app)
    add_routes(app, openapi_doc, websocket)


def setup_lead_routes(app: web.Application, config: LeadConfig | None = None) -> None:
    cfg = config or LeadConfig()
    ring_limit = app[DEPS_KEY].config.ring_limit_seconds
    board = cfg.board or LiveBoardConfig(ring_limit_seconds=ring_limit)
    wallboard_routes.setup_lead_routes(app, board)
    callback_routes.setup_reassign_routes(app)
    report_routes.setup_routes(
        app, cfg.reports or ReportConfig(ring_limit_seconds=board.ring_limit_seconds)
    )


__all__ = ["LeadConfig", "setup_lead_routes", "setup_routes"]
