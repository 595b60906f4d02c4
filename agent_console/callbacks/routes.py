"""The callback routes: the list, attempts, and (with the lead's tools) reassigning."""

from __future__ import annotations

from aiohttp import web

from agent_console.callbacks.handlers import add_attempt, list_callbacks
from agent_console.callbacks.reassign import reassign_callback
from agent_console.web.declared import add_routes


def setup_routes(app: web.Application) -> None:
    add_routes(app, list_callbacks, add_attempt)


def setup_reassign_routes(app: web.Application) -> None:
    """A lead's tool: part of the lead's routes (`agent_console.api.setup_lead_routes`)."""
    add_routes(app, reassign_callback)
