"""`GET /api/agents`: live agent states for leads and managers."""

from __future__ import annotations

from aiohttp import web

from agent_console.agents.serializers import AgentStateReply, UserReply, user_json
from agent_console.live.keys import LIVE_KEY, SEATS_KEY
from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.models import NoBody, NoQuery, Reply
from crm_core.domain.models import Role
from crm_core.services.live import AgentFigures


class SeatCallReply(Reply):
    call_id: str
    state: str


class SeatAgentReply(UserReply):
    """An agent as the seat board knows them: the user, their state and calls."""

    state: AgentStateReply
    calls: list[SeatCallReply]


class AgentsReply(Reply):
    """One entry per agent: the wallboard's figures where the lead monitor runs, the seat
    board's state otherwise (ADR 0082)."""

    agents: list[AgentFigures] | list[SeatAgentReply]


@operation(
    "GET",
    "/api/agents",
    summary="Live agent states",
    roles=SUPERVISORS,
    response=AgentsReply,
)
async def list_agents(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    user = given.user
    live = request.app[LIVE_KEY]
    if live.agents is not None:
        return AgentsReply(agents=list(await live.agents(user)))
    out = [
        SeatAgentReply.model_validate(
            {
                **user_json(seat.user),
                "state": seat.state.to_json(),
                "calls": [
                    {"call_id": c["call_id"], "state": c["state"]} for c in seat.cards.values()
                ],
            }
        )
        for seat in request.app[SEATS_KEY].seats()
        if seat.user.member_name
        and (user.role is not Role.LEAD or seat.user.team_id == user.team_id)
    ]
    return AgentsReply(agents=out)
