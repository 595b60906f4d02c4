"""`POST /api/agent/state`: an agent signs in to their queues, pauses, resumes, signs out
(the use case: `crm_core.services.agent_sessions`, ADR 0081)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web

from agent_console.agents.serializers import AgentStateReply
from agent_console.live.keys import SEATS_KEY
from agent_console.live.sessions import SESSION_ERRORS, actor, agent_sessions, problem
from agent_console.web.auth import ANY_ROLE
from agent_console.web.declared import Given, operation
from agent_console.web.models import Body, NoQuery, Reply, ShortText, refuse_as
from crm_core.services.agent_sessions import AgentSessionError, SessionAction


class StateBody(Body):
    action: Annotated[SessionAction, refuse_as("bad-action")]
    reason: ShortText = ""  # pause: one of the configured pause reasons


@operation(
    "POST",
    "/api/agent/state",
    summary="sign_in | pause (with a reason) | resume | sign_out: the agent's own state",
    roles=ANY_ROLE,
    body=StateBody,
    response=AgentStateReply,
    errors=("bad-action", *SESSION_ERRORS),
)
async def agent_state(request: web.Request, given: Given[StateBody, NoQuery]) -> Reply:
    user, body = given.user, given.body
    try:
        outcome = await agent_sessions(request).change(
            actor(request, user), body.action, body.reason
        )
    except AgentSessionError as exc:
        raise problem(exc) from exc
    seat = request.app[SEATS_KEY].seat(user.username)
    if seat is not None:
        return AgentStateReply.model_validate(seat.state.to_json())
    return AgentStateReply(
        status=outcome.status.value,
        paused=outcome.paused,
        reason=outcome.reason,
        queues=sorted(outcome.queues),
    )
