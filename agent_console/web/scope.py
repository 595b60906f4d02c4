"""A team lead acts on their own team only: the checks the supervision routes share."""

from __future__ import annotations

from aiohttp import web

from agent_console.web.errors import ApiError
from agent_console.web.requests import deps, json_body
from crm_core.domain.models import Role, User
from crm_core.ports.repositories import NotFound


def check_team(lead: User, target: User | None) -> None:
    if lead.role is Role.LEAD and (target is None or target.team_id != lead.team_id):
        raise ApiError(403, "other-team", "a team lead acts on their own team only")


async def new_owner(request: web.Request, lead: User) -> User:
    body = await json_body(request)
    return await owner_named(request, lead, str(body.get("to") or ""))


async def owner_named(request: web.Request, lead: User, name: str) -> User:
    """The active user (by username or member name) a lead hands something to."""
    users = deps(request).db.users
    target = await users.get_by_username(name) or await users.get_by_member_name(name)
    if target is None or not target.active:
        raise ApiError(400, "no-such-user", f"no active user {name!r} to hand it to")
    check_team(lead, target)
    return target


async def owner_in_scope(request: web.Request, lead: User, owner_id: int | None) -> None:
    if lead.role is not Role.LEAD or owner_id is None:
        return
    try:
        owner = await deps(request).db.users.get(owner_id)
    except NotFound:
        return
    check_team(lead, owner)
