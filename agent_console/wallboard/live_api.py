"""Live figures without the wallboard: rule violations and queue figures."""

from __future__ import annotations

from aiohttp import web
from typing_extensions import TypedDict

from agent_console.live.keys import LIVE_KEY, SEATS_KEY
from agent_console.wallboard.serializers import violation_json
from agent_console.web.auth import ANY_ROLE, SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.models import Moment, NoBody, NoQuery, Query, Reply, ShortText
from agent_console.web.requests import deps, team_member_names
from crm_core.domain.models import AgentStatus, Role
from crm_core.services.live import QueueFigures


class ViolationsQuery(Query):
    since: Moment | None = None
    agent: ShortText | None = None  # an agent sees their own whatever this says


class ViolationsReply(Reply):
    violations: list[dict[str, object]]


class QueueMembers(TypedDict):
    """A queue's signed-in members by state (the console's own, without the lead monitor)."""

    name: str
    members: int
    available: int
    paused: int
    busy: int


class QueuesReply(Reply):
    """The wallboard's figures where the lead monitor runs, the members' states otherwise."""

    queues: list[QueueFigures] | list[QueueMembers]


@operation(
    "GET",
    "/api/violations",
    summary="Rule violations",
    roles=ANY_ROLE,
    query=ViolationsQuery,
    response=ViolationsReply,
)
async def list_violations(request: web.Request, given: Given[NoBody, ViolationsQuery]) -> Reply:
    user, query = given.user, given.query
    agent = user.member_name if user.role is Role.AGENT else query.agent
    rows = await deps(request).db.violations.list(since=query.since, agent=agent)
    if user.role is Role.LEAD:
        # a lead sees their own team's violations, whichever agent the query names
        names = set(await team_member_names(request, user))
        rows = [v for v in rows if v.agent in names or (v.agent is None and agent is None)]
    return ViolationsReply(violations=[violation_json(v) for v in rows])


@operation(
    "GET",
    "/api/queues",
    summary="Live queue figures",
    roles=SUPERVISORS,
    response=QueuesReply,
)
async def list_queues(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    live = request.app[LIVE_KEY]
    if live.queues is not None:
        return QueuesReply(queues=list(await live.queues(given.user)))
    figures: dict[str, QueueMembers] = {}
    for seat in request.app[SEATS_KEY].seats():
        for queue in seat.state.queues:
            f = figures.setdefault(
                queue, {"name": queue, "members": 0, "available": 0, "paused": 0, "busy": 0}
            )
            f["members"] += 1
            if seat.state.paused:
                f["paused"] += 1
            elif seat.state.status is AgentStatus.AVAILABLE:
                f["available"] += 1
            else:
                f["busy"] += 1
    return QueuesReply(queues=[figures[name] for name in sorted(figures)])
