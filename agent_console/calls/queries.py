"""`GET /api/calls` and `GET /api/calls/{call_id}`: call records from the CRM."""

from __future__ import annotations

from aiohttp import web

from agent_console.calls.common import may_see_call
from agent_console.calls.serializers import call_json
from agent_console.web.auth import current_user
from agent_console.web.edge import is_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, parse_time, team_member_names
from crm_core.domain.models import Role
from crm_core.ports.repositories import CallFilter


async def list_calls(request: web.Request) -> web.Response:
    user = current_user(request)
    q = request.query
    try:
        limit = min(int(q.get("limit", "200")), 1000)
        offset = int(q.get("offset", "0"))
        if limit < 0 or not 0 <= offset <= 10_000_000:
            raise ValueError
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", "limit/offset must be whole numbers ≥ 0") from exc
    agents: tuple[str, ...] | None = None
    agent = q.get("agent") or None
    if user.role is Role.AGENT:
        agent = user.member_name or "-"
    elif user.role is Role.LEAD:
        agents = await team_member_names(request, user)
    flt = CallFilter(
        since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"),
        agent=agent,
        agents=agents,
        queue=q.get("queue") or None,
        outcome=q.get("outcome") or None,
        customer_id=int(q["customer_id"]) if is_id(q.get("customer_id", "")) else None,
        limit=limit,
        offset=offset,
    )
    records = await deps(request).db.calls.list(flt)
    await audit(request, "calls.read", "calls", detail=f"list {len(records)}")
    return web.json_response({"calls": [call_json(r) for r in records]})


async def get_call(request: web.Request) -> web.Response:
    user = current_user(request)
    record = await deps(request).db.calls.get(request.match_info["call_id"])
    if not await may_see_call(request, user, record):
        raise ApiError(404, "no-such-call", "no such call")
    await audit(request, "calls.read", f"call:{record.call_id}")
    return web.json_response(call_json(record))
