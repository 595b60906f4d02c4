"""The call routes and their request bodies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.calls.common import WRAPUP_LOCKS_KEY, CallLocks
from agent_console.calls.control import dial, dismiss_call, hold_call, transfer_call
from agent_console.calls.queries import get_call, list_calls
from agent_console.calls.wrapup import save_wrapup
from agent_console.web.openapi import (
    BOOL,
    INT64,
    TEXT,
    TIME,
    Route,
    add_routes,
    json_object,
    one_of,
    text,
    whole,
)

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/calls/{call_id}/wrapup"): json_object(
        disposition=text(60),
        disposition_reason=TEXT,
        notes=TEXT,
        result=one_of("resolved", "callback", "escalate"),
        customer_id=INT64,
        phone=TEXT,
        callback_at=TIME,
        question=TEXT,
        escalate_to=one_of("lead", "department"),
        department=TEXT,
        subject=TEXT,
        complaint=BOOL,
        reply_by=TIME,
        satisfaction=whole(1, 5),
    ),
    ("POST", "/api/calls/{call_id}/hold"): json_object(hold=BOOL),
    ("POST", "/api/calls/{call_id}/transfer"): json_object(
        "target", target=TEXT, kind=one_of("queue", "agent")
    ),
    ("POST", "/api/dial"): json_object("number", number=text(40), customer_id=INT64),
}

QUERY = ("since", "until", "agent", "queue", "outcome", "customer_id", "limit", "offset")
ROUTES: list[Route] = [
    ("GET", "/api/calls", list_calls, "Calls from the CRM", (), QUERY),
    ("GET", "/api/calls/{call_id}", get_call, "One call: CONTRACTS call object + CRM fields",
     (), ()),
    ("POST", "/api/calls/{call_id}/wrapup", save_wrapup, "Save wrap-up; callback or escalate",
     (), ()),
    ("POST", "/api/calls/{call_id}/hold", hold_call, "Hold or resume the call", (), ()),
    ("POST", "/api/calls/{call_id}/transfer", transfer_call,
     "Blind transfer to a queue or colleague", (), ()),
    ("POST", "/api/calls/{call_id}/dismiss", dismiss_call, "Close a finished call's card", (), ()),
    ("POST", "/api/dial", dial, "Click-to-dial: ring the agent, then the number", (), ()),
]  # fmt: skip


def setup_routes(app: web.Application) -> None:
    app[WRAPUP_LOCKS_KEY] = CallLocks()
    add_routes(app, ROUTES, BODIES)
