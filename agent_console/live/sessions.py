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


# the catalogued error_id of each refusal (a PBX that cannot be reached names its own:
# ami-unavailable, ami-timeout, pbx-unavailable)
_ERROR_IDS: dict[type[AgentSessionError], str] = {
    NoPhone: "no-phone",
    BadPauseReason: "bad-reason",
    NoSuchAgent: "no-such-agent",
    NotSupervisor: "forbidden",
    OtherTeam: "other-team",
    PbxRefused: "pbx-refused",
    SignOutFailed: "logout-failed",
}


def problem(exc: AgentSessionError) -> ProblemError:
    """The catalogued error of a refused state change."""
    if isinstance(exc, PbxUnavailable):
        return ProblemError(exc.error_id, detail=exc.detail)
    error_id = next((e for kind, e in _ERROR_IDS.items() if isinstance(exc, kind)), "internal")
    return ProblemError(error_id, detail=exc.detail)
