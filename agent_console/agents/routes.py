"""The agent routes: logging in and out, the user's own settings and state, the roster."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.agents.login import api_login, api_logout, me, patch_me
from agent_console.agents.pages import setup_page_routes
from agent_console.agents.roster import list_agents
from agent_console.agents.state import agent_state
from agent_console.web.openapi import TEXT, Route, add_routes, json_object, one_of

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/login"): json_object("username", "password", username=TEXT, password=TEXT),
    ("PATCH", "/api/me"): json_object("language", language=one_of("zh-CN", "en", "")),
    ("POST", "/api/agent/state"): json_object(
        "action", action=one_of("sign_in", "pause", "resume", "sign_out"), reason=TEXT
    ),
}

ROUTES: list[Route] = [
    ("POST", "/api/login", api_login, "Log in; returns a bearer token", (), ()),
    ("POST", "/api/logout", api_logout, "End this session", (), ()),
    ("GET", "/api/me", me, "The signed-in user and their agent state", (), ()),
    ("PATCH", "/api/me", patch_me, "Set the UI language", (), ()),
    ("POST", "/api/agent/state", agent_state, "sign_in | pause | resume | sign_out", (), ()),
    ("GET", "/api/agents", list_agents, "Live agent states", ("lead", "manager", "admin"), ()),
]


def setup_pages(app: web.Application) -> None:
    setup_page_routes(app)


def setup_routes(app: web.Application) -> None:
    add_routes(app, ROUTES, BODIES)
