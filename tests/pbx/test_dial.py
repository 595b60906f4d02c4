"""Click-to-dial and callback dialling on the real PBX (ADR 0047).

The agent's phone rings first (Originate Channel = the agent's interface, Context =
outbound, Exten = the number in the carrier's form), then the customer through
`[outbound]` → the carrier (`customer-sim` here). The record is outbound, names the
agent, has the customer's number (E.164) in `dialed_number`, the talk time the
customer's leg had, and the outcome the customer's leg gave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_core.db import open_database
from crm_core.domain.models import CallbackReason
from tests.pbx.harness import AmiControl, Api, Console, PbxStack, wait_for

NUMBER = "13900139001"
E164 = "+8613900139001"


@pytest.fixture
async def customer(ami: AmiControl) -> AsyncIterator[AmiControl]:
    """The customer on NUMBER; every behaviour the test sets is undone afterwards."""
    try:
        yield ami
    finally:
        for key in ("MODE", "DELAY", "TALK"):
            await ami.set_global(f"CUST_{NUMBER}_{key}", "")
        await ami.set_global("OUTBOUND_RING_SECONDS", "30")


async def _dial(
    ami: AmiControl, agent: Api, body: dict[str, Any], *, talk: float = 0
) -> tuple[str, dict[str, Any]]:
    """Dial as `agent`; the call id and the console's card of it."""
    await ami.phone("1001", answer_after=1, talk=talk)
    console = await Console(agent).connect()
    try:
        reply = await agent.post("/api/dial", body, expect=202)
        result = await console.wait(
            lambda m: m["type"] == "dial_result" and m["request_id"] == reply["request_id"],
            what="dial result",
        )
        call_id = str(result["call_id"])
        card = await console.wait(
            lambda m: m["type"] == "screen_pop" and m["call_id"] == call_id,
            what="the outbound card",
        )
        await console.wait(
            lambda m: (
                m["type"] == "call_update" and m["call_id"] == call_id and m.get("state") == "ended"
            ),
            what="the call's end on the console",
            timeout=45,
        )
        return call_id, card
    finally:
        await console.close()


def _outbound(record: dict[str, Any], outcome: str) -> None:
    assert record["direction"] == "outbound", record
    assert record["dialed_number"] == E164, record
    assert record["agent"] == "Agent 1001", record
    assert record["outcome"] == outcome, record
    assert record["queue"] is None
    assert record["offers"] == []


async def test_click_to_dial_answered(customer: AmiControl, agent1: Api, manager: Api) -> None:
    await customer.set_global(f"CUST_{NUMBER}_MODE", "answer")
    await customer.set_global(f"CUST_{NUMBER}_DELAY", "1")
    await customer.set_global(f"CUST_{NUMBER}_TALK", "3")
    since = len(customer.events)
    call_id, card = await _dial(customer, agent1, {"number": NUMBER})
    assert card["caller_number"] == NUMBER
    record = await manager.call(call_id)
    _outbound(record, "answered")
    assert abs(record["talk_seconds"] - 3.0) <= 1.0, record
    # the carrier got the national form (setting carrier_number_format = national)
    dial = await customer.wait_event("DialBegin", since=since, Linkedid=call_id, DestExten=NUMBER)
    assert dial["DestChannel"].startswith(f"Local/{NUMBER}@customer-sim")
    answered = datetime.fromisoformat(record["answered_at"])
    end = await customer.wait_event(
        "DialEnd",
        since=since,
        Linkedid=call_id,
        DialStatus="ANSWER",
        DestChannel=dial["DestChannel"],
    )
    assert abs(answered.timestamp() - float(end["_t"])) <= 1.0


async def test_click_to_dial_busy(customer: AmiControl, agent1: Api, manager: Api) -> None:
    await customer.set_global(f"CUST_{NUMBER}_MODE", "busy")
    call_id, _card = await _dial(customer, agent1, {"number": NUMBER})
    record = await manager.call(call_id)
    _outbound(record, "busy")
    assert record["talk_seconds"] == 0
    assert record["answered_at"] is None


async def test_click_to_dial_no_answer(customer: AmiControl, agent1: Api, manager: Api) -> None:
    await customer.set_global(f"CUST_{NUMBER}_MODE", "noanswer")
    await customer.set_global("OUTBOUND_RING_SECONDS", "3")
    call_id, _card = await _dial(customer, agent1, {"number": NUMBER})
    record = await manager.call(call_id)
    _outbound(record, "no_answer")
    assert record["talk_seconds"] == 0


async def test_dial_from_a_customer_card(
    stack: PbxStack, customer: AmiControl, agent1: Api, manager: Api
) -> None:
    customer_id = stack.customers["13800138000"]
    await customer.set_global("CUST_13800138000_MODE", "answer")
    await customer.set_global("CUST_13800138000_DELAY", "1")
    await customer.set_global("CUST_13800138000_TALK", "2")
    try:
        call_id, card = await _dial(
            customer, agent1, {"number": "+86 138 0013 8000", "customer_id": customer_id}
        )
    finally:
        for key in ("MODE", "DELAY", "TALK"):
            await customer.set_global(f"CUST_13800138000_{key}", "")
    assert card["customer_id"] == customer_id
    record = await manager.call(call_id)
    assert record["direction"] == "outbound", record
    assert record["dialed_number"] == "+8613800138000"
    assert record["customer_id"] == customer_id
    assert record["agent"] == "Agent 1001"
    assert record["outcome"] == "answered"
    assert abs(record["talk_seconds"] - 2.0) <= 1.0, record


async def test_callback_dialling(
    stack: PbxStack, customer: AmiControl, agent1: Api, manager: Api
) -> None:
    await customer.set_global(f"CUST_{NUMBER}_MODE", "answer")
    await customer.set_global(f"CUST_{NUMBER}_DELAY", "1")
    await customer.set_global(f"CUST_{NUMBER}_TALK", "2")
    db = await open_database(stack.db_url)
    try:
        now = datetime.now(UTC)
        callback = await db.callbacks.create(
            phone_e164=E164,
            reason=CallbackReason.ABANDONED,
            due_at=now + timedelta(minutes=30),
            created_at=now,
        )
    finally:
        await db.close()
    # the console's callback list dials the callback's phone (E.164) for its customer
    call_id, card = await _dial(
        customer, agent1, {"number": callback.phone_e164, "customer_id": None}
    )
    assert card["caller_number"] == E164
    record = await manager.call(call_id)
    _outbound(record, "answered")
    assert abs(record["talk_seconds"] - 2.0) <= 1.0, record

    # reaching the customer satisfies the callback, naming the call that did it
    async def closed() -> dict[str, Any] | None:
        listed = await manager.get("/api/callbacks?status=done")
        return next((c for c in listed["callbacks"] if c["id"] == callback.id), None)

    done = await wait_for(closed, timeout=10, what="the callback closed by the call")
    assert done["status"] == "satisfied"
    assert call_id in done["outcome"]
