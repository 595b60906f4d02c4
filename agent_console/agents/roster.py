"""`GET /api/agents`: live agent states for leads and managers."""

from __future__ import annotations

from aiohttp import web

from agent_console.agents.serializers import user_json
from agent_console.live.keys import LIVE_KEY, SEATS_KEY
from agent_console.web.auth import SUPERVISORS, require
from crm_core.domain.models import Role


async def list_agents(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    live = request.app[LIVE_KEY]
    if live.agents is not None:
        return web.json_response({"agents": await live.agents(user)})
    seats = request.app[SEATS_KEY].seats()
    out = [
        {
            **user_json(seat.user),
            "state": seat.state.to_json(),
            "calls": [{"call_id": c["call_id"], "state": c["state"]} for c in seat.cards.values()],
        }
        for seat in seats
        if seat.user.member_name
        and (user.role is not Role.LEAD or seat.user.team_id == user.team_id)
    ]
    return web.json_response({"agents": out})
