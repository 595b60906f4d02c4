"""`POST /api/agent/state`: an agent signs in to their queues, pauses, resumes, signs out."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.live.keys import SEATS_KEY
from agent_console.live.seats import SeatBoard
from agent_console.web.auth import current_user
from agent_console.web.deps import ConsoleDeps
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from crm_core.domain.models import AgentStatus, User
from crm_core.ports.telephony import TelephonyError


async def agent_state(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.interface or not user.member_name:
        raise ApiError(409, "no-phone", "this login has no phone interface to sign in with")
    body = await json_body(request)
    action = body.get("action")
    s = deps(request)
    seats = request.app[SEATS_KEY]
    queues = set(user.queues)
    with seats.command(user.username):
        try:
            await _change_state(s, seats, user, action, body, queues)
        except TelephonyError as exc:
            if exc.error_id != "action-failed":
                raise  # the PBX unreachable or slow: 503/504
            # the PBX refused: e.g. resume while in no queue
            raise ApiError(409, "pbx-refused", f"{action}: {exc.message}") from exc
    await audit(request, f"agent.{action}", f"user:{user.username}")
    seat = seats.seat(user.username)
    return web.json_response(seat.state.to_json() if seat else {})


async def _change_state(
    s: ConsoleDeps,
    seats: SeatBoard,
    user: User,
    action: object,
    body: dict[str, Any],
    queues: set[str],
) -> None:
    assert user.interface is not None
    assert user.member_name is not None
    cmds = s.commands
    if action == "sign_in":
        for queue in sorted(queues):
            await cmds.queue_add(queue, user.interface, user.member_name)
        seats.set_state(user.username, status=AgentStatus.AVAILABLE, queues=queues)
    elif action == "pause":
        reason = str(body.get("reason", ""))
        if reason not in s.config.pause_reasons:
            raise ApiError(
                400, "bad-reason", f"pause reason must be one of {list(s.config.pause_reasons)}"
            )
        await cmds.queue_pause(user.interface, True, reason)
        seats.set_state(user.username, status=AgentStatus.PAUSED, paused=True, reason=reason)
    elif action == "resume":
        await cmds.queue_pause(user.interface, False)
        seats.set_state(user.username, status=AgentStatus.AVAILABLE)
    elif action == "sign_out":
        for queue in sorted(queues):
            await cmds.queue_remove(queue, user.interface)
        seats.set_state(user.username, status=AgentStatus.LOGGED_OUT, queues=set())
    else:
        raise ApiError(400, "bad-action", "action must be sign_in, pause, resume or sign_out")
