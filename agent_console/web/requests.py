"""Request helpers every feature uses: the JSON body, times, the dependencies, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from agent_console.web.auth import current_user
from agent_console.web.deps import DEPS_KEY, ConsoleDeps
from agent_console.web.edge import check_year, parse_json_object
from agent_console.web.errors import ApiError
from agent_console.web.forwarded import client_ip
from crm_core.domain.models import AuditEntry, User


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, through the edge checks (ADR 0062)."""
    return parse_json_object(await request.read())


def parse_time(value: object, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad-parameter", f"{name}: expected an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", f"{name}: expected an ISO 8601 time") from exc
    check_year(parsed.year, name)  # year 1 at +14:00 overflows on conversion
    if parsed.tzinfo is None:
        raise ApiError(400, "bad-parameter", f"{name}: the time needs a UTC offset")
    return parsed


def deps(request: web.Request) -> ConsoleDeps:
    return request.app[DEPS_KEY]


async def audit(request: web.Request, action: str, subject: str, detail: str = "") -> None:
    user = current_user(request)
    await deps(request).db.audit.record(
        AuditEntry(
            id=None,
            at=deps(request).clock.now(),
            actor_user_id=user.id,
            actor=user.username,
            action=action,
            subject=subject,
            remote=client_ip(request),
            detail=detail,
        )
    )


async def team_member_names(request: web.Request, lead: User) -> tuple[str, ...]:
    members = await deps(request).db.users.list(team_id=lead.team_id) if lead.team_id else []
    return tuple(m.member_name for m in members if m.member_name)
