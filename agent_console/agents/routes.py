"""The agent routes: logging in and out, the user's own settings and state, the roster."""

from __future__ import annotations

from aiohttp import web

from agent_console.agents.login import api_login, api_logout, me, patch_me
from agent_console.agents.pages import setup_page_routes
from agent_console.agents.roster import list_agents
from agent_console.agents.state import agent_state
from agent_console.web.declared import add_routes


def setup_pages(app: web.Application) -> None:
    setup_page_routes(app)


def setup_routes(app: web.Application) -> None:
    add_routes(app, api_login, api_logout, me, patch_me, agent_state, list_agents)
