"""The callback routes: the list, attempts, and (with the lead's tools) reassigning."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.callbacks.handlers import add_attempt, list_callbacks
from agent_console.callbacks.reassign import reassign_callback
from agent_console.web.auth import SUPERVISORS
from agent_console.web.openapi import (
    BOOL,
    TEXT,
    Route,
    add_routes,
    json_object,
    one_of,
    register_operation,
    text,
)
from crm_core.domain.models import AttemptResult

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/callbacks/{callback_id}/attempts"): json_object(
        "result",
        result=one_of(*(r.value for r in AttemptResult)),
        call_id=text(64),
        note=TEXT,
        close=BOOL,
    ),
}
ROUTES: list[Route] = [
    ("GET", "/api/callbacks", list_callbacks, "Callbacks", (), ("status",)),
    ("POST", "/api/callbacks/{callback_id}/attempts", add_attempt, "Record a callback attempt",
     (), ()),
]  # fmt: skip


def setup_routes(app: web.Application) -> None:
    add_routes(app, ROUTES, BODIES)


def setup_reassign_routes(app: web.Application) -> None:
    """A lead's tool: part of the lead's routes (`agent_console.api.setup_lead_routes`)."""
    app.router.add_post("/api/callbacks/{callback_id:\\d+}/reassign", reassign_callback)
    register_operation(
        app,
        "POST",
        "/api/callbacks/{callback_id}/reassign",
        "Hand an open callback {to}",
        roles=tuple(role.value for role in SUPERVISORS),
        tag="lead",
        request_body=json_object("to", to=TEXT),
    )
