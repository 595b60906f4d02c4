"""Callbacks: the list an agent works through, and the attempts on one."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web

from agent_console.web.declared import Given, operation
from agent_console.web.edge import path_id
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, NoBody, NoQuery, Query, Reply, ShortText, Text, refuse_as
from agent_console.web.replies import CallbackReply
from agent_console.web.requests import audit, deps
from agent_console.web.serializers import callback_json
from crm_core.domain.events import CallbackClosed
from crm_core.domain.models import AttemptResult, CallbackStatus, Role
from crm_core.services.callbacks import schedule_retry

_CALLBACK_STATUS = {
    "open": (CallbackStatus.OPEN, CallbackStatus.OVERDUE),
    "overdue": (CallbackStatus.OVERDUE,),
    "done": (CallbackStatus.DONE, CallbackStatus.SATISFIED, CallbackStatus.CANCELLED),
}


class CallbacksQuery(Query):
    status: Annotated[Literal["open", "overdue", "done"], refuse_as("bad-parameter")] = "open"


class CallbackList(Reply):
    callbacks: list[CallbackReply]
    now: str


class AttemptBody(Body):
    result: Annotated[AttemptResult, refuse_as("bad-result")]
    call_id: ShortText = ""
    note: Text = ""
    close: bool = True  # a reached customer closes the callback


@operation(
    "GET", "/api/callbacks", summary="Callbacks", query=CallbacksQuery, response=CallbackList
)
async def list_callbacks(request: web.Request, given: Given[NoBody, CallbacksQuery]) -> Reply:
    user = given.user
    s = deps(request)
    rows = await s.db.callbacks.list(status=_CALLBACK_STATUS[given.query.status], limit=500)
    if user.role is Role.AGENT:
        rows = [c for c in rows if c.owner_user_id in (None, user.id)]
    rows.sort(key=lambda c: c.due_at)
    return CallbackList(
        callbacks=[
            CallbackReply.model_validate(callback_json(c, s.config.phone_region)) for c in rows
        ],
        now=s.clock.now().isoformat(),
    )


@operation(
    "POST",
    "/api/callbacks/{callback_id}/attempts",
    summary="Record a callback attempt",
    body=AttemptBody,
    response=CallbackReply,
    status=201,
    errors=("not-found", "bad-result", "forbidden"),
)
async def add_attempt(request: web.Request, given: Given[AttemptBody, NoQuery]) -> Reply:
    user, body = given.user, given.body
    callback_id = path_id(request, "callback_id")
    s = deps(request)
    cb = await s.db.callbacks.get(callback_id)
    if user.role is Role.AGENT and cb.owner_user_id not in (None, user.id):
        raise ProblemError("forbidden", detail="this callback belongs to a colleague")
    cb = await s.db.callbacks.add_attempt(
        callback_id,
        at=s.clock.now(),
        result=body.result,
        by_user_id=user.id,
        call_id=body.call_id[:64] or None,
        note=body.note[:2000],
    )
    now = s.clock.now()
    if body.result is AttemptResult.REACHED and body.close:
        cb = await s.db.callbacks.update(
            callback_id,
            status=CallbackStatus.DONE,
            closed_at=now,
            outcome=body.note or "reached",
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
    elif body.result is not AttemptResult.REACHED:
        cb = await schedule_retry(s.db, s.bus, cb, now)
    await audit(request, "callback.attempt", f"callback:{callback_id}", detail=body.result.value)
    return CallbackReply.model_validate(callback_json(cb, s.config.phone_region))
