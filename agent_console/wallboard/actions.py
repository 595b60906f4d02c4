"""Supervision actions on an agent: pause, resume, log out (a lead's own team only;
managers and admins everyone). The use case is the agent's own sign-in/out, forced
(`crm_core.services.agent_sessions`, ADR 0081); every attempt is audited first."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.sessions import FORCED_ERRORS, actor, agent_sessions, problem
from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.models import Body, NoBody, NoQuery, Reply, ShortText
from crm_core.domain.models import User
from crm_core.services.agent_sessions import AgentSessionError, SessionAction, SessionOutcome


class LeadPauseBody(Body):
    reason: ShortText = ""  # "supervisor" when left out


class AgentActionReply(Reply):
    ok: bool = True
    agent: str
    action: str


class LogoutReply(AgentActionReply):
    queues: list[str]  # the queues the agent was removed from


async def _force(
    request: web.Request, lead: User, action: SessionAction, reason: str = ""
) -> SessionOutcome:
    member = request.match_info["member"]
    try:
        return await agent_sessions(request).force(actor(request, lead), member, action, reason)
    except AgentSessionError as exc:
        raise problem(exc) from exc


@operation(
    "POST",
    "/api/agents/{member}/pause",
    summary="Pause an agent in every queue {reason} (default: supervisor)",
    roles=SUPERVISORS,
    body=LeadPauseBody,
    response=AgentActionReply,
    errors=FORCED_ERRORS,
    tag="lead",
)
async def pause_agent(request: web.Request, given: Given[LeadPauseBody, NoQuery]) -> Reply:
    await _force(request, given.user, SessionAction.PAUSE, given.body.reason)
    return AgentActionReply(agent=request.match_info["member"], action="pause")


@operation(
    "POST",
    "/api/agents/{member}/resume",
    summary="Resume a paused agent",
    roles=SUPERVISORS,
    response=AgentActionReply,
    errors=FORCED_ERRORS,
    tag="lead",
)
async def resume_agent(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    await _force(request, given.user, SessionAction.RESUME)
    return AgentActionReply(agent=request.match_info["member"], action="resume")


@operation(
    "POST",
    "/api/agents/{member}/logout",
    summary="Remove an agent from their queues (a queue that refuses is skipped)",
    roles=SUPERVISORS,
    response=LogoutReply,
    errors=FORCED_ERRORS,
    tag="lead",
)
async def logout_agent(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    outcome = await _force(request, given.user, SessionAction.SIGN_OUT)
    return LogoutReply(
        agent=request.match_info["member"], action="logout", queues=list(outcome.queues)
    )
