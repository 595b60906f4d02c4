"""Acting on a call from the console: hold, blind transfer, close the card, click-to-dial.

The PBX is told by call id (`TelephonyCommands`, ADR 0072): the telephony adapter knows
the call's channels, the console does not."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from agent_console.calls.common import known_customer
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.declared import Given, operation
from agent_console.web.dialing import agent_first_call
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.models import Body, Int64, NoBody, NoQuery, Reply, ShortText, Text, refuse_as
from agent_console.web.requests import audit, deps
from crm_core.ports.telephony import TelephonyError


class Ok(Reply):
    ok: bool = True


class HoldBody(Body):
    hold: bool = True


class Held(Reply):
    ok: bool = True
    held: bool


class TransferBody(Body):
    target: ShortText = ""
    kind: Annotated[Literal["queue", "agent"], refuse_as("bad-kind")] = "queue"


class DialBody(Body):
    number: Annotated[Text, Field(max_length=40)] = ""
    # text is refused as `bad-customer` (`known_customer`), a number beyond 64 bits as
    # `out-of-range`
    customer_id: Int64 | str | None = None


class Dialling(Reply):
    request_id: str
    number: str


@operation(
    "POST",
    "/api/calls/{call_id}/hold",
    summary="Hold or resume the call",
    body=HoldBody,
    response=Held,
    errors=("no-such-call", "call-not-up", "no-such-channel", "action-failed", "ami-unavailable"),
)
async def hold_call(request: web.Request, given: Given[HoldBody, NoQuery]) -> Reply:
    user, hold, call_id = given.user, given.body.hold, request.match_info["call_id"]
    card = request.app[SEATS_KEY].card(user.username, call_id)
    if card is None:
        raise ProblemError("no-such-call", detail="no such call on your console")
    if card.get("state") not in (("talking",) if hold else ("held",)):
        raise ProblemError("call-not-up", detail="only a call you are talking on can be held")
    await deps(request).commands.hold(call_id, hold)  # a TelephonyError answers its id
    await audit(request, "call.hold" if hold else "call.unhold", f"call:{call_id}")
    return Held(held=hold)


@operation(
    "POST",
    "/api/calls/{call_id}/transfer",
    summary="Blind transfer to a queue or colleague",
    body=TransferBody,
    response=Ok,
    errors=("no-such-call", "no-such-agent", "bad-kind", "bad-target", "no-such-channel"),
)
async def transfer_call(request: web.Request, given: Given[TransferBody, NoQuery]) -> Reply:
    user, body, call_id = given.user, given.body, request.match_info["call_id"]
    s = deps(request)
    if request.app[SEATS_KEY].card(user.username, call_id) is None:
        raise ProblemError("no-such-call", detail="no such call on your console")
    if not body.target:
        raise ProblemError("bad-target", detail="say where to transfer the call")
    if body.kind == "agent":
        colleague = await s.db.users.get_by_username(body.target)
        if colleague is None or not colleague.interface:
            raise ProblemError("no-such-agent", detail="no such colleague with a phone")
        await s.commands.transfer_to_agent(call_id, colleague.interface)
    else:
        await s.commands.transfer_to_queue(call_id, body.target)
    await audit(request, "call.transfer", f"call:{call_id}", detail=f"{body.kind}:{body.target}")
    return Ok()


@operation(
    "POST",
    "/api/calls/{call_id}/dismiss",
    summary="Close a finished call's card",
    response=Ok,
    errors=("call-active",),
)
async def dismiss_call(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    if not request.app[SEATS_KEY].dismiss(given.user.username, request.match_info["call_id"]):
        raise ProblemError("call-active", detail="only a finished call can be closed")
    return Ok()


@operation(
    "POST",
    "/api/dial",
    summary="Click-to-dial: ring the agent, then the number",
    body=DialBody,
    response=Dialling,
    status=202,
    errors=("no-phone", "bad-number", "bad-customer"),
)
async def dial(request: web.Request, given: Given[DialBody, NoQuery]) -> Reply:
    user = given.user
    if not user.interface:
        raise ProblemError("no-phone", detail="this login has no phone to dial from")
    number = "".join(ch for ch in given.body.number if ch in "0123456789+")
    if not 3 <= len(number) <= 20:
        raise ProblemError("bad-number", detail="give a phone number to dial")
    s = deps(request)
    request_id = uuid.uuid4().hex
    variables = {"CC_AGENT": user.username}
    # a record naming a customer that does not exist could never be stored (issue 13 item 1)
    customer_id = await known_customer(s, given.body.customer_id)
    if customer_id is not None:
        variables["CC_CUSTOMER_ID"] = str(customer_id)
        await audit(request, "customer.dial", f"customer:{customer_id}", detail=number)
    req = agent_first_call(user, number, s.config, request_id=request_id, variables=variables)
    hub = request.app[HUB_KEY]
    seats = request.app[SEATS_KEY]

    async def place() -> None:
        msg: dict[str, object] = {
            "type": "dial_result",
            "request_id": request_id,
            "number": number,
        }
        try:
            res = await s.commands.originate(req)
            if res.call_id:
                seats.pop_outbound(user, res.call_id, number, customer_id=customer_id)
            msg |= {"success": res.success, "reason": res.reason, "call_id": res.call_id}
        except TelephonyError as exc:
            msg |= {"success": False, "error_id": exc.error_id, "message": exc.message}
        hub.send_to_user(user.username, msg)

    seats.tasks.spawn(place(), f"dial:{request_id}")
    return Dialling(request_id=request_id, number=number)
