"""Listen, whisper or barge: one spy session at a time per lead."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from aiohttp import web

from agent_console.web.auth import SUPERVISORS
from agent_console.web.declared import Given, operation
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, NoQuery, Reply, refuse_as
from agent_console.web.requests import audit, deps
from agent_console.web.scope import check_team
from crm_core.domain.models import User
from crm_core.ports.telephony import OriginateResult, SpyMode, TelephonyCommands, TelephonyError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SpySession:
    """A lead's one listen-in: the id we gave the lead's leg (the adapter ends it by that,
    ADR 0096), and the leg's name once Asterisk has named it (for the reply)."""

    member: str
    mode: SpyMode
    channel_id: str
    channel: str | None = None


@dataclass(slots=True)
class SpyDesk:
    """One spy at a time per lead (issue 12: whisper started during listen left two
    ChanSpy sessions ringing the lead). A new mode hangs up the running session, even
    one still ringing the lead's phone, before ringing the phone for the new one."""

    sessions: dict[str, SpySession] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, lead: str) -> asyncio.Lock:
        return self.locks.setdefault(lead, asyncio.Lock())

    async def end(self, lead: str, commands: TelephonyCommands) -> SpySession | None:
        session = self.sessions.pop(lead, None)
        if session is None:
            return None
        try:
            await commands.end_spy(session.channel_id)
        except TelephonyError as exc:  # the PBX is away: the lead's phone hangs up itself
            log.warning("ending the listen-in of %s: %s", lead, exc)
        return session


SPY_KEY = web.AppKey("spy_desk", SpyDesk)


class SpyBody(Body):
    mode: Annotated[Literal["listen", "whisper", "barge", "stop"], refuse_as("bad-mode")] = "listen"


class SpyReply(Reply):
    ok: bool = True
    mode: str
    agent: str
    channel: str | None = None  # the lead's leg, once Asterisk named it
    stopped: bool = False  # a running listen-in was ended first


SPY_ERRORS = (
    "bad-mode",
    "no-phone",
    "no-such-agent",
    "other-team",
    "spy-replaced",
    "spy-failed",
    "action-failed",
    "originate-failed",
    "no-such-channel",
    "ami-unavailable",
    "ami-timeout",
    "pbx-unavailable",
)


async def member_in_scope(request: web.Request, lead: User, member: str) -> User:
    target = await deps(request).db.users.get_by_member_name(member)
    if target is None or not target.interface:
        raise ProblemError("no-such-agent", detail=f"no agent {member!r}")
    check_team(lead, target)
    return target


async def telephony(action: str, step: Awaitable[OriginateResult]) -> OriginateResult:
    try:
        return await step
    except TelephonyError as exc:
        known = exc.error_id if exc.error_id in SPY_ERRORS else "action-failed"
        raise ProblemError(known, detail=f"{action} failed: {exc}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise ProblemError(
            "pbx-unavailable", detail=f"{action} failed: the PBX is not reachable"
        ) from exc


@operation(
    "POST",
    "/api/agents/{member}/spy",
    summary="Listen, whisper or barge {mode} from your phone, one at a time; stop ends it",
    roles=SUPERVISORS,
    body=SpyBody,
    response=SpyReply,
    errors=SPY_ERRORS,
    tag="lead",
)
async def spy(request: web.Request, given: Given[SpyBody, NoQuery]) -> Reply:
    lead, member = given.user, request.match_info["member"]
    target = await member_in_scope(request, lead, member)
    assert target.interface is not None
    mode = None if given.body.mode == "stop" else SpyMode(given.body.mode)
    if not lead.interface:
        raise ProblemError("no-phone", detail="your user has no phone interface to listen on")
    desk, commands = request.app[SPY_KEY], deps(request).commands
    # a new request ends the running one at once, even while it still rings the phone
    ended = await desk.end(lead.username, commands)
    async with desk.lock(lead.username):
        ended = await desk.end(lead.username, commands) or ended
        if mode is None:
            await audit(request, "spy.stop", f"agent:{member}", "")
            return SpyReply(mode="stop", agent=member, stopped=ended is not None)
        await audit(request, f"spy.{mode.value}", f"agent:{member}", f"from {lead.interface}")
        session = SpySession(member=member, mode=mode, channel_id=f"spy-{uuid.uuid4().hex}")
        desk.sessions[lead.username] = session
        try:
            result = await telephony(
                "spy",
                commands.spy(lead.interface, target.interface, mode, channel_id=session.channel_id),
            )
        except ProblemError as exc:
            if desk.sessions.get(lead.username) is not session:
                raise ProblemError(
                    "spy-replaced", detail="this listen-in was ended before it began"
                ) from exc
            desk.sessions.pop(lead.username)
            raise
        if desk.sessions.get(lead.username) is not session:
            # ended (stop, or another mode) while the phone rang
            raise ProblemError("spy-replaced", detail="this listen-in was ended before it began")
        session.channel = result.channel
    if not result.success:
        raise ProblemError(
            "spy-failed", detail=f"your phone did not answer (reason {result.reason})"
        )
    return SpyReply(
        mode=mode.value, agent=member, channel=result.channel, stopped=ended is not None
    )
