"""The console's REST API (CONTRACTS.md): login, me, agent state, calls and wrap-up,
customers, callbacks, violations, agents, queues, click-to-dial, hold, transfer."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from agent_console.auth import (
    ANY_ROLE,
    CLAIMS_KEY,
    SESSION_COOKIE,
    SIGNER_KEY,
    SUPERVISORS,
    USERS_KEY,
    current_user,
    require,
)
from agent_console.errors import ApiError
from agent_console.forwarded import client_ip
from agent_console.keys import HUB_KEY, LIVE_KEY, SEATS_KEY, SERVICES_KEY
from agent_console.openapi import register_operation
from agent_console.seats import SeatBoard
from agent_console.services import ConsoleConfig, ConsoleServices
from agent_console.throttle import LoginLimiter
from agent_console.views import (
    call_json,
    callback_json,
    case_json,
    customer_json,
    user_json,
    violation_json,
)
from crm_core.domain.events import CallbackClosed
from crm_core.domain.models import (
    AgentStatus,
    AttemptResult,
    AuditEntry,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallRecord,
    CaseKind,
    CaseStatus,
    Role,
    User,
)
from crm_core.passwords import hash_password, verify_password
from crm_core.phones import InvalidPhoneNumber, carrier_digits, normalize
from crm_core.ports.repositories import CallFilter, NotFound
from crm_core.ports.telephony import OriginateRequest, TelephonyError
from crm_core.services.callbacks import schedule_retry

THROTTLE_KEY = web.AppKey("login_throttle", LoginLimiter)
CUSTOMER_FIELDS = {
    "name": str,
    "company": str,
    "title": str,
    "vip_level": int,
    "notes": str,
    "language": str,
}


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "bad-json", "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "bad-json", "the body must be a JSON object")
    return body


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", f"{name}: expected an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ApiError(400, "bad-parameter", f"{name}: the time needs a UTC offset")
    return parsed


def svc(request: web.Request) -> ConsoleServices:
    return request.app[SERVICES_KEY]


async def audit(request: web.Request, action: str, subject: str, detail: str = "") -> None:
    user = current_user(request)
    await svc(request).db.audit.record(
        AuditEntry(
            id=None,
            at=svc(request).clock.now(),
            actor_user_id=user.id,
            actor=user.username,
            action=action,
            subject=subject,
            remote=client_ip(request),
            detail=detail,
        )
    )


async def team_member_names(request: web.Request, lead: User) -> tuple[str, ...]:
    members = await svc(request).db.users.list(team_id=lead.team_id) if lead.team_id else []
    return tuple(m.member_name for m in members if m.member_name)


# --- login ------------------------------------------------------------------------------


async def check_login(request: web.Request, username: str, password: str) -> User:
    """Throttled password check shared by the login form and `POST /api/login`."""
    throttle = request.app[THROTTLE_KEY]
    ip = client_ip(request)
    wait = await throttle.retry_after(username, ip)
    if wait > 0:
        raise ApiError(429, "rate-limited", f"too many failed logins; try again in {int(wait)} s")
    db = svc(request).db
    stored = await db.users.password_hash(username) if username else None
    user = await db.users.get_by_username(username) if stored else None
    # argon2 takes tens of ms of CPU: keep it off the loop that delivers screen pops.
    # An unknown username costs the same check, so timing does not tell it apart.
    loop = asyncio.get_running_loop()
    checked = stored if stored is not None else _dummy_hash()
    ok = await loop.run_in_executor(None, verify_password, checked, password)
    if not ok or stored is None or user is None or not user.active:
        await throttle.failed(username, ip, account_exists=stored is not None)
        raise ApiError(401, "bad-credentials", "wrong username or password")
    await throttle.succeeded(username, ip)
    return user


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def api_login(request: web.Request) -> web.Response:
    body = await json_body(request)
    user = await check_login(request, str(body.get("username", "")), str(body.get("password", "")))
    ttl = svc(request).config.session_ttl_seconds
    token, claims = request.app[SIGNER_KEY].issue(user, kind="bearer", ttl=ttl, now=time.time())
    return web.json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": datetime.fromtimestamp(claims.expires).astimezone().isoformat(),
            "user": user_json(user),
        }
    )


async def api_logout(request: web.Request) -> web.Response:
    claims = request.get(CLAIMS_KEY)
    if claims is not None:
        await request.app[SIGNER_KEY].revoke(claims, now=time.time())
        request.app[HUB_KEY].close_user(current_user(request).username)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    seat = request.app[SEATS_KEY].seat(user.username)
    return web.json_response(
        {**user_json(user), "agent_state": seat.state.to_json() if seat else None}
    )


async def patch_me(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await json_body(request)
    language = body.get("language")
    if language not in ("zh-CN", "en", ""):
        raise ApiError(400, "bad-language", "language must be zh-CN, en or empty")
    await svc(request).db.users.set_language(user.id, str(language))
    request.app[USERS_KEY].forget(user.id)
    return web.json_response({"language": language})


# --- agent state ------------------------------------------------------------------------


async def agent_state(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.interface or not user.member_name:
        raise ApiError(409, "no-phone", "this login has no phone interface to sign in with")
    body = await json_body(request)
    action = body.get("action")
    s = svc(request)
    seats = request.app[SEATS_KEY]
    queues = set(user.queues)
    with seats.command(user.username):
        await _change_state(s, seats, user, action, body, queues)
    await audit(request, f"agent.{action}", f"user:{user.username}")
    seat = seats.seat(user.username)
    return web.json_response(seat.state.to_json() if seat else {})


async def _change_state(
    s: ConsoleServices,
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


# --- calls ------------------------------------------------------------------------------


async def may_see_call(request: web.Request, user: User, record: CallRecord) -> bool:
    if user.role in (Role.MANAGER, Role.ADMIN):
        return True
    involved = {record.agent, *(o.agent for o in record.offers)}
    if user.role is Role.AGENT:
        return user.member_name is not None and user.member_name in involved
    names = set(await team_member_names(request, user))
    return bool(names & involved) or (user.member_name in involved)


async def list_calls(request: web.Request) -> web.Response:
    user = current_user(request)
    q = request.query
    try:
        limit = min(int(q.get("limit", "200")), 1000)
        offset = int(q.get("offset", "0"))
        if limit < 0 or not 0 <= offset <= 10_000_000:
            raise ValueError
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", "limit/offset must be whole numbers ≥ 0") from exc
    agents: tuple[str, ...] | None = None
    agent = q.get("agent") or None
    if user.role is Role.AGENT:
        agent = user.member_name or "-"
    elif user.role is Role.LEAD:
        agents = await team_member_names(request, user)
    flt = CallFilter(
        since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"),
        agent=agent,
        agents=agents,
        queue=q.get("queue") or None,
        outcome=q.get("outcome") or None,
        customer_id=int(q["customer_id"]) if _is_id(q.get("customer_id", "")) else None,
        limit=limit,
        offset=offset,
    )
    records = await svc(request).db.calls.list(flt)
    await audit(request, "calls.read", "calls", detail=f"list {len(records)}")
    return web.json_response({"calls": [call_json(r) for r in records]})


async def get_call(request: web.Request) -> web.Response:
    user = current_user(request)
    record = await svc(request).db.calls.get(request.match_info["call_id"])
    if not await may_see_call(request, user, record):
        raise ApiError(404, "no-such-call", "no such call")
    await audit(request, "calls.read", f"call:{record.call_id}")
    return web.json_response(call_json(record))


async def _promise_once(
    s: ConsoleServices,
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
        phone_e164=seats.normalize(phone),
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
    s = svc(request)
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
    notes = str(body.get("notes", ""))[:10_000]
    result = body.get("result", "resolved")
    if result not in ("resolved", "callback", "escalate"):
        raise ApiError(400, "bad-result", "result must be resolved, callback or escalate")
    customer_id = body.get("customer_id")
    if customer_id is not None and not isinstance(customer_id, int):
        raise ApiError(400, "bad-customer", "customer_id must be a number")
    if customer_id is None and card is not None:
        customer_id = card.get("customer_id")
    now = s.clock.now()
    out: dict[str, Any] = {"call_id": call_id, "result": result}

    saved = await _save_wrapup_row(s, call_id, disposition, notes, customer_id)
    out["saved"] = saved
    if not saved:
        # The call record lands a moment after the hang-up: finish the write then.
        seats.spawn(_retry_wrapup(s, call_id, disposition, notes, customer_id), f"wrapup:{call_id}")

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
        async with seats.wrapup_lock(call_id):
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


async def _card_of_record(s: ConsoleServices, call_id: str) -> dict[str, Any]:
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
    s: ConsoleServices, call_id: str, disposition: str | None, notes: str, customer_id: int | None
) -> bool:
    try:
        await s.db.calls.save_wrapup(
            call_id, disposition=disposition, notes=notes, customer_id=customer_id
        )
    except NotFound:
        return False
    return True


async def _retry_wrapup(
    s: ConsoleServices, call_id: str, disposition: str | None, notes: str, customer_id: int | None
) -> None:
    for _ in range(240):  # two minutes at 0.5 s
        await s.clock.sleep(0.5)
        if await _save_wrapup_row(s, call_id, disposition, notes, customer_id):
            return
    raise RuntimeError(f"wrap-up for call {call_id} found no call record after 2 minutes")


async def hold_call(request: web.Request) -> web.Response:
    user = current_user(request)
    call_id = request.match_info["call_id"]
    body = await json_body(request)
    seats = request.app[SEATS_KEY]
    card = seats.card(user.username, call_id)
    if card is None:
        raise ApiError(404, "no-such-call", "no such call on your console")
    hold = bool(body.get("hold", True))
    if card.get("state") not in (("talking",) if hold else ("held",)):
        raise ApiError(409, "call-not-up", "only a call you are talking on can be held")
    try:
        await svc(request).commands.hold(call_id, hold)
    except TelephonyError as exc:
        raise ApiError(409, exc.error_id, f"{'hold' if hold else 'unhold'} failed: {exc}") from exc
    await audit(request, "call.hold" if hold else "call.unhold", f"call:{call_id}")
    return web.json_response({"ok": True, "held": hold})


async def transfer_call(request: web.Request) -> web.Response:
    user = current_user(request)
    call_id = request.match_info["call_id"]
    body = await json_body(request)
    s = svc(request)
    seats = request.app[SEATS_KEY]
    if seats.card(user.username, call_id) is None:
        raise ApiError(404, "no-such-call", "no such call on your console")
    target = str(body.get("target", ""))
    kind = body.get("kind", "queue")
    if kind == "queue":
        exten = target
    elif kind == "agent":
        colleague = await s.db.users.get_by_username(target)
        if colleague is None or not colleague.interface:
            raise ApiError(404, "no-such-agent", "no such colleague with a phone")
        exten = colleague.interface.split("/", 1)[-1].split("@", 1)[0]
    else:
        raise ApiError(400, "bad-kind", "kind must be queue or agent")
    if not exten:
        raise ApiError(400, "bad-target", "say where to transfer the call")
    # BlindTransfer's Channel is the *transferer*: the agent's own leg. Asterisk releases
    # it and sends its bridge peer, the customer, on to the target (ADR 0046).
    channel = seats.channel_of(call_id, user.username)
    if channel is None:
        raise ApiError(409, "no-such-channel", "the PBX has not told us your leg of this call")
    await s.commands.blind_transfer(channel, s.config.transfer_context, exten)
    await audit(request, "call.transfer", f"call:{call_id}", detail=f"{kind}:{target}")
    return web.json_response({"ok": True})


async def dismiss_call(request: web.Request) -> web.Response:
    user = current_user(request)
    ok = request.app[SEATS_KEY].dismiss(user.username, request.match_info["call_id"])
    if not ok:
        raise ApiError(409, "call-active", "only a finished call can be closed")
    return web.json_response({"ok": True})


def agent_first_call(
    user: User,
    number: str,
    config: ConsoleConfig,
    *,
    request_id: str,
    variables: dict[str, str],
) -> OriginateRequest:
    """Ring the agent's own phone, then dial `number` from it (click-to-dial, callbacks,
    preview contacts).

    The exten is the number in the carrier's form (setting carrier_number_format); the
    record's `dialed_number` is the number as the CRM keys it, E.164 (or the digits as
    typed when it is no phone number, e.g. an extension), passed as CC_DIALED (ADR 0047).
    """
    assert user.interface is not None
    digits = "".join(ch for ch in number if ch.isdigit())
    try:
        exten = carrier_digits(number, config.phone_region, config.carrier_number_format)
        dialed = normalize(number, config.phone_region)
    except InvalidPhoneNumber:
        exten = dialed = digits
    return OriginateRequest(
        channel=user.interface,
        context=config.dial_context,
        exten=exten,
        caller_id=user.member_name,
        request_id=request_id,
        variables={**variables, "CC_DIALED": dialed},
    )


async def dial(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.interface:
        raise ApiError(409, "no-phone", "this login has no phone to dial from")
    body = await json_body(request)
    number = "".join(ch for ch in str(body.get("number", "")) if ch in "0123456789+")
    if not 3 <= len(number) <= 20:
        raise ApiError(400, "bad-number", "give a phone number to dial")
    s = svc(request)
    request_id = uuid.uuid4().hex
    variables = {"CC_AGENT": user.username}
    variables_customer = body["customer_id"] if isinstance(body.get("customer_id"), int) else None
    if variables_customer is not None:
        variables["CC_CUSTOMER_ID"] = str(variables_customer)
        await audit(request, "customer.dial", f"customer:{body['customer_id']}", detail=number)
    req = agent_first_call(user, number, s.config, request_id=request_id, variables=variables)
    hub = request.app[HUB_KEY]

    async def place() -> None:
        try:
            res = await s.commands.originate(req)
            if res.call_id:
                request.app[SEATS_KEY].pop_outbound(
                    user, res.call_id, number, customer_id=variables_customer
                )
            msg = {
                "type": "dial_result",
                "request_id": request_id,
                "number": number,
                "success": res.success,
                "reason": res.reason,
                "call_id": res.call_id,
            }
        except TelephonyError as exc:
            msg = {
                "type": "dial_result",
                "request_id": request_id,
                "number": number,
                "success": False,
                "error_id": exc.error_id,
                "message": exc.message,
            }
        hub.send_to_user(user.username, msg)

    request.app[SEATS_KEY].spawn(place(), f"dial:{request_id}")
    return web.json_response({"request_id": request_id, "number": number}, status=202)


# --- customers --------------------------------------------------------------------------


async def find_customers(request: web.Request) -> web.Response:
    db = svc(request).db
    phone = request.query.get("phone", "").strip()
    text = request.query.get("q", "").strip()
    if phone:
        found = await db.customers.find_by_phone(phone)
        customers = [found] if found else []
    elif text:
        customers = await db.customers.search(text, limit=20)
    else:
        raise ApiError(400, "bad-parameter", "give ?phone= or ?q=")
    for c in customers:
        await audit(request, "customer.read", f"customer:{c.id}", detail="search")
    return web.json_response({"customers": [customer_json(c) for c in customers]})


async def create_customer(request: web.Request) -> web.Response:
    body = await json_body(request)
    name = str(body.get("name", "")).strip()
    if not name:
        raise ApiError(400, "bad-name", "a customer needs a name")
    phones = [str(p) for p in body.get("phones", []) if str(p).strip()]
    fields = _customer_fields(body, partial=True)
    fields.pop("name", None)
    customer = await svc(request).db.customers.create(name=name, phones=phones, **fields)
    await audit(request, "customer.create", f"customer:{customer.id}")
    return web.json_response(customer_json(customer), status=201)


def _customer_fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in CUSTOMER_FIELDS.items():
        if key in body:
            value = body[key]
            if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
                raise ApiError(400, "bad-field", f"{key} must be a whole number")
            if kind is str and not isinstance(value, str):
                raise ApiError(400, "bad-field", f"{key} must be text")
            out[key] = value
    return out


async def get_customer(request: web.Request) -> web.Response:
    customer_id = _int_param(request, "customer_id")
    customer = await svc(request).db.customers.get(customer_id)
    await audit(request, "customer.read", f"customer:{customer_id}")
    return web.json_response(customer_json(customer))


async def customer_card(request: web.Request) -> web.Response:
    user = current_user(request)
    customer_id = _int_param(request, "customer_id")
    card = await request.app[SEATS_KEY].customer_card(user, customer_id=customer_id)
    return web.json_response(card)


async def patch_customer(request: web.Request) -> web.Response:
    customer_id = _int_param(request, "customer_id")
    body = await json_body(request)
    db = svc(request).db
    fields = _customer_fields(body, partial=True)
    customer = (
        await db.customers.update(customer_id, **fields)
        if fields
        else await db.customers.get(customer_id)
    )
    for phone in body.get("add_phones", []):
        customer = await db.customers.add_phone(customer_id, str(phone))
    await audit(
        request, "customer.update", f"customer:{customer_id}", detail=",".join(sorted(fields))
    )
    return web.json_response(customer_json(customer))


def _is_id(raw: str) -> bool:
    """ASCII digits that fit a database id (`"³".isdigit()` is true, `int("³")` fails)."""
    return 0 < len(raw) <= 18 and raw.isascii() and raw.isdigit()


def _int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not _is_id(raw):
        raise ApiError(404, "not-found", f"no such {name}")
    return int(raw)


# --- callbacks, violations ----------------------------------------------------------------

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
    rows = await svc(request).db.callbacks.list(status=_CALLBACK_STATUS[status], limit=500)
    if user.role is Role.AGENT:
        rows = [c for c in rows if c.owner_user_id in (None, user.id)]
    rows.sort(key=lambda c: c.due_at)
    return web.json_response(
        {"callbacks": [callback_json(c) for c in rows], "now": svc(request).clock.now().isoformat()}
    )


async def add_attempt(request: web.Request) -> web.Response:
    user = current_user(request)
    callback_id = _int_param(request, "callback_id")
    body = await json_body(request)
    try:
        result = AttemptResult(str(body.get("result")))
    except ValueError as exc:
        raise ApiError(
            400, "bad-result", f"result must be one of {[r.value for r in AttemptResult]}"
        ) from exc
    s = svc(request)
    cb = await s.db.callbacks.get(callback_id)
    if user.role is Role.AGENT and cb.owner_user_id not in (None, user.id):
        raise ApiError(403, "forbidden", "this callback belongs to a colleague")
    cb = await s.db.callbacks.add_attempt(
        callback_id,
        at=s.clock.now(),
        result=result,
        by_user_id=user.id,
        call_id=body.get("call_id") or None,
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


async def list_violations(request: web.Request) -> web.Response:
    user = require(request, *ANY_ROLE)
    since = parse_time(request.query.get("since"), "since")
    agent = user.member_name if user.role is Role.AGENT else request.query.get("agent") or None
    rows = await svc(request).db.violations.list(since=since, agent=agent)
    if user.role is Role.LEAD:
        # a lead sees their own team's violations, whichever agent the query names
        names = set(await team_member_names(request, user))
        rows = [v for v in rows if v.agent in names or (v.agent is None and agent is None)]
    return web.json_response({"violations": [violation_json(v) for v in rows]})


# --- live agents and queues -----------------------------------------------------------------


async def list_agents(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    live = request.app[LIVE_KEY]
    if live.agents is not None:
        return web.json_response({"agents": await live.agents(user)})
    seats = request.app[SEATS_KEY].seats()
    out = [
        {
            **user_json(seat.user),
            "state": seat.state.to_json(),
            "calls": [{"call_id": c["call_id"], "state": c["state"]} for c in seat.cards.values()],
        }
        for seat in seats
        if seat.user.member_name
        and (user.role is not Role.LEAD or seat.user.team_id == user.team_id)
    ]
    return web.json_response({"agents": out})


async def list_queues(request: web.Request) -> web.Response:
    user = require(request, *SUPERVISORS)
    live = request.app[LIVE_KEY]
    if live.queues is not None:
        return web.json_response({"queues": await live.queues(user)})
    figures: dict[str, dict[str, int]] = {}
    for seat in request.app[SEATS_KEY].seats():
        for queue in seat.state.queues:
            f = figures.setdefault(queue, {"members": 0, "available": 0, "paused": 0, "busy": 0})
            f["members"] += 1
            if seat.state.paused:
                f["paused"] += 1
            elif seat.state.status is AgentStatus.AVAILABLE:
                f["available"] += 1
            else:
                f["busy"] += 1
    return web.json_response({"queues": [{"name": k, **v} for k, v in sorted(figures.items())]})


async def openapi_doc(request: web.Request) -> web.Response:
    from agent_console.openapi import OPENAPI_KEY

    return web.json_response(request.app[OPENAPI_KEY].document())


def setup_api_routes(app: web.Application) -> None:
    r = app.router
    routes: list[tuple[str, str, Any, str, tuple[str, ...], tuple[str, ...]]] = [
        ("POST", "/api/login", api_login, "Log in; returns a bearer token", (), ()),
        ("POST", "/api/logout", api_logout, "End this session", (), ()),
        ("GET", "/api/me", me, "The signed-in user and their agent state", (), ()),
        ("PATCH", "/api/me", patch_me, "Set the UI language", (), ()),
        ("POST", "/api/agent/state", agent_state, "sign_in | pause | resume | sign_out", (), ()),
        (
            "GET",
            "/api/calls",
            list_calls,
            "Calls from the CRM",
            (),
            ("since", "until", "agent", "queue", "outcome", "customer_id", "limit", "offset"),
        ),
        (
            "GET",
            "/api/calls/{call_id}",
            get_call,
            "One call: CONTRACTS call object + CRM fields",
            (),
            (),
        ),
        (
            "POST",
            "/api/calls/{call_id}/wrapup",
            save_wrapup,
            "Save wrap-up; callback or escalate",
            (),
            (),
        ),
        ("POST", "/api/calls/{call_id}/hold", hold_call, "Hold or resume the call", (), ()),
        (
            "POST",
            "/api/calls/{call_id}/transfer",
            transfer_call,
            "Blind transfer to a queue or colleague",
            (),
            (),
        ),
        (
            "POST",
            "/api/calls/{call_id}/dismiss",
            dismiss_call,
            "Close a finished call's card",
            (),
            (),
        ),
        ("POST", "/api/dial", dial, "Click-to-dial: ring the agent, then the number", (), ()),
        (
            "GET",
            "/api/customers",
            find_customers,
            "Find customers by phone or text",
            (),
            ("phone", "q"),
        ),
        ("POST", "/api/customers", create_customer, "Create a customer", (), ()),
        ("GET", "/api/customers/{customer_id}", get_customer, "One customer", (), ()),
        ("PATCH", "/api/customers/{customer_id}", patch_customer, "Edit a customer", (), ()),
        (
            "GET",
            "/api/customers/{customer_id}/card",
            customer_card,
            "Customer card with history",
            (),
            (),
        ),
        ("GET", "/api/callbacks", list_callbacks, "Callbacks", (), ("status",)),
        (
            "POST",
            "/api/callbacks/{callback_id}/attempts",
            add_attempt,
            "Record a callback attempt",
            (),
            (),
        ),
        ("GET", "/api/violations", list_violations, "Rule violations", (), ("since", "agent")),
        ("GET", "/api/agents", list_agents, "Live agent states", ("lead", "manager", "admin"), ()),
        ("GET", "/api/queues", list_queues, "Live queue figures", ("lead", "manager", "admin"), ()),
    ]
    for method, path, handler, summary, roles, params in routes:
        r.add_route(method, path, handler)
        register_operation(app, method, path, summary, roles=roles, parameters=params)
    r.add_get("/api/openapi.json", openapi_doc)
    register_operation(app, "GET", "/api/openapi.json", "This document")
    register_operation(app, "GET", "/ws", "WebSocket: screen pops, call and agent updates")
