"""`POST /api/calls/{call_id}/wrapup`: disposition and notes, then a callback or a case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from agent_console.calls.common import WRAPUP_LOCKS_KEY, known_customer, may_see_call
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.live.seats import SeatBoard
from agent_console.web.auth import current_user
from agent_console.web.deps import ConsoleDeps
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body, parse_time
from agent_console.web.serializers import callback_json, case_json
from crm_core.domain.models import Callback, CallbackReason, CaseKind, CaseStatus, User
from crm_core.ports.repositories import NotFound


async def _promise_once(
    s: ConsoleDeps,
    seats: SeatBoard,
    user: User,
    call_id: str,
    phone: str,
    due: datetime,
    customer_id: int | None,
    question: str,
    card: dict[str, Any] | None,
) -> Callback:
    """The callback this call's wrap-up promises: the one promised already, else a new one."""
    for earlier in await s.db.callbacks.list(call_id=call_id):
        if earlier.reason is CallbackReason.PROMISED:
            return earlier
    if s.callbacks is not None:
        return await s.callbacks.promise(
            phone=phone,
            due_at=due,
            customer_id=customer_id,
            owner_user_id=user.id,
            call_id=call_id,
            question=question,
            queue=(card or {}).get("queue"),
        )
    return await s.db.callbacks.create(
        phone_e164=seats.cards.normalize(phone),
        reason=CallbackReason.PROMISED,
        due_at=due,
        created_at=s.clock.now(),
        customer_id=customer_id,
        owner_user_id=user.id,
        queue=(card or {}).get("queue"),
        call_id=call_id,
        question=question,
    )


async def save_wrapup(request: web.Request) -> web.Response:
    user = current_user(request)
    call_id = request.match_info["call_id"]
    body = await json_body(request)
    s = deps(request)
    seats = request.app[SEATS_KEY]
    card = seats.card(user.username, call_id)
    if card is None:
        try:
            record = await s.db.calls.get(call_id)
        except NotFound as exc:
            raise ApiError(404, "no-such-call", "no such call on your console") from exc
        if not await may_see_call(request, user, record):
            raise ApiError(404, "no-such-call", "no such call on your console")
    disposition = body.get("disposition") or None
    if disposition is not None and (not isinstance(disposition, str) or len(disposition) > 60):
        raise ApiError(400, "bad-disposition", "disposition: a code of at most 60 characters")
    notes = str(body.get("notes", ""))[:10_000]
    result = body.get("result", "resolved")
    if result not in ("resolved", "callback", "escalate"):
        raise ApiError(400, "bad-result", "result must be resolved, callback or escalate")
    customer_id = await known_customer(s, body.get("customer_id"))
    if customer_id is None and card is not None:
        customer_id = card.get("customer_id")
    now = s.clock.now()
    out: dict[str, Any] = {"call_id": call_id, "result": result}

    saved = await _save_wrapup_row(s, call_id, disposition, notes, customer_id)
    out["saved"] = saved
    if not saved:
        # The call record lands a moment after the hang-up: finish the write then.
        seats.tasks.spawn(
            _retry_wrapup(s, call_id, disposition, notes, customer_id), f"wrapup:{call_id}"
        )

    phone = str(body.get("phone") or (card or {}).get("caller_number") or "")
    if result == "callback":
        due = parse_time(body.get("callback_at"), "callback_at") or now + timedelta(
            minutes=s.config.callback_window_minutes
        )
        question = str(body.get("question") or notes)[:2000]
        if not phone:
            raise ApiError(400, "no-phone", "a callback needs the customer's phone number")
        # one wrap-up of a call at a time: a double-click without an Idempotency-Key
        # waits for the first and finds its callback instead of promising a second
        async with request.app[WRAPUP_LOCKS_KEY].lock(call_id):
            cb = await _promise_once(
                s, seats, user, call_id, phone, due, customer_id, question, card
            )
        out["callback"] = callback_json(cb)
    elif result == "escalate":
        target = body.get("escalate_to", "lead")
        department = str(body.get("department") or "") or None
        if target == "department" and department not in s.config.departments:
            raise ApiError(
                400, "bad-department", f"department must be one of {list(s.config.departments)}"
            )
        subject = str(body.get("subject") or notes[:80] or call_id)[:200]
        case = await s.db.cases.create(
            kind=CaseKind.COMPLAINT if body.get("complaint") else CaseKind.ESCALATION,
            subject=subject,
            created_at=now,
            customer_id=customer_id,
            owner_user_id=user.id,  # first contact owns it
            department=department if target == "department" else "team_lead",
            call_id=call_id,
            description=notes,
            promised_reply_at=parse_time(body.get("reply_by"), "reply_by"),
        )
        case = await s.db.cases.set_status(
            case.id,
            CaseStatus.ESCALATED,
            at=now,
            by_user_id=user.id,
            note=f"escalated to {department or 'team lead'}",
        )
        out["case"] = case_json(case)
        if user.team_id is not None:
            request.app[HUB_KEY].send_to_team(
                user.team_id,
                {"type": "escalation", "case": case_json(case), "from": user.username},
                include_leads=True,
            )
    await audit(
        request,
        "wrapup.save",
        f"call:{call_id}",
        detail=f"result={result} disposition={disposition}",
    )
    if seats.wrapup_hooks:  # e.g. a campaign call: the disposition lands on the contact
        context = dict(card) if card is not None else await _card_of_record(s, call_id)
        context.setdefault("call_id", call_id)
        for hook in seats.wrapup_hooks:
            await hook(context, body, user)
    seats.dismiss(user.username, call_id)
    return web.json_response(out, status=200 if saved else 202)


async def _card_of_record(s: ConsoleDeps, call_id: str) -> dict[str, Any]:
    """The fields a wrap-up hook reads, from the stored record (the card is gone)."""
    try:
        record = await s.db.calls.get(call_id)
    except NotFound:
        return {"call_id": call_id}
    number = record.dialed_number if record.direction.value == "outbound" else None
    return {
        "call_id": call_id,
        "campaign_id": record.campaign_id,
        "caller_number": number or record.caller_number,
        "customer_id": record.customer_id,
    }


async def _save_wrapup_row(
    s: ConsoleDeps, call_id: str, disposition: str | None, notes: str, customer_id: int | None
) -> bool:
    try:
        await s.db.calls.save_wrapup(
            call_id, disposition=disposition, notes=notes, customer_id=customer_id
        )
    except NotFound:
        return False
    return True


async def _retry_wrapup(
    s: ConsoleDeps, call_id: str, disposition: str | None, notes: str, customer_id: int | None
) -> None:
    for _ in range(240):  # two minutes at 0.5 s
        await s.clock.sleep(0.5)
        if await _save_wrapup_row(s, call_id, disposition, notes, customer_id):
            return
    raise RuntimeError(f"wrap-up for call {call_id} found no call record after 2 minutes")
