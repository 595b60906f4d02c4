"""`POST /api/cases/{case_id}/reassign`: a lead hands an open case on."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.keys import HUB_KEY
from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.edge import path_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, NoQuery, Reply, ShortText
from agent_console.web.requests import audit, deps
from agent_console.web.scope import owner_in_scope, owner_named
from crm_core.domain.models import CaseStatus
from crm_core.ports.repositories import NotFound


class ReassignBody(Body):
    to: ShortText  # a username or a queue member name


class CaseReassigned(Reply):
    ok: bool = True
    case_id: int
    owner: str


@operation(
    "POST",
    "/api/cases/{case_id}/reassign",
    summary="Hand an open case {to}",
    roles=SUPERVISORS,
    body=ReassignBody,
    response=CaseReassigned,
    errors=("no-such-case", "case-closed", "no-such-user", "other-team"),
    tag="lead",
)
async def reassign_case(request: web.Request, given: Given[ReassignBody, NoQuery]) -> Reply:
    lead = given.user
    case_id = path_id(request, "case_id", "no-such-case")
    db = deps(request).db
    try:
        case = await db.cases.get(case_id)
    except NotFound as exc:
        raise ProblemError("no-such-case", detail=f"no case {case_id}") from exc
    if case.status is CaseStatus.CLOSED:
        raise ProblemError("case-closed", detail=f"case {case_id} is closed")
    await owner_in_scope(request, lead, case.owner_user_id)
    target = await owner_named(request, lead, given.body.to)
    await audit(request, "case.reassign", f"case:{case_id}", f"to {target.username}")
    await db.cases.reassign(case_id, target.id, at=deps(request).clock.now(), by_user_id=lead.id)
    request.app[HUB_KEY].send_to_user(
        target.username, {"type": "case_assigned", "case_id": case_id, "by": lead.username}
    )
    return CaseReassigned(case_id=case_id, owner=target.username)
