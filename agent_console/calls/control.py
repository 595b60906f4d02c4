"""Acting on a call from the console: hold, blind transfer, close the card, click-to-dial."""

from __future__ import annotations

import uuid

from aiohttp import web

from agent_console.calls.common import known_customer
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.auth import current_user
from agent_console.web.dialing import agent_first_call
from agent_console.web.errors import ApiError
from agent_console.web.requests import audit, deps, json_body
from crm_core.ports.telephony import TelephonyError


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
        await deps(request).commands.hold(call_id, hold)
    except TelephonyError as exc:
        raise ApiError(409, exc.error_id, f"{'hold' if hold else 'unhold'} failed: {exc}") from exc
    await audit(request, "call.hold" if hold else "call.unhold", f"call:{call_id}")
    return web.json_response({"ok": True, "held": hold})


async def transfer_call(request: web.Request) -> web.Response:
    user = current_user(request)
    call_id = request.match_info["call_id"]
    body = await json_body(request)
    s = deps(request)
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


async def dial(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.interface:
        raise ApiError(409, "no-phone", "this login has no phone to dial from")
    body = await json_body(request)
    number = "".join(ch for ch in str(body.get("number", "")) if ch in "0123456789+")
    if not 3 <= len(number) <= 20:
        raise ApiError(400, "bad-number", "give a phone number to dial")
    s = deps(request)
    request_id = uuid.uuid4().hex
    variables = {"CC_AGENT": user.username}
    # a record naming a customer that does not exist could never be stored (issue 13 item 1)
    variables_customer = await known_customer(s, body.get("customer_id"))
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

    request.app[SEATS_KEY].tasks.spawn(place(), f"dial:{request_id}")
    return web.json_response({"request_id": request_id, "number": number}, status=202)
