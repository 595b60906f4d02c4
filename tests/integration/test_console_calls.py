"""Calls, wrap-up, callbacks, escalation and customers through the REST API, on a real DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from crm_core.domain.events import AgentRingStarted, CallAnswered, CallEnded
from crm_core.domain.models import (
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    CaseStatus,
    Direction,
    Offer,
    OfferResult,
)
from tests.integration.test_console_harness import Stack, console_stack, receive_until


def record(call_id: str, agent_n: int, number: str = "13800138000") -> CallRecord:
    now = datetime.now(UTC)
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number=number,
        caller_name="张三",
        queue="support",
        agent=f"Agent 100{agent_n}",
        agent_interface=f"Local/100{agent_n}@agents/n",
        started_at=now - timedelta(seconds=60),
        answered_at=now - timedelta(seconds=50),
        ended_at=now,
        wait_seconds=8.0,
        talk_seconds=50.0,
        offers=(
            Offer(
                agent=f"Agent 100{agent_n}",
                interface=f"Local/100{agent_n}@agents/n",
                ring_seconds=3.0,
                result=OfferResult.ANSWERED,
            ),
        ),
        outcome=CallOutcome.ANSWERED,
    )


async def take_call(stack: Stack, call_id: str, agent_n: int = 1) -> None:
    """Ring, answer and end a call the way the telephony layer reports it."""
    now = datetime.now(UTC)
    await stack.bus.publish(
        AgentRingStarted(
            at=now,
            call_id=call_id,
            queue="support",
            agent=f"Agent 100{agent_n}",
            interface=f"Local/100{agent_n}@agents/n",
            caller_number="13800138000",
            caller_name="张三",
        )
    )
    await stack.bus.publish(
        CallAnswered(
            at=now,
            call_id=call_id,
            queue="support",
            agent=f"Agent 100{agent_n}",
            interface=f"Local/100{agent_n}@agents/n",
            wait_seconds=8.0,
            ring_seconds=3.0,
        )
    )
    rec = record(call_id, agent_n)
    await stack.db.calls.save_many([rec])
    await stack.bus.publish(CallEnded(at=now, record=rec))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(s: aiohttp.ClientSession, url: str, token: str, body: Any) -> tuple[int, Any]:
    async with s.post(url, json=body, headers=bearer(token)) as res:
        return res.status, await res.json()


async def test_wrapup_is_written_to_the_call_and_audited(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        customer = await stack.db.customers.create(name="张三", phones=["13800138000"])
        token, ws = await stack.live(s, "agent1")
        await take_call(stack, "w-1")
        ended, _ = await receive_until(ws, "call_update")
        while ended.get("state") != "ended":
            ended, _ = await receive_until(ws, "call_update")
        status, body = await post(
            s,
            f"{stack.url}/api/calls/w-1/wrapup",
            token,
            {
                "disposition": "order",
                "notes": "发货查询",
                "result": "resolved",
                "customer_id": customer.id,
            },
        )
        assert status == 200, body
        saved = await stack.db.calls.get("w-1")
        assert (saved.disposition, saved.wrapup_notes, saved.customer_id) == (
            "order",
            "发货查询",
            customer.id,
        )
        audit = await stack.db.audit.list(actor="agent1")
        assert any(e.action == "wrapup.save" and e.subject == "call:w-1" for e in audit)

        async with s.get(f"{stack.url}/api/calls/w-1", headers=bearer(token)) as res:
            call = await res.json()
        assert call["call_id"] == "w-1"
        assert call["outcome"] == "answered"
        assert call["offers"][0]["result"] == "answered"
        assert call["disposition"] == "order"
        assert call["wrapup_notes"] == "发货查询"
        await ws.close()


async def test_callback_promise_and_escalation_owned_by_the_first_agent(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        await take_call(stack, "p-1")
        before = datetime.now(UTC)
        status, body = await post(
            s,
            f"{stack.url}/api/calls/p-1/wrapup",
            token,
            {
                "disposition": "information",
                "notes": "退款进度待财务确认",
                "result": "callback",
            },
        )
        assert status == 200, body
        cb = await stack.db.callbacks.get(body["callback"]["id"])
        assert cb.reason is CallbackReason.PROMISED
        assert cb.owner_user_id == stack.users["agent1"].id
        assert cb.phone_e164 == "+8613800138000"
        due_in = (cb.due_at - before).total_seconds()
        assert 29 * 60 < due_in < 31 * 60  # default now + 30 minutes

        _, lead_ws = await stack.live(s, "lead1")
        await take_call(stack, "e-1")
        status, body = await post(
            s,
            f"{stack.url}/api/calls/e-1/wrapup",
            token,
            {
                "disposition": "complaint",
                "notes": "包裹破损，要求赔偿",
                "result": "escalate",
                "escalate_to": "lead",
            },
        )
        assert status == 200, body
        case = await stack.db.cases.get(body["case"]["id"])
        assert case.owner_user_id == stack.users["agent1"].id  # first contact owns it
        assert case.status is CaseStatus.ESCALATED
        assert case.call_id == "e-1"
        note, _ = await receive_until(lead_ws, "escalation")
        assert note["case"]["id"] == case.id

        status, body = await post(
            s,
            f"{stack.url}/api/calls/e-1/wrapup",
            token,
            {
                "result": "escalate",
                "escalate_to": "department",
                "department": "nowhere",
            },
        )
        assert status == 400
        assert body["error_id"] == "bad-department"
        await lead_ws.close()


async def test_agents_see_only_their_own_calls(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        await stack.db.calls.save_many([record("a-1", 1), record("a-2", 2), record("a-3", 3)])
        agent1 = await stack.token(s, "agent1")
        async with s.get(f"{stack.url}/api/calls/a-2", headers=bearer(agent1)) as res:
            assert res.status == 404
        status, _body = await post(s, f"{stack.url}/api/calls/a-2/wrapup", agent1, {"notes": "x"})
        assert status == 404
        async with s.get(f"{stack.url}/api/calls", headers=bearer(agent1)) as res:
            assert [c["call_id"] for c in (await res.json())["calls"]] == ["a-1"]
        lead = await stack.token(s, "lead1")
        async with s.get(f"{stack.url}/api/calls", headers=bearer(lead)) as res:
            assert {c["call_id"] for c in (await res.json())["calls"]} == {"a-1", "a-2"}
        manager = await stack.token(s, "manager1")
        async with s.get(f"{stack.url}/api/calls?agent=Agent 1003", headers=bearer(manager)) as res:
            assert [c["call_id"] for c in (await res.json())["calls"]] == ["a-3"]
        async with s.get(f"{stack.url}/api/calls?since=yesterday", headers=bearer(manager)) as res:
            assert res.status == 400
            assert (await res.json())["error_id"] == "bad-parameter"


async def test_customers_api_reads_are_audited(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent2")
        status, created = await post(
            s,
            f"{stack.url}/api/customers",
            token,
            {
                "name": "李四",
                "company": "远航物流",
                "phones": ["+86 139 1111 2222"],
                "vip_level": 1,
            },
        )
        assert status == 201, created
        async with s.get(
            f"{stack.url}/api/customers?phone=13911112222", headers=bearer(token)
        ) as res:
            found = (await res.json())["customers"]
        assert [c["id"] for c in found] == [created["id"]]
        async with s.patch(
            f"{stack.url}/api/customers/{created['id']}",
            json={"vip_level": 3, "notes": "大客户"},
            headers=bearer(token),
        ) as res:
            assert (await res.json())["vip_level"] == 3
        async with s.patch(
            f"{stack.url}/api/customers/{created['id']}",
            json={"vip_level": "high"},
            headers=bearer(token),
        ) as res:
            assert res.status == 400
        async with s.get(f"{stack.url}/api/customers/999999", headers=bearer(token)) as res:
            assert res.status == 404
            assert (await res.json())["error_id"] == "not-found"
        actions = [(e.action, e.subject) for e in await stack.db.audit.list(actor="agent2")]
        assert ("customer.read", f"customer:{created['id']}") in actions
        assert ("customer.update", f"customer:{created['id']}") in actions


async def test_callbacks_list_and_attempts(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        now = datetime.now(UTC)
        mine = await stack.db.callbacks.create(
            phone_e164="+8613800138000",
            reason=CallbackReason.ABANDONED,
            created_at=now,
            due_at=now + timedelta(minutes=20),
            owner_user_id=stack.users["agent1"].id,
        )
        theirs = await stack.db.callbacks.create(
            phone_e164="+8613700000000",
            reason=CallbackReason.PROMISED,
            created_at=now,
            due_at=now + timedelta(minutes=10),
            owner_user_id=stack.users["agent2"].id,
        )
        token = await stack.token(s, "agent1")
        async with s.get(f"{stack.url}/api/callbacks?status=open", headers=bearer(token)) as res:
            listed = (await res.json())["callbacks"]
        assert [c["id"] for c in listed] == [mine.id]
        # dialled as stored, read as agents in China write it
        assert (listed[0]["phone"], listed[0]["phone_display"]) == ("+8613800138000", "13800138000")
        status, body = await post(
            s, f"{stack.url}/api/callbacks/{theirs.id}/attempts", token, {"result": "busy"}
        )
        assert status == 403
        status, body = await post(
            s, f"{stack.url}/api/callbacks/{mine.id}/attempts", token, {"result": "maybe"}
        )
        assert status == 400
        status, body = await post(
            s,
            f"{stack.url}/api/callbacks/{mine.id}/attempts",
            token,
            {"result": "reached", "note": "已告知处理结果"},
        )
        assert status == 201, body
        done = await stack.db.callbacks.get(mine.id)
        assert done.status is CallbackStatus.DONE
        assert [a.result.value for a in done.attempts] == ["reached"]
        async with s.get(f"{stack.url}/api/callbacks?status=done", headers=bearer(token)) as res:
            assert [c["id"] for c in (await res.json())["callbacks"]] == [mine.id]
