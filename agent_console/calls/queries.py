"""`GET /api/calls` and `GET /api/calls/{call_id}`: call records from the CRM."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field

from agent_console.calls.common import may_see_call
from agent_console.calls.serializers import call_json
from agent_console.web.declared import Given, operation
from agent_console.web.edge import is_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Moment, NoBody, NoQuery, Query, Reply, ShortText, refuse_as
from agent_console.web.requests import audit, deps, team_member_names
from crm_core.domain.models import Role
from crm_core.ports.repositories import CallFilter


class CallsQuery(Query):
    since: Moment | None = None
    until: Moment | None = None
    agent: ShortText = ""
    queue: ShortText = ""
    outcome: ShortText = ""
    customer_id: ShortText = ""  # not a customer's id: no filter
    limit: Annotated[int, Field(ge=0), refuse_as("bad-parameter")] = 200
    offset: Annotated[int, Field(ge=0, le=10_000_000), refuse_as("bad-parameter")] = 0


class CallList(Reply):
    calls: list[dict[str, Any]]


class CallReply(Reply):
    """The CONTRACTS.md call object plus the CRM's own fields (`calls.serializers`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


@operation("GET", "/api/calls", summary="Calls from the CRM", query=CallsQuery, response=CallList)
async def list_calls(request: web.Request, given: Given[NoBody, CallsQuery]) -> Reply:
    user, q = given.user, given.query
    agents: tuple[str, ...] | None = None
    agent = q.agent or None
    if user.role is Role.AGENT:
        agent = user.member_name or "-"
    elif user.role is Role.LEAD:
        agents = await team_member_names(request, user)
    flt = CallFilter(
        since=q.since,
        until=q.until,
        agent=agent,
        agents=agents,
        queue=q.queue or None,
        outcome=q.outcome or None,
        customer_id=int(q.customer_id) if is_id(q.customer_id) else None,
        limit=min(q.limit, 1000),
        offset=q.offset,
    )
    records = await deps(request).db.calls.list(flt)
    await audit(request, "calls.read", "calls", detail=f"list {len(records)}")
    return CallList(calls=[call_json(r) for r in records])


@operation(
    "GET",
    "/api/calls/{call_id}",
    summary="One call: CONTRACTS call object + CRM fields",
    response=CallReply,
    errors=("no-such-call", "not-found"),
)
async def get_call(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    record = await deps(request).db.calls.get(request.match_info["call_id"])
    if not await may_see_call(request, given.user, record):
        raise ProblemError("no-such-call", detail="no such call")
    await audit(request, "calls.read", f"call:{record.call_id}")
    return CallReply.model_validate(call_json(record))
