"""`POST /api/calls/{call_id}/wrapup`: the route over `crm_core.services.wrapup`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from agent_console.calls.common import WRAPUP_KEY, known_customer, may_see_call
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.declared import Given, operation
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, Int64, Moment, NoQuery, Reply, ShortText, Text, refuse_as
from agent_console.web.requests import audit, deps
from agent_console.web.serializers import callback_json, case_json
from crm_core.ports.repositories import NotFound
from crm_core.services.callbacks import CallbackError
from crm_core.services.wrapup import CallContext, WrapUp, WrapUpError, WrapUpResult

Disposition = Annotated[Text, Field(max_length=60), refuse_as("bad-disposition")]
Score = Annotated[int, Field(ge=1, le=5), refuse_as("bad-satisfaction")]


class WrapUpBody(Body):
    disposition: Disposition | None = None
    disposition_reason: Text = ""
    notes: Text = ""
    result: Annotated[Literal["resolved", "callback", "escalate"], refuse_as("bad-result")] = (
        "resolved"
    )
    customer_id: Int64 | None = None
    phone: ShortText = ""  # a callback's number; default the caller's
    callback_at: Moment | None = None
    question: Text = ""
    escalate_to: Literal["lead", "department"] = "lead"
    department: ShortText = ""
    subject: Text = ""
    complaint: bool = False
    reply_by: Moment | None = None
    satisfaction: Score | None = None  # a follow-up campaign call's score


class WrapUpReply(Reply):
    call_id: str
    result: str
    saved: bool  # False (202): the record is not there yet; it is written when it lands
    callback: dict[str, Any] | None = None
    case: dict[str, Any] | None = None


@operation(
    "POST",
    "/api/calls/{call_id}/wrapup",
    summary="Save wrap-up; callback or escalate",
    body=WrapUpBody,
    response=WrapUpReply,
    errors=(
        "no-such-call",
        "bad-disposition",
        "bad-result",
        "bad-customer",
        "bad-department",
        "bad-satisfaction",
        "no-phone",
        "invalid-phone",
        "promise-too-late",
    ),
)
async def save_wrapup(
    request: web.Request, given: Given[WrapUpBody, NoQuery]
) -> Reply | web.StreamResponse:
    user, body, call_id = given.user, given.body, request.match_info["call_id"]
    s = deps(request)
    seats = request.app[SEATS_KEY]
    card = seats.card(user.username, call_id)
    if card is None:
        try:
            record = await s.db.calls.get(call_id)
        except NotFound as exc:
            raise ProblemError("no-such-call", detail="no such call on your console") from exc
        if not await may_see_call(request, user, record):
            raise ProblemError("no-such-call", detail="no such call on your console")
    context = None
    if card is not None:
        campaign_id = card.get("campaign_id")
        context = CallContext(
            phone=str(card.get("caller_number") or ""),
            queue=card.get("queue"),
            customer_id=card.get("customer_id"),
            campaign_id=int(campaign_id) if campaign_id is not None else None,
        )
    wrapup = WrapUp(
        call_id=call_id,
        agent=user,
        result=WrapUpResult(body.result),
        disposition=body.disposition or None,
        disposition_reason=body.disposition_reason,
        notes=body.notes,
        customer_id=await known_customer(s, body.customer_id),
        phone=body.phone,
        callback_at=body.callback_at,
        question=body.question,
        escalate_to_department=body.escalate_to == "department",
        department=body.department or None,
        subject=body.subject,
        complaint=body.complaint,
        reply_by=body.reply_by,
        satisfaction=body.satisfaction,
    )
    try:
        done = await request.app[WRAPUP_KEY].save(wrapup, context)
    except (WrapUpError, CallbackError) as exc:
        raise ProblemError(exc.error_id, detail=exc.message) from exc
    reply = WrapUpReply(call_id=call_id, result=body.result, saved=done.saved)
    if done.callback is not None:
        reply.callback = callback_json(done.callback, deps(request).config.phone_region)
    if done.case is not None:
        reply.case = case_json(done.case)
        if user.team_id is not None:
            request.app[HUB_KEY].send_to_team(
                user.team_id,
                {"type": "escalation", "case": reply.case, "from": user.username},
                include_leads=True,
            )
    await audit(
        request,
        "wrapup.save",
        f"call:{call_id}",
        detail=f"result={body.result} disposition={wrapup.disposition}",
    )
    seats.dismiss(user.username, call_id)
    if not done.saved:
        return web.json_response(reply.model_dump(mode="json"), status=202)
    return reply
