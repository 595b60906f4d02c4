"""Supervision actions on an agent: pause, resume, log out (a lead's own team only;
managers and admins everyone). Every action is written to the audit log first."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from agent_console.wallboard.monitor import MONITOR_KEY
from agent_console.web.auth import SUPERVISORS, require
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from agent_console.web.scope import check_team
from crm_core.domain.models import User
from crm_core.ports.telephony import TelephonyError

log = logging.getLogger(__name__)


async def member_in_scope(request: web.Request, lead: User, member: str) -> User:
    target = await deps(request).db.users.get_by_member_name(member)
    if target is None or not target.interface:
        raise ApiError(404, "no-such-agent", f"no agent {member!r}")
    check_team(lead, target)
    return target


async def telephony(action: str, coro: Any) -> Any:
    try:
        return await coro
    except TelephonyError as exc:
        raise ApiError(502, exc.error_id, f"{action} failed: {exc}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise ApiError(
            503, "pbx-unavailable", f"{action} failed: the PBX is not reachable"
        ) from exc


async def agent_action(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    member, action = request.match_info["member"], request.match_info["action"]
    target = await member_in_scope(request, lead, member)
    assert target.interface is not None
    body = await json_body(request) if request.can_read_body else {}
    reason = str(body.get("reason") or "supervisor")
    await audit(request, f"lead.{action}", f"agent:{member}", reason if action == "pause" else "")
    commands = deps(request).commands
    if action == "pause":
        await telephony("pause", commands.queue_pause(target.interface, True, reason))
    elif action == "resume":
        await telephony("resume", commands.queue_pause(target.interface, False))
    else:
        board_agent = request.app[MONITOR_KEY].board.agents.get(member)
        queues = set(target.queues) | (board_agent.queues if board_agent else set())
        removed, errors = [], []
        for queue in sorted(queues):
            try:
                await commands.queue_remove(queue, target.interface)
                removed.append(queue)
            except TelephonyError as exc:  # not a member of that queue: nothing to undo
                errors.append(f"{queue}: {exc}")
        if not removed and errors:
            raise ApiError(502, "logout-failed", "log out failed: " + "; ".join(errors))
        return web.json_response({"ok": True, "agent": member, "action": action, "queues": removed})
    return web.json_response({"ok": True, "agent": member, "action": action})
