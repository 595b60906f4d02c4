"""Listen, whisper or barge: one spy session at a time per lead."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agent_console.wallboard.actions import member_in_scope, telephony
from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from crm_core.ports.telephony import SpyMode, TelephonyError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SpySession:
    """A lead's one listen-in: the Uniqueid we gave its channel, and the channel's name
    once Asterisk has named it."""

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

    async def end(self, lead: str, commands: Any) -> SpySession | None:
        session = self.sessions.pop(lead, None)
        if session is None:
            return None
        for channel in dict.fromkeys((session.channel, session.channel_id)):
            if not channel:
                continue
            try:
                await commands.hangup(channel)
                break
            except TelephonyError as exc:  # already gone: the lead or the call hung up
                log.debug("spy %s of %s: %s", channel, lead, exc)
        return session


SPY_KEY = web.AppKey("spy_desk", SpyDesk)


SPY_MODES = ", ".join([*(m.value for m in SpyMode), "stop"])


async def spy(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    member = request.match_info["member"]
    target = await member_in_scope(request, lead, member)
    assert target.interface is not None
    body = await json_body(request)
    raw = str(body.get("mode", "listen"))
    try:
        mode = None if raw == "stop" else SpyMode(raw)
    except ValueError as exc:
        raise ApiError(400, "bad-mode", f"mode must be one of {SPY_MODES}") from exc
    if not lead.interface:
        raise ApiError(409, "no-phone", "your user has no phone interface to listen on")
    desk, commands = request.app[SPY_KEY], deps(request).commands
    # a new request ends the running one at once, even while it still rings the phone
    ended = await desk.end(lead.username, commands)
    async with desk.lock(lead.username):
        ended = await desk.end(lead.username, commands) or ended
        if mode is None:
            await audit(request, "spy.stop", f"agent:{member}", "")
            return web.json_response(
                {"ok": True, "mode": "stop", "agent": member, "stopped": ended is not None}
            )
        await audit(request, f"spy.{mode.value}", f"agent:{member}", f"from {lead.interface}")
        session = SpySession(member=member, mode=mode, channel_id=f"spy-{uuid.uuid4().hex}")
        desk.sessions[lead.username] = session
        try:
            result = await telephony(
                "spy",
                commands.spy(lead.interface, target.interface, mode, channel_id=session.channel_id),
            )
        except ApiError as exc:
            if desk.sessions.get(lead.username) is not session:
                raise ApiError(
                    409, "spy-replaced", "this listen-in was ended before it began"
                ) from exc
            desk.sessions.pop(lead.username)
            raise
        if desk.sessions.get(lead.username) is not session:
            # ended (stop, or another mode) while the phone rang
            raise ApiError(409, "spy-replaced", "this listen-in was ended before it began")
        session.channel = result.channel
    if not result.success:
        raise ApiError(502, "spy-failed", f"your phone did not answer (reason {result.reason})")
    return web.json_response(
        {"ok": True, "mode": mode.value, "agent": member, "channel": result.channel}
    )
