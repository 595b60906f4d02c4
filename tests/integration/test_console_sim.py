"""The console wired to the PBX simulator over real AMI: agent states follow Asterisk,
a simulated call pops, is answered, ends and is wrapped up into the CRM."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.ports.repositories import NotFound
from tests.integration.test_console_harness import Stack, console_stack, receive_until


def keep_call_records(stack: Stack) -> None:
    """What the call-log writer does: finished records land in the CRM."""

    async def save(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            await stack.db.calls.save_many([event.record])

    stack.bus.subscribe(save)


def actions(stack: Stack, name: str) -> list[dict[str, str]]:
    return [dict(a.headers) for a in stack.sim.actions if a.headers.get("Action") == name]


async def wrapped_up(stack: Stack, call_id: str) -> bool:
    try:
        return (await stack.db.calls.get(call_id)).disposition is not None
    except NotFound:
        return False


async def post(s: aiohttp.ClientSession, url: str, token: str, body: Any) -> tuple[int, Any]:
    async with s.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as res:
        return res.status, await res.json()


async def wait_state(ws: aiohttp.ClientWebSocketResponse, field: str, value: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg, _ = await receive_until(ws, "agent_state")
            if msg[field] == value:
                return msg


async def test_agent_states_follow_queue_membership(database_url: str) -> None:
    async with console_stack(database_url) as stack, aiohttp.ClientSession() as s:
        token, ws = await stack.live(s, "agent1")
        status, body = await post(s, f"{stack.url}/api/agent/state", token, {"action": "sign_in"})
        assert status == 200, body
        added = actions(stack, "QueueAdd")
        assert {a["Queue"] for a in added} == {"support", "sales"}
        assert all(a["Interface"] == "Local/1001@agents/n" for a in added)

        status, body = await post(
            s, f"{stack.url}/api/agent/state", token, {"action": "pause", "reason": "meal"}
        )
        assert status == 200, body
        paused = await wait_state(ws, "paused", True)
        assert paused["reason"] == "meal"
        assert actions(stack, "QueuePause")[-1]["Paused"].lower() in ("true", "1", "yes")

        status, body = await post(
            s, f"{stack.url}/api/agent/state", token, {"action": "pause", "reason": "nap"}
        )
        assert status == 400
        assert body["error_id"] == "bad-reason"

        await post(s, f"{stack.url}/api/agent/state", token, {"action": "resume"})
        await wait_state(ws, "paused", False)
        # a reload shows the same state (the snapshot carries it)
        ws2 = await stack.ws(s, token)
        snap, _ = await receive_until(ws2, "snapshot")
        assert snap["agent_state"]["status"] == "available"
        assert set(snap["agent_state"]["queues"]) == {"support", "sales"}

        await post(s, f"{stack.url}/api/agent/state", token, {"action": "sign_out"})
        assert {a["Queue"] for a in actions(stack, "QueueRemove")} == {"support", "sales"}
        await wait_state(ws, "status", "logged_out")
        await ws.close()
        await ws2.close()


async def test_simulated_call_pops_is_answered_and_wrapped_up(database_url: str) -> None:
    async with console_stack(database_url) as stack, aiohttp.ClientSession() as s:
        keep_call_records(stack)
        customer = await stack.db.customers.create(
            name="张三", phones=["13800138000"], company="星河贸易", vip_level=1
        )
        token, ws = await stack.live(s, "agent1")
        _, ws_other = await stack.live(s, "agent2")
        await post(s, f"{stack.url}/api/agent/state", token, {"action": "sign_in"})

        call_id = stack.sim.place_call("13800138000", "ZHANG SAN", "support", talk_seconds=0.5)
        pop, _ = await receive_until(ws, "screen_pop", timeout=10)
        assert pop["call_id"] == call_id
        assert pop["caller_number"] == "13800138000"
        card, _ = await receive_until(ws, "screen_pop_customer")
        assert card["customer"]["id"] == customer.id

        states: list[str] = []
        agent_states: list[str] = []
        async with asyncio.timeout(15):
            while "ended" not in states:
                update, seen = await receive_until(ws, "call_update", timeout=15)
                agent_states += [m["status"] for m in seen if m["type"] == "agent_state"]
                if update["call_id"] == call_id:
                    states.append(update["state"])
        assert states[0] == "talking"
        # the header says so too: Asterisk sends no member status at the answer
        assert "on_call" in agent_states, agent_states

        status, body = await post(
            s,
            f"{stack.url}/api/calls/{call_id}/wrapup",
            token,
            {"disposition": "information", "notes": "营业时间咨询", "result": "resolved"},
        )
        assert status in (200, 202), body  # 202: the record lands a moment after hang-up
        async with asyncio.timeout(5):
            while not await wrapped_up(stack, call_id):
                await asyncio.sleep(0.05)
        saved = await stack.db.calls.get(call_id)
        assert saved.agent == "Agent 1001"
        assert saved.disposition == "information"
        assert saved.wrapup_notes == "营业时间咨询"
        assert saved.customer_id == customer.id

        # agent2 never saw agent1's pop
        await ws_other.send_json({"type": "ping"})
        _, seen = await receive_until(ws_other, "pong")
        assert not [m for m in seen if m["type"] in ("screen_pop", "screen_pop_customer")]
        await ws.close()
        await ws_other.close()
