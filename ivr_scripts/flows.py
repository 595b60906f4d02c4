"""The IVR flows every inbound caller meets first (MISSION.md, "Inbound").

Each flow is a small async function over an `AgiChannel`. Every step is announced
as the channel variable `CC_IVR_STEP` = `flow:step[:input]`; the AMI tracker keeps
those steps with the call record, so reports show where callers drop out.
`CC_ROUTE` tells the dialplan what to do next (queue | callback | selfservice | hangup).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from crm_core.domain.models import (
    CallbackReason,
    CaseStatus,
    Satisfaction,
    SurveyAnswer,
    pbx_call_id,
)
from crm_core.phones import try_normalize
from crm_core.ports.agi import AgiChannel
from ivr_scripts.context import IvrContext

PERSON = "0"  # "0" reaches a person from any menu
RETRIES = 3


async def call_id_of(channel: AgiChannel) -> str:
    """The call record's id (Asterisk's linkedid), which AGI does not send as a header.

    The AGI channel is not always the call's first one (a transferred caller, a survey
    reached through a Local channel), so its own uniqueid is only the fallback.
    """
    linkedid = (await channel.get_variable("CHANNEL(linkedid)")) or channel.uniqueid
    # a deployment with several PBXs names each in its dialplan globals (CC_PBX)
    return pbx_call_id(await channel.get_variable("CC_PBX") or "", linkedid)


async def step(channel: AgiChannel, flow: str, name: str, given: str | None = None) -> None:
    value = f"{flow}:{name}" + (f":{given}" if given else "")
    await channel.set_variable("CC_IVR_STEP", value)


async def welcome(channel: AgiChannel, ctx: IvrContext) -> None:
    """Identify the caller, pick the queue, and handle closed hours."""
    # the CRM lookup runs while the first step is on its way to Asterisk: one round trip less
    lookup = asyncio.ensure_future(ctx.customers.find_by_phone(channel.caller_number))
    try:
        await step(channel, "welcome", "start")
    except BaseException:  # the caller hung up: leave no lookup behind
        lookup.cancel()
        with contextlib.suppress(BaseException):
            await lookup
        raise
    customer = await lookup
    if customer is not None:
        await channel.set_variable("CC_CUSTOMER_ID", str(customer.id))
        await channel.set_variable("CC_VIP", str(customer.vip_level))
        if customer.language:
            await channel.set_variable("CC_LANGUAGE", customer.language)
        await step(channel, "welcome", "identified", str(customer.id))
    else:
        await step(channel, "welcome", "unknown_caller")
    vip = customer is not None and customer.vip_level > 0
    await channel.set_variable("CC_QUEUE", ctx.vip_queue if vip else ctx.default_queue)
    if not ctx.hours.open_at(ctx.clock.now()):
        await step(channel, "welcome", "closed")
        choice = await channel.get_data("cc/closed-press-1-for-callback", 5000, 1)
        if choice == "1":
            await channel.set_variable("CC_ROUTE", "callback")
            await step(channel, "welcome", "closed_callback", "1")
        else:
            await channel.stream_file("cc/goodbye")
            await channel.set_variable("CC_ROUTE", "hangup")
        return
    await channel.stream_file("cc/welcome")
    await channel.set_variable("CC_ROUTE", "menu")


async def menu(channel: AgiChannel, ctx: IvrContext) -> None:
    """1 support, 2 sales, 3 order/case status, 9 callback, 0 a person; retries on silence."""
    for attempt in range(1, RETRIES + 1):
        choice = await channel.get_data("cc/main-menu", 5000, 1)
        if choice is None:
            await step(channel, "menu", "no_input", str(attempt))
            continue
        await step(channel, "menu", "choice", choice)
        if choice == PERSON:
            await channel.set_variable("CC_ROUTE", "queue")
            return
        if choice in ctx.menu_queues:
            vip = await channel.get_variable("CC_QUEUE")
            if vip != ctx.vip_queue:  # VIPs keep their priority queue
                await channel.set_variable("CC_QUEUE", ctx.menu_queues[choice])
            await channel.set_variable("CC_ROUTE", "queue")
            return
        if choice == "3":
            await channel.set_variable("CC_ROUTE", "selfservice")
            return
        if choice == "9":
            await channel.set_variable("CC_ROUTE", "callback")
            return
        await channel.stream_file("cc/invalid-choice")
        await step(channel, "menu", "invalid", choice)
    # nothing usable after the retries: a person takes over
    await step(channel, "menu", "to_agent_after_retries")
    await channel.set_variable("CC_ROUTE", "queue")


async def selfservice(channel: AgiChannel, ctx: IvrContext) -> None:
    """Read back the status of the caller's latest case."""
    await step(channel, "selfservice", "start")
    customer = await ctx.customers.find_by_phone(channel.caller_number)
    cases = await ctx.cases.list(customer_id=customer.id, limit=1) if customer else []
    if not cases:
        await channel.stream_file("cc/no-open-case")
        await step(channel, "selfservice", "no_case")
    else:
        case = cases[0]
        await channel.stream_file("cc/your-case-number")
        await channel.say_digits(str(case.id))
        await channel.stream_file(f"cc/case-status-{case.status.value}")
        when = case.promised_reply_at if case.status != CaseStatus.CLOSED else case.closed_at
        if when is not None:
            await channel.stream_file("cc/expected-on")
            await channel.say_datetime(int(when.timestamp()))
        await step(channel, "selfservice", "read_case", str(case.id))
    choice = await channel.get_data("cc/press-0-for-agent", 4000, 1)
    await channel.set_variable("CC_ROUTE", "queue" if choice == PERSON else "hangup")


async def callback(channel: AgiChannel, ctx: IvrContext) -> None:
    """Confirm the number (or key in another), create the callback, say when, say goodbye."""
    await step(channel, "callback", "start")
    number = channel.caller_number
    await channel.stream_file("cc/we-will-call-you-at")
    await channel.say_digits(number or "0")
    choice = await channel.get_data("cc/press-1-confirm-2-other", 5000, 1)
    if choice == "2":
        for _ in range(RETRIES):
            other = await channel.get_data("cc/enter-number", 8000, 15)
            if other and try_normalize(other) is not None:
                number = other
                await step(channel, "callback", "other_number")
                break
            await channel.stream_file("cc/invalid-number")
    if not number or try_normalize(number) is None:
        await step(channel, "callback", "no_number")
        await channel.stream_file("cc/sorry-goodbye")
        await channel.set_variable("CC_ROUTE", "hangup")
        return
    customer_id = await channel.get_variable("CC_CUSTOMER_ID")
    now = ctx.clock.now()
    cb = await ctx.request_callback(
        phone=number,
        reason=CallbackReason.IVR_REQUEST,
        at=now,
        customer_id=int(customer_id) if customer_id and customer_id.isdigit() else None,
        queue=(await channel.get_variable("CC_QUEUE")) or ctx.default_queue,
        call_id=await call_id_of(channel),
        question="callback requested in the IVR",
    )
    minutes = max(1, int((cb.due_at - now) / timedelta(minutes=1)))
    await channel.stream_file("cc/we-will-call-within")
    await channel.say_number(minutes)
    await channel.stream_file("cc/minutes-thank-you-goodbye")
    await step(channel, "callback", "created", str(cb.id))
    await channel.set_variable("CC_ROUTE", "hangup")
    await channel.hangup()


async def survey(channel: AgiChannel, ctx: IvrContext) -> None:
    """After the agent hangs up: satisfaction on the five-step scale (5 = very satisfied)."""
    await step(channel, "survey", "start")
    for _ in range(2):
        score = await channel.get_data("cc/rate-1-to-5", 6000, 1)
        if score is not None and score.isdigit() and 1 <= int(score) <= 5:
            customer_id = await channel.get_variable("CC_CUSTOMER_ID")
            await ctx.surveys.add(
                SurveyAnswer(
                    id=None,
                    call_id=await call_id_of(channel),
                    customer_id=int(customer_id) if customer_id and customer_id.isdigit() else None,
                    score=Satisfaction(int(score)),
                    at=ctx.clock.now(),
                    agent=await channel.get_variable("MEMBERNAME"),
                )
            )
            await step(channel, "survey", "answered", score)
            await channel.stream_file("cc/thank-you")
            return
        await step(channel, "survey", "invalid", score)
    await step(channel, "survey", "no_answer")
