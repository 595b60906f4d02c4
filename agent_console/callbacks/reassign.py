"""`POST /api/callbacks/{callback_id}/reassign`: a lead hands an open callback on."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.keys import HUB_KEY
from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.edge import path_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, NoQuery, Reply, ShortText
from agent_console.web.requests import audit, deps
from agent_console.web.scope import new_owner, owner_in_scope
from crm_core.domain.models import CallbackStatus
from crm_core.ports.repositories import NotFound


class ReassignBody(Body):
    to: ShortText  # a username or member name


class Reassigned(Reply):
    ok: bool = True
    callback_id: int
    owner: str


@operation(
    "POST",
    "/api/callbacks/{callback_id}/reassign",
    summary="Hand an open callback {to}",
    roles=SUPERVISORS,
    body=ReassignBody,
    response=Reassigned,
    tag="lead",
    errors=("no-such-callback", "callback-closed", "no-such-user", "other-team"),
)
async def reassign_callback(request: web.Request, given: Given[ReassignBody, NoQuery]) -> Reply:
    lead = given.user
    callback_id = path_id(request, "callback_id", "no-such-callback")
    db = deps(request).db
    try:
        callback = await db.callbacks.get(callback_id)
    except NotFound as exc:
        raise ProblemError("no-such-callback", detail=f"no callback {callback_id}") from exc
    if callback.status not in (CallbackStatus.OPEN, CallbackStatus.OVERDUE):
        raise ProblemError("callback-closed", detail=f"callback {callback_id} is {callback.status}")
    await owner_in_scope(request, lead, callback.owner_user_id)
    target = await new_owner(request, lead)  # reads `to` (web.scope, shared with cases)
    await audit(request, "callback.reassign", f"callback:{callback_id}", f"to {target.username}")
    await db.callbacks.update(callback_id, owner_user_id=target.id)
    request.app[HUB_KEY].send_to_user(
        target.username,
        {"type": "callback_assigned", "callback_id": callback_id, "by": lead.username},
    )
    return Reassigned(callback_id=callback_id, owner=target.username)
