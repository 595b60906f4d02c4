"""`POST /api/callbacks/{callback_id}/reassign`: a lead hands an open callback on."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.keys import HUB_KEY
from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.edge import path_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps
from agent_console.web.scope import new_owner, owner_in_scope
from crm_core.domain.models import CallbackStatus
from crm_core.ports.repositories import NotFound


async def reassign_callback(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    callback_id = path_id(request, "callback_id", "no-such-callback")
    db = deps(request).db
    try:
        callback = await db.callbacks.get(callback_id)
    except NotFound as exc:
        raise ApiError(404, "no-such-callback", f"no callback {callback_id}") from exc
    if callback.status not in (CallbackStatus.OPEN, CallbackStatus.OVERDUE):
        raise ApiError(409, "callback-closed", f"callback {callback_id} is {callback.status}")
    await owner_in_scope(request, lead, callback.owner_user_id)
    target = await new_owner(request, lead)
    await audit(request, "callback.reassign", f"callback:{callback_id}", f"to {target.username}")
    await db.callbacks.update(callback_id, owner_user_id=target.id)
    request.app[HUB_KEY].send_to_user(
        target.username,
        {"type": "callback_assigned", "callback_id": callback_id, "by": lead.username},
    )
    return web.json_response({"ok": True, "callback_id": callback_id, "owner": target.username})
