"""Live figures without the wallboard: rule violations and queue figures."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.keys import LIVE_KEY, SEATS_KEY
from agent_console.wallboard.serializers import violation_json
from agent_console.web.auth import ANY_ROLE, SUPERVISORS, require
from agent_console.web.requests import deps, parse_time, team_member_names
from crm_core.domain.models import AgentStatus, Role


async def list_violations(request: web.Request) -> web.Response:
    user = require(request, *ANY_ROLE)
    since = parse_time(request.query.get("since"), "since")
    agent = user.member_name if user.role is Role.AGENT else request.query.get("agent") or None
    rows = await deps(request).db.violations.list(since=since, agent=agent)
    if user.role is Role.LEAD:
        # a lead sees their own team's violations, whichever agent the query names
        names = set(await team_member_names(request, user))
        rows = [v for v in rows if v.agent in names or (v.agent is None and agent is None)]
    return web.json_response({"violations": [violation_json(v) for v in rows]})


async def list_queues(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    live = request.app[LIVE_KEY]
    if live.queues is not None:
        return web.json_response({"queues": await live.queues(user)})
    figures: dict[str, dict[str, int]] = {}
    for seat in request.app[SEATS_KEY].seats():
        for queue in seat.state.queues:
            f = figures.setdefault(queue, {"members": 0, "available": 0, "paused": 0, "busy": 0})
            f["members"] += 1
            if seat.state.paused:
                f["paused"] += 1
            elif seat.state.status is AgentStatus.AVAILABLE:
                f["available"] += 1
            else:
                f["busy"] += 1
    return web.json_response({"queues": [{"name": k, **v} for k, v in sorted(figures.items())]})
