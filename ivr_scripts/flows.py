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
    Customer,
    Satisfaction,
    SurveyAnswer,
    pbx_call_id,
)
from crm_core.phones import try_normalize
from crm_core.ports.agi import AgiChannel
from ivr_scripts import prompts
from ivr_scripts.context import IvrContext

PERSON = "0"  # "0" reaches a person from any menu
SWITCH_LANGUAGE = "8"  # the main menu in the other language (English / 中文)
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


def dialed_number(channel: AgiChannel) -> str:
    """The DID the caller dialled: the inbound extension, else Asterisk's DNID."""
    for key in ("extension", "dnid"):
        value = channel.env.get(key, "")
        if value and value not in ("s", "unknown"):
            return value
    return ""


def choose_language(ctx: IvrContext, did: str, customer: Customer | None) -> str:
    """The known customer's own language, else the DID's, else the IVR default."""
    known = prompts.sound_language(customer.language) if customer is not None else None
    return known or ctx.did_languages.get(did) or ctx.language


async def set_language(channel: AgiChannel, language: str) -> None:
    """Every later prompt of the call, Asterisk's SAY routines and queue announcements included."""
    await channel.set_variable("CHANNEL(language)", language)
    await channel.set_variable("CC_LANGUAGE", language)


async def welcome(channel: AgiChannel, ctx: IvrContext) -> None:
    """Identify the caller, choose the language and the queue, and handle closed hours."""
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
        await step(channel, "welcome", "identified", str(customer.id))
    else:
        await step(channel, "welcome", "unknown_caller")
    await set_language(channel, choose_language(ctx, dialed_number(channel), customer))
    vip = customer is not None and customer.vip_level > 0
    await channel.set_variable("CC_QUEUE", ctx.vip_queue if vip else ctx.default_queue)
    if not ctx.hours.open_at(ctx.clock.now()):
        await step(channel, "welcome", "closed")
        choice = await channel.get_data(prompts.CLOSED_PRESS_1_FOR_CALLBACK, 5000, 1)
        if choice == "1":
            await channel.set_variable("CC_ROUTE", "callback")
            await step(channel, "welcome", "closed_callback", "1")
        else:
            await channel.stream_file(prompts.GOODBYE)
            await channel.set_variable("CC_ROUTE", "hangup")
        return
    await channel.stream_file(prompts.WELCOME)
    await channel.set_variable("CC_ROUTE", "menu")


async def menu(channel: AgiChannel, ctx: IvrContext) -> None:
    """1 support, 2 sales, 3 order/case status, 9 callback, 0 a person, 8 English/中文.

    Retries on silence or an invalid key; switching the language replays the menu in the
    other language without using up a try (at most RETRIES switches).
    """
    attempt = switches = 0
    while attempt < RETRIES:
        choice = await channel.get_data(prompts.MAIN_MENU, 5000, 1)
        if choice == SWITCH_LANGUAGE and switches < RETRIES:
            switches += 1
            current = await channel.get_variable("CHANNEL(language)") or ctx.language
            language = prompts.other_language(current)
            await set_language(channel, language)
            await step(channel, "menu", "language", language)
            continue
        attempt += 1
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
        await channel.stream_file(prompts.INVALID_CHOICE)
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
        await channel.stream_file(prompts.NO_OPEN_CASE)
        await step(channel, "selfservice", "no_case")
    else:
        case = cases[0]
        await channel.stream_file(prompts.YOUR_CASE_NUMBER)
        await channel.say_digits(str(case.id))
        await channel.stream_file(prompts.case_status(case.status))
        when = case.promised_reply_at if case.status != CaseStatus.CLOSED else case.closed_at
        if when is not None:
            closed = case.status == CaseStatus.CLOSED
            await channel.stream_file(prompts.CLOSED_ON if closed else prompts.EXPECTED_ON)
            language = await channel.get_variable("CHANNEL(language)") or ctx.language
            await channel.say_datetime(
                int(when.timestamp()),
                prompts.DATETIME_FORMATS.get(language, prompts.DATETIME_FORMATS["en"]),
                ctx.hours.timezone,
            )
        await step(channel, "selfservice", "read_case", str(case.id))
    choice = await channel.get_data(prompts.PRESS_0_FOR_AGENT, 4000, 1)
    await channel.set_variable("CC_ROUTE", "queue" if choice == PERSON else "hangup")


async def callback(channel: AgiChannel, ctx: IvrContext) -> None:
    """Confirm the number (or key in another), create the callback, say when, say goodbye."""
    await step(channel, "callback", "start")
    number = channel.caller_number
    await channel.stream_file(prompts.WE_WILL_CALL_YOU_AT)
    await channel.say_digits(number or "0")
    choice = await channel.get_data(prompts.PRESS_1_CONFIRM_2_OTHER, 5000, 1)
    if choice == "2":
        for _ in range(RETRIES):
            other = await channel.get_data(prompts.ENTER_NUMBER, 8000, 15)
            if other and try_normalize(other) is not None:
                number = other
                await step(channel, "callback", "other_number")
                break
            await channel.stream_file(prompts.INVALID_NUMBER)
    if not number or try_normalize(number) is None:
        await step(channel, "callback", "no_number")
        await channel.stream_file(prompts.SORRY_GOODBYE)
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
    await channel.stream_file(prompts.WE_WILL_CALL_WITHIN)
    await channel.say_number(minutes)
    await channel.stream_file(prompts.MINUTES_THANK_YOU_GOODBYE)
    await step(channel, "callback", "created", str(cb.id))
    await channel.set_variable("CC_ROUTE", "hangup")
    await channel.hangup()


async def survey(channel: AgiChannel, ctx: IvrContext) -> None:
    """After the agent hangs up: satisfaction on the five-step scale (5 = very satisfied)."""
    await step(channel, "survey", "start")
    for _ in range(2):
        score = await channel.get_data(prompts.RATE_1_TO_5, 6000, 1)
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
            await channel.stream_file(prompts.THANK_YOU)
            return
        await step(channel, "survey", "invalid", score)
    await step(channel, "survey", "no_answer")
