"""The agent-sessions use case (`crm_core.services.agent_sessions`) over this console's
seat board, and its errors as catalogued problems: what `agents/` (the agent's own
state) and `wallboard/` (a lead's actions on an agent) share (ADR 0081)."""

from __future__ import annotations

from aiohttp import web

from agent_console.live.keys import SEATS_KEY
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.forwarded import client_ip
from agent_console.web.requests import deps
from crm_core.domain.models import User
from crm_core.services.agent_sessions import (
    Actor,
    AgentSessionError,
    AgentSessions,
    BadPauseReason,
    NoPhone,
    NoSuchAgent,
    NotSupervisor,
    OtherTeam,
    PbxRefused,
    PbxUnavailable,
    SignOutFailed,
)

# every error_id a state change can answer (the routes declare these)
SESSION_ERRORS = (
    "no-phone",
    "bad-reason",
    "pbx-refused",
    "logout-failed",
    "ami-unavailable",
    "ami-timeout",
    "pbx-unavailable",
)
FORCED_ERRORS = (*SESSION_ERRORS, "no-such-agent", "other-team")


def agent_sessions(request: web.Request) -> AgentSessions:
    s = deps(request)
    return AgentSessions(
        commands=s.commands,
        seats=request.app[SEATS_KEY],
        audit=s.db.audit,
        directory=s.db.users,
        clock=s.clock,
        pause_reasons=s.config.pause_reasons,
    )


def actor(request: web.Request, user: User) -> Actor:
    return Actor(user, client_ip(request))


def problem(exc: AgentSessionError) -> ProblemError:
    """The catalogued error of a refused state change."""
    if isinstance(exc, NoPhone):
        error_id = "no-phone"
    elif isinstance(exc, BadPauseReason):
        error_id = "bad-reason"
    elif isinstance(exc, NoSuchAgent):
        error_id = "no-such-agent"
    elif isinstance(exc, NotSupervisor):
        error_id = "forbidden"
    elif isinstance(exc, OtherTeam):
        error_id = "other-team"
    elif isinstance(exc, PbxRefused):
        error_id = "pbx-refused"
    elif isinstance(exc, SignOutFailed):
        error_id = "logout-failed"
    elif isinstance(exc, PbxUnavailable):
        error_id = exc.error_id
    else:
        error_id = "internal"
    return ProblemError(error_id, detail=exc.detail)
