"""Callbacks: the list an agent works through, and the attempts on one."""

from __future__ import annotations

from aiohttp import web

from agent_console.web.auth import current_user
from agent_console.web.edge import path_id
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from agent_console.web.serializers import callback_json
from crm_core.domain.events import CallbackClosed
from crm_core.domain.models import AttemptResult, CallbackStatus, Role
from crm_core.services.callbacks import schedule_retry

_CALLBACK_STATUS = {
    "open": (CallbackStatus.OPEN, CallbackStatus.OVERDUE),
    "overdue": (CallbackStatus.OVERDUE,),
    "done": (CallbackStatus.DONE, CallbackStatus.SATISFIED, CallbackStatus.CANCELLED),
}


async def list_callbacks(request: web.Request) -> web.Response:
    user = current_user(request)
    status = request.query.get("status", "open")
    if status not in _CALLBACK_STATUS:
        raise ApiError(400, "bad-parameter", "status must be open, overdue or done")
    rows = await deps(request).db.callbacks.list(status=_CALLBACK_STATUS[status], limit=500)
    if user.role is Role.AGENT:
        rows = [c for c in rows if c.owner_user_id in (None, user.id)]
    rows.sort(key=lambda c: c.due_at)
    return web.json_response(
        {
            "callbacks": [callback_json(c) for c in rows],
            "now": deps(request).clock.now().isoformat(),
        }
    )


async def add_attempt(request: web.Request) -> web.Response:
    user = current_user(request)
    callback_id = path_id(request, "callback_id")
    body = await json_body(request)
    try:
        result = AttemptResult(str(body.get("result")))
    except ValueError as exc:
        raise ApiError(
            400, "bad-result", f"result must be one of {[r.value for r in AttemptResult]}"
        ) from exc
    s = deps(request)
    cb = await s.db.callbacks.get(callback_id)
    if user.role is Role.AGENT and cb.owner_user_id not in (None, user.id):
        raise ApiError(403, "forbidden", "this callback belongs to a colleague")
    cb = await s.db.callbacks.add_attempt(
        callback_id,
        at=s.clock.now(),
        result=result,
        by_user_id=user.id,
        call_id=str(body.get("call_id") or "")[:64] or None,
        note=str(body.get("note", ""))[:2000],
    )
    now = s.clock.now()
    if result is AttemptResult.REACHED and body.get("close", True):
        cb = await s.db.callbacks.update(
            callback_id,
            status=CallbackStatus.DONE,
            closed_at=now,
            outcome=str(body.get("note", "")) or "reached",
        )
        await s.bus.publish(
            CallbackClosed(
                at=now,
                callback_id=cb.id,
                status="done",
                outcome=cb.outcome,
                in_time=now <= cb.due_at,
            )
        )
    elif result is not AttemptResult.REACHED:
        cb = await schedule_retry(s.db, s.bus, cb, now)
    await audit(request, "callback.attempt", f"callback:{callback_id}", detail=result.value)
    return web.json_response(callback_json(cb), status=201)
