"""What the call routes share: who may see a call, a request's customer, wrap-up locks."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agent_console.web.deps import ConsoleDeps
from agent_console.web.edge import is_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import team_member_names
from crm_core.domain.models import CallRecord, Role, User
from crm_core.ports.repositories import NotFound


async def may_see_call(request: web.Request, user: User, record: CallRecord) -> bool:
    if user.role in (Role.MANAGER, Role.ADMIN):
        return True
    involved = {record.agent, *(o.agent for o in record.offers)}
    if user.role is Role.AGENT:
        return user.member_name is not None and user.member_name in involved
    names = set(await team_member_names(request, user))
    return bool(names & involved) or (user.member_name in involved)


async def known_customer(s: ConsoleDeps, value: object) -> int | None:
    """A request's `customer_id`: absent, or the id of a customer that exists."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not is_id(str(value)):
        raise ApiError(400, "bad-customer", "customer_id must be a customer's id")
    try:
        await s.db.customers.get(value)
    except NotFound as exc:
        raise ApiError(400, "bad-customer", f"no customer {value}") from exc
    return value


class CallLocks:
    """Serialises the wrap-ups of one call on this instance (a double-click)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, call_id: str) -> asyncio.Lock:
        lock = self._locks.get(call_id)
        if lock is None:
            if len(self._locks) > 1000:  # forget the idle ones
                for key in [k for k, v in self._locks.items() if not v.locked()]:
                    del self._locks[key]
            lock = self._locks[call_id] = asyncio.Lock()
        return lock


WRAPUP_LOCKS_KEY = web.AppKey("wrapup_locks", CallLocks)
