"""The IVR on the real PBX: every flow runs to its end, every menu choice reaches what it
promises, and the path the caller took is kept with the call record (issue 12).

The caller presses keys when the IVR waits for them (`AmiControl.press`: on the
AGIExecStart of that prompt's GET DATA), as a person does after hearing the prompt start.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.settings import load_settings
from crm_core.db import open_database
from crm_core.domain.models import Callback, CallbackReason, CaseKind
from ivr_scripts.routes import routes
from telephony.fastagi import FastAgiServer
from tests.pbx.harness import AmiControl, Api, PbxStack, wait_for

KNOWN = "13800138000"  # 张三


@asynccontextmanager
async def crm(stack: PbxStack) -> AsyncIterator[Any]:
    db = await open_database(stack.db_url)
    try:
        yield db
    finally:
        await db.close()


def steps(record: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["flow"], s["step"], s["input"]) for s in record["ivr_path"]]


async def caller_gone(ami: AmiControl, call_id: str, timeout: float = 60) -> dict[str, str]:
    """The Hangup of the caller's own channel (its Uniqueid is the call's Linkedid)."""
    return await ami.wait_event("Hangup", timeout=timeout, Linkedid=call_id, Uniqueid=call_id)


async def sign_in(ami: AmiControl, agent: Api, member: str) -> None:
    await agent.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName=member, Queue="support")


async def leave_at_survey(ami: AmiControl, call_id: str) -> None:
    """The caller hangs up when the survey asks (the agent had hung up)."""
    started = await ami.wait_agi(call_id, "GET DATA cc/rate-1-to-5", timeout=60)
    await ami.action("Hangup", Channel=started["Channel"])
    await caller_gone(ami, call_id)


async def callbacks_of(stack: PbxStack, call_id: str) -> list[Callback]:
    async with crm(stack) as db:
        return [c for c in await db.callbacks.list(limit=10_000) if c.call_id == call_id]


async def test_known_caller_presses_0_and_reaches_a_person(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    await ami.phone("1001", answer_after=1, talk=2)
    await sign_in(ami, agent1, "Agent 1001")
    call_id = await ami.call_in(KNOWN, "张三", menu=None, survey=None)
    await ami.press(call_id, "cc/main-menu", "0")
    connect = await ami.wait_event("AgentConnect", Linkedid=call_id)
    assert (connect["Queue"], connect["MemberName"]) == ("support", "Agent 1001")
    await leave_at_survey(ami, call_id)

    record = await manager.call(call_id)
    customer_id = stack.customers[KNOWN]
    assert record["customer_id"] == customer_id
    assert (record["outcome"], record["queue"], record["agent"]) == (
        "answered",
        "support",
        "Agent 1001",
    )
    path = steps(record)
    assert path[:2] == [("welcome", "start", None), ("welcome", "identified", str(customer_id))]
    assert ("menu", "choice", "0") in path
    assert path[-1] == ("survey", "start", None)


async def test_vip_caller_keeps_the_vip_queue_whatever_the_menu_choice(
    stack: PbxStack, ami: AmiControl, manager: Api
) -> None:
    async with crm(stack) as db:
        vip = await db.customers.create(name="王五", phones=["13700137001"], vip_level=2)
    await ami.phone("1003", answer_after=1, talk=2)
    reply = await ami.action(
        "QueueAdd", Queue="vip", Interface="Local/1003@agents/n", MemberName="Agent 1003"
    )
    assert reply[0]["Response"] == "Success", reply
    try:
        call_id = await ami.call_in("13700137001", "王五", menu=None, survey=None)
        await ami.press(call_id, "cc/main-menu", "2")  # sales, but a VIP stays in vip
        connect = await ami.wait_event("AgentConnect", Linkedid=call_id)
        assert (connect["Queue"], connect["MemberName"]) == ("vip", "Agent 1003")
        await leave_at_survey(ami, call_id)
    finally:
        await ami.action("QueueRemove", Queue="vip", Interface="Local/1003@agents/n")

    record = await manager.call(call_id)
    assert record["customer_id"] == vip.id
    assert (record["queue"], record["agent"], record["outcome"]) == (
        "vip",
        "Agent 1003",
        "answered",
    )
    assert ("welcome", "identified", str(vip.id)) in steps(record)


async def test_silence_in_the_menu_retries_then_a_person_takes_it(
    ami: AmiControl, agent1: Api, manager: Api
) -> None:
    await ami.phone("1001", answer_after=1, talk=2)
    await sign_in(ami, agent1, "Agent 1001")
    call_id = await ami.call_in("13600136001", menu=None, survey=None)
    connect = await ami.wait_event("AgentConnect", timeout=60, Linkedid=call_id)
    assert connect["Queue"] == "support"
    await leave_at_survey(ami, call_id)

    record = await manager.call(call_id)
    assert record["outcome"] == "answered"
    assert record["customer_id"] is None
    menu = [s for s in steps(record) if s[0] == "menu"]
    assert menu == [
        ("menu", "no_input", "1"),
        ("menu", "no_input", "2"),
        ("menu", "no_input", "3"),
        ("menu", "to_agent_after_retries", None),
    ]
    assert ("welcome", "unknown_caller", None) in steps(record)


async def test_menu_3_reads_the_latest_case_and_0_then_reaches_a_person(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    async with crm(stack) as db:
        case = await db.cases.create(
            kind=CaseKind.INQUIRY,
            subject="发票",
            created_at=datetime.now(UTC),
            customer_id=stack.customers[KNOWN],
            owner_user_id=None,
            promised_reply_at=datetime.now(UTC) + timedelta(days=1),
        )
    await ami.phone("1001", answer_after=1, talk=2)
    await sign_in(ami, agent1, "Agent 1001")
    call_id = await ami.call_in(KNOWN, "张三", menu=None, survey=None)
    await ami.press(call_id, "cc/main-menu", "3")
    await ami.wait_agi(call_id, f"SAY DIGITS {case.id} ")
    await ami.wait_agi(call_id, f"STREAM FILE cc/case-status-{case.status.value} ")
    await ami.wait_agi(call_id, "SAY DATETIME ")
    await ami.press(call_id, "cc/press-0-for-agent", "0")
    connect = await ami.wait_event("AgentConnect", Linkedid=call_id)
    assert connect["Queue"] == "support"
    await leave_at_survey(ami, call_id)

    record = await manager.call(call_id)
    assert record["outcome"] == "answered"
    assert ("selfservice", "read_case", str(case.id)) in steps(record)


async def test_menu_3_without_a_case_says_so_and_hangs_up(ami: AmiControl, manager: Api) -> None:
    call_id = await ami.call_in("13600136002", menu=None, survey=None)
    await ami.press(call_id, "cc/main-menu", "3")
    await ami.wait_agi(call_id, "STREAM FILE cc/no-open-case ")
    await ami.wait_agi(call_id, "GET DATA cc/press-0-for-agent ")
    await caller_gone(ami, call_id)  # the PBX hangs up: the caller stayed silent

    record = await manager.call(call_id)
    assert record["outcome"] == "ivr_only"
    assert record["queue"] is None
    assert steps(record)[-2:] == [("selfservice", "start", None), ("selfservice", "no_case", None)]


async def ivr_callback(
    stack: PbxStack, ami: AmiControl, manager: Api, number: str, first_key: tuple[str, str]
) -> tuple[str, Callback, dict[str, Any]]:
    """A caller asks for a callback (`first_key` = (prompt, digit)) and confirms the number."""
    call_id = await ami.call_in(number, menu=None, survey=None)
    await ami.press(call_id, *first_key)
    await ami.press(call_id, "cc/press-1-confirm-2-other", "1")
    await ami.wait_agi(call_id, "STREAM FILE cc/minutes-thank-you-goodbye ")
    await caller_gone(ami, call_id)  # the IVR hangs up after saying goodbye
    found = await wait_for(
        lambda: callbacks_of(stack, call_id), timeout=10, what=f"the callback of {call_id}"
    )
    assert len(found) == 1, found
    record = await manager.call(call_id)
    return call_id, found[0], record


async def test_menu_9_creates_a_callback_due_within_30_minutes(
    stack: PbxStack, ami: AmiControl, manager: Api
) -> None:
    call_id, cb, record = await ivr_callback(
        stack, ami, manager, "13900139001", ("cc/main-menu", "9")
    )
    assert cb.phone_e164 == "+8613900139001"
    assert cb.reason == CallbackReason.IVR_REQUEST
    assert cb.call_id == call_id
    assert cb.queue == "support"
    assert abs((cb.due_at - cb.created_at) - timedelta(minutes=30)) <= timedelta(seconds=2)
    # the minutes the caller was told: SAY NUMBER 30 (or 29 after a slow second)
    assert record["outcome"] == "ivr_only"
    assert record["callback_due_at"] is None  # the callback is the caller's own request
    assert steps(record)[-1] == ("callback", "created", str(cb.id))


@contextmanager
def prompt_removed(stack: PbxStack, name: str) -> Iterator[None]:
    """Take one prompt off the PBX (every language) for the test, then put it back."""
    moved: list[tuple[Path, Path]] = []
    for path in (stack.pbx_dir / "sounds").rglob(f"{name}.*"):
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        moved.append((aside, path))
    assert moved, f"no prompt {name} on the PBX to remove"
    try:
        yield
    finally:
        for aside, path in moved:
            aside.rename(path)


async def test_a_missing_prompt_is_named_and_the_caller_still_gets_the_callback(
    stack: PbxStack, ami: AmiControl, manager: Api
) -> None:
    with prompt_removed(stack, "we-will-call-you-at"):
        _, cb, record = await ivr_callback(
            stack, ami, manager, "13900139003", ("cc/main-menu", "9")
        )
    assert steps(record)[-1] == ("callback", "created", str(cb.id))
    log = stack.service_log(10**7)
    assert "prompt cc/we-will-call-you-at missing on the PBX" in log, log[-3000:]


async def test_closed_hours_press_1_for_a_callback(
    stack: PbxStack, ami: AmiControl, manager: Api, caplog: Any
) -> None:
    """The IVR of a service whose business hours are over (a second FastAGI, same CRM)."""
    caplog.set_level(logging.INFO)
    settings = load_settings(environ=stack.env(CALLCENTER_BUSINESS_HOURS="00:00-00:00"))
    async with crm(stack) as db:
        closed = FastAgiServer(routes(db=db, settings=settings))
        await closed.start("127.0.0.1", 0)
        await ami.set_global("AGI_HOST", f"127.0.0.1:{closed.port}")
        try:
            call_id, cb, record = await ivr_callback(
                stack, ami, manager, "13900139002", ("cc/closed-press-1-for-callback", "1")
            )
        finally:
            await ami.set_global("AGI_HOST", f"127.0.0.1:{stack.agi_port}")
            await closed.stop()
    assert cb.call_id == call_id
    assert cb.reason == CallbackReason.IVR_REQUEST
    assert abs((cb.due_at - cb.created_at) - timedelta(minutes=30)) <= timedelta(seconds=2)
    path = steps(record)
    assert ("welcome", "closed", None) in path
    assert ("welcome", "closed_callback", "1") in path
    assert not [s for s in path if s[0] == "menu"], "the menu ran after hours"
    assert path[-1] == ("callback", "created", str(cb.id))
    assert record["outcome"] == "ivr_only"
    assert closed.completed >= 2  # welcome and callback ran to their end
