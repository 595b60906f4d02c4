"""The satisfaction survey on the real PBX (issue 12 item 5).

The caller's channel lives on after the agent hangs up (`Queue(...,c)` in `[queue-call]`)
and reaches the `survey` flow alive; the score is stored once, against the agent who
talked (MEMBERNAME, set by `setinterfacevar` on every queue) and the call's id (the
Linkedid). The call record ends the talk when the agent hung up, not when the caller
finished the survey.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from crm_core.db import open_database
from crm_core.domain.models import SurveyAnswer
from tests.pbx.harness import AmiControl, Api, PbxStack, wait_for

CALLER = "13800138000"  # 张三, a known customer
TALK = 3.0  # seconds the agent talks before hanging up


async def surveys_for(stack: PbxStack, call_id: str) -> list[SurveyAnswer]:
    db = await open_database(stack.db_url)
    try:
        return await db.surveys.for_call(call_id)
    finally:
        await db.close()


async def talk_then_agent_hangs_up(
    ami: AmiControl, agent1: Api, digit: str, queue: str
) -> tuple[str, float]:
    """A caller picks `digit` in the menu, Agent 1001 answers, talks TALK s, hangs up."""
    await ami.phone("1001", answer_after=1, talk=TALK)
    await agent1.post("/api/agent/state", {"action": "sign_in"})
    await ami.wait_event("QueueMemberAdded", MemberName="Agent 1001", Queue=queue)
    call_id = await ami.call_in(CALLER, "张三", menu=None, survey=None)
    await ami.press(call_id, "cc/main-menu", digit)
    connect = await ami.wait_event("AgentConnect", Linkedid=call_id, Queue=queue)
    complete = await ami.wait_event("AgentComplete", Linkedid=call_id)
    assert complete["Reason"] == "agent", complete
    return call_id, float(complete["_t"]) - float(connect["_t"])


async def caller_gone(ami: AmiControl, call_id: str) -> dict[str, str]:
    """The Hangup of the caller's own channel (its Uniqueid is the call's Linkedid)."""
    return await ami.wait_event("Hangup", Linkedid=call_id, Uniqueid=call_id)


@pytest.mark.parametrize(("digit", "queue"), [("1", "support"), ("2", "sales")])
async def test_caller_rates_the_agent_after_the_agent_hangs_up(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api, digit: str, queue: str
) -> None:
    call_id, talked = await talk_then_agent_hangs_up(ami, agent1, digit, queue)
    # the caller is still there, in the survey, on a live channel
    await ami.press(call_id, "cc/rate-1-to-5", "4")
    await ami.wait_agi(call_id, "STREAM FILE cc/thank-you")
    hangup = await caller_gone(ami, call_id)

    answers = await wait_for(
        lambda: surveys_for(stack, call_id), timeout=10, what=f"the survey answer of {call_id}"
    )
    assert [(a.score, a.agent, a.call_id) for a in answers] == [(4, "Agent 1001", call_id)], answers
    assert answers[0].customer_id == stack.customers[CALLER]
    assert "dead channel" not in stack.service_log(10**7)

    record = await manager.call(call_id)
    assert record["outcome"] == "answered"
    assert record["agent"] == "Agent 1001"
    assert record["queue"] == queue
    assert record["callback_due_at"] is None
    # talk ends when the agent hung up, not when the caller finished the survey
    assert abs(talked - TALK) <= 1.0
    assert abs(record["talk_seconds"] - talked) <= 0.3, record
    answered = datetime.fromisoformat(record["answered_at"]).timestamp()
    ended = datetime.fromisoformat(record["ended_at"]).timestamp()
    assert abs(ended - float(hangup["_t"])) <= 1.0, "the record ends when the caller left"
    assert ended - answered > talked + 0.5, "the survey took no time: this test proves nothing"
    steps = [(s["flow"], s["step"], s.get("input")) for s in record["ivr_path"]]
    assert ("menu", "choice", digit) in steps
    assert steps[-2:] == [("survey", "start", None), ("survey", "answered", "4")], steps


async def test_caller_who_hangs_up_at_the_survey_leaves_no_answer_and_no_error(
    stack: PbxStack, ami: AmiControl, agent1: Api, manager: Api
) -> None:
    log_before = len(stack.service_log(10**7))
    call_id, talked = await talk_then_agent_hangs_up(ami, agent1, "1", "support")
    started = await ami.wait_agi(call_id, "GET DATA cc/rate-1-to-5")
    await ami.action("Hangup", Channel=started["Channel"])
    await caller_gone(ami, call_id)

    record: dict[str, Any] = await manager.call(call_id)
    assert record["outcome"] == "answered"
    assert abs(record["talk_seconds"] - talked) <= 0.3, record
    assert record["callback_due_at"] is None
    assert await surveys_for(stack, call_id) == []
    log = stack.service_log(10**7)[log_before:]
    for bad in ("ERROR", "Traceback", "WARNING"):
        assert bad not in log, log
