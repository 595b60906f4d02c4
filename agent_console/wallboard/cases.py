"""`POST /api/cases/{case_id}/reassign`: a lead hands an open case on."""

from __future__ import annotations

import logging

from aiohttp import web

from agent_console.live.keys import HUB_KEY
from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.edge import path_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps
from agent_console.web.scope import new_owner, owner_in_scope
from crm_core.domain.models import CaseStatus
from crm_core.ports.repositories import NotFound

log = logging.getLogger(__name__)


async def reassign_case(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    case_id = path_id(request, "case_id", "no-such-case")
    db = deps(request).db
    try:
        case = await db.cases.get(case_id)
    except NotFound as exc:
        raise ApiError(404, "no-such-case", f"no case {case_id}") from exc
    if case.status is CaseStatus.CLOSED:
        raise ApiError(409, "case-closed", f"case {case_id} is closed")
    await owner_in_scope(request, lead, case.owner_user_id)
    target = await new_owner(request, lead)
    await audit(request, "case.reassign", f"case:{case_id}", f"to {target.username}")
    await db.cases.reassign(case_id, target.id, at=deps(request).clock.now(), by_user_id=lead.id)
    request.app[HUB_KEY].send_to_user(
        target.username, {"type": "case_assigned", "case_id": case_id, "by": lead.username}
    )
    return web.json_response({"ok": True, "case_id": case_id, "owner": target.username})
