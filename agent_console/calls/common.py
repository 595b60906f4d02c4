"""What the call routes share: who may see a call, a request's customer, the wrap-up."""

from __future__ import annotations

from aiohttp import web

from agent_console.web.deps import ConsoleDeps
from agent_console.web.edge import is_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.requests import team_member_names
from crm_core.domain.models import CallRecord, Role, User
from crm_core.ports.repositories import NotFound
from crm_core.services.wrapup import WrapUpService


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
        raise ProblemError("bad-customer", detail="customer_id must be a customer's id")
    try:
        await s.db.customers.get(value)
    except NotFound as exc:
        raise ProblemError("bad-customer", detail=f"no customer {value}") from exc
    return value


WRAPUP_KEY = web.AppKey("wrapup", WrapUpService)
