"""The WebSocket: per-seat delivery, resume without loss, snapshots, slow clients."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import aiohttp
import pytest

from agent_console.live.hub import CLOSE_TOO_SLOW
from agent_console.web.deps import ConsoleConfig
from crm_core.domain.events import AgentRingStarted, CallAnswered
from crm_core.domain.models import Role
from tests.integration.test_console_harness import (
    console_stack,
    raw_ws_handshake,
    receive_batch,
    receive_until,
)


def ring(call_id: str, n: int, number: str = "13800138000", name: str = "张三") -> AgentRingStarted:
    return AgentRingStarted(
        at=datetime.now(UTC),
        call_id=call_id,
        queue="support",
        agent=f"Agent 100{n}",
        interface=f"Local/100{n}@agents/n",
        caller_number=number,
        caller_name=name,
    )


async def test_pop_reaches_only_the_ringing_agent_with_the_customer_card(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        customer = await stack.db.customers.create(
            name="张三", phones=["13800138000"], company="星河贸易", vip_level=2
        )
        ws1 = await stack.ws(s, await stack.token(s, "agent1"))
        ws2 = await stack.ws(s, await stack.token(s, "agent2"))
        snap1, _ = await receive_until(ws1, "snapshot")
        await receive_until(ws2, "snapshot")
        assert snap1["agent_state"]["status"] == "logged_out"

        started = time.perf_counter()
        await stack.bus.publish(ring("c-1", 1))
        pop, _ = await receive_until(ws1, "screen_pop")
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert pop["call_id"] == "c-1"
        assert pop["caller_number"] == "13800138000"
        assert pop["seq"] == snap1["seq"] + 1
        assert elapsed_ms < 200
        card, _ = await receive_until(ws1, "screen_pop_customer")
        assert card["known"] is True
        assert card["customer"]["id"] == customer.id
        assert card["customer"]["vip_level"] == 2

        # agent2 saw nothing: its next message is the answer to its own ping
        await ws2.send_json({"type": "ping"})
        _, seen = await receive_until(ws2, "pong")
        assert [m["type"] for m in seen] == ["pong"]

        audit = await stack.db.audit.list(actor="agent1")
        assert any(
            e.action == "customer.read" and e.subject == f"customer:{customer.id}" for e in audit
        )

        # an unknown number pops a "new customer" card
        await stack.bus.publish(ring("c-2", 1, number="13999999999", name="<script>x</script>"))
        pop, _ = await receive_until(ws1, "screen_pop")
        assert pop["caller_name"] == "<script>x</script>"
        card, _ = await receive_until(ws1, "screen_pop_customer")
        assert card["known"] is False
        assert card["customer"] is None
        await ws1.close()
        await ws2.close()


async def test_reconnect_with_resume_misses_no_pop(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        ws = await stack.ws(s, token)
        snap, _ = await receive_until(ws, "snapshot")
        await stack.bus.publish(ring("r-0", 1))
        first, _ = await receive_until(ws, "screen_pop_customer")
        last_seq = first["seq"]
        await ws.close()

        # a second tab of the same agent stays connected: when it has the three cards,
        # the hub has them too (they are replayed on resume, not delivered live)
        tab = await stack.ws(s, token)
        await receive_until(tab, "snapshot")
        for i in range(1, 4):  # the console is away while three calls ring
            await stack.bus.publish(ring(f"r-{i}", 1))
        cards: list[str] = []
        async with asyncio.timeout(5):
            while len(cards) < 3:
                batch = await receive_batch(tab)
                cards += [m["call_id"] for m in batch if m["type"] == "screen_pop_customer"]
        await tab.close()

        ws = await stack.ws(s, token, after=last_seq)
        pops: list[str] = []
        seqs: list[int] = []
        async with asyncio.timeout(5):
            while len(pops) < 3:
                for msg in await receive_batch(ws):
                    seqs.append(msg["seq"])
                    if msg["type"] == "screen_pop":
                        pops.append(msg["call_id"])
        assert pops == ["r-1", "r-2", "r-3"]
        assert seqs == sorted(seqs)
        assert seqs[0] == last_seq + 1
        assert snap["seq"] < last_seq

        # a resume from before the buffer's start gets a snapshot with the live cards
        await ws.send_json({"type": "resume", "after": -100})
        snapshot, _ = await receive_until(ws, "snapshot")
        assert {c["call_id"] for c in snapshot["calls"]} >= {"r-1", "r-2", "r-3"}
        await ws.close()


async def test_call_updates_follow_the_card(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        ws = await stack.ws(s, await stack.token(s, "agent1"))
        await receive_until(ws, "snapshot")
        await stack.bus.publish(ring("u-1", 1))
        await receive_until(ws, "screen_pop")
        await stack.bus.publish(ring("u-2", 1, number="13700000000"))
        waiting, _ = await receive_until(ws, "screen_pop")
        assert waiting["waiting"] is True
        await stack.bus.publish(
            CallAnswered(
                at=datetime.now(UTC),
                call_id="u-1",
                queue="support",
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                wait_seconds=3.0,
                ring_seconds=2.0,
            )
        )
        update, _ = await receive_until(ws, "call_update")
        assert update["call_id"] == "u-1"
        assert update["state"] == "talking"
        # a reload (new socket, no resume) shows both cards in the snapshot
        ws2 = await stack.ws(s, await stack.token(s, "agent1"))
        snap, _ = await receive_until(ws2, "snapshot")
        states = {c["call_id"]: c["state"] for c in snap["calls"]}
        assert states == {"u-1": "talking", "u-2": "ringing"}
        await ws.close()
        await ws2.close()


async def test_slow_client_is_closed_without_slowing_others(database_url: str) -> None:
    config = ConsoleConfig(ws_socket_queue=16)
    async with (
        console_stack(database_url, config=config, telephony=False) as stack,
        aiohttp.ClientSession() as s,
    ):
        token = await stack.token(s, "agent1")
        stuck = await raw_ws_handshake(stack.url, token)
        fast = await stack.ws(s, token)
        await receive_until(fast, "snapshot")
        conns = list(stack.hub.stream_for(stack.users["agent1"]).connections)
        assert len(conns) == 2

        blob = "x" * 32_000
        worst = 0.0
        for i in range(400):  # ~13 MB: far more than the socket buffers hold
            sent = time.perf_counter()
            stack.hub.send_to_user("agent1", {"type": "bulk", "i": i, "blob": blob})
            async with asyncio.timeout(5):
                while True:
                    batch = await receive_batch(fast)
                    if any(m.get("i") == i for m in batch):
                        break
            worst = max(worst, time.perf_counter() - sent)
        assert worst < 0.5  # the fast console never waited on the stuck one

        async with asyncio.timeout(5):
            while any(not c.closed for c in conns if c.close_code == CLOSE_TOO_SLOW) or not any(
                c.close_code == CLOSE_TOO_SLOW for c in conns
            ):
                await asyncio.sleep(0.01)
        assert sum(1 for c in conns if c.close_code == CLOSE_TOO_SLOW) == 1
        stuck.close()
        await fast.close()


async def test_client_messages_are_checked_against_the_role(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        handled: list[str] = []

        async def barge(conn, message):  # type: ignore[no-untyped-def]
            handled.append(conn.user.username)

        stack.hub.add_message_handler("barge", (Role.LEAD,), barge)
        agent = await stack.ws(s, await stack.token(s, "agent1"))
        lead = await stack.ws(s, await stack.token(s, "lead1"))
        await receive_until(agent, "snapshot")
        await receive_until(lead, "snapshot")
        await agent.send_json({"type": "barge"})
        error, _ = await receive_until(agent, "error")
        assert error["error_id"] == "forbidden"
        await lead.send_json({"type": "barge"})
        await lead.send_json({"type": "ping"})
        await receive_until(lead, "pong")
        assert handled == ["lead1"]
        await agent.send_str("not json")
        error, _ = await receive_until(agent, "error")
        assert error["error_id"] == "bad-message"
        await agent.close()
        await lead.close()


async def test_logout_closes_the_users_sockets(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token, ws = await stack.live(s, "agent1")
        async with s.post(
            f"{stack.url}/api/logout", headers={"Authorization": f"Bearer {token}"}
        ) as res:
            assert res.status == 200
        async with asyncio.timeout(5):
            msg = await ws.receive()
            while msg.type is aiohttp.WSMsgType.TEXT:
                msg = await ws.receive()
        assert ws.close_code == 4001
        async with s.get(
            f"{stack.url}/api/me", headers={"Authorization": f"Bearer {token}"}
        ) as res:
            assert res.status == 401


async def test_heartbeat_carries_the_current_seq(database_url: str) -> None:
    config = ConsoleConfig(heartbeat_seconds=0.1)
    async with (
        console_stack(database_url, config=config, telephony=False) as stack,
        aiohttp.ClientSession() as s,
    ):
        ws = await stack.ws(s, await stack.token(s, "agent1"))
        await receive_until(ws, "snapshot")
        await stack.bus.publish(ring("h-1", 1))
        pop, _ = await receive_until(ws, "screen_pop")
        beat, _ = await receive_until(ws, "heartbeat")
        assert beat["seq"] >= pop["seq"]
        await ws.close()


async def test_a_cross_site_page_cannot_open_the_socket_with_the_cookie(
    database_url: str,
) -> None:
    """Issue 13 item 11: a page on another site connected with the agent's cookie."""
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        host = stack.url.removeprefix("http://")
        for origin in ("https://evil.example", "http://evil.example:8080"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(f"{stack.url}/ws?token={token}", headers={"Origin": origin})
            assert refused.value.status == 403
        # the console's own page
        ws = await s.ws_connect(
            f"{stack.url}/ws?token={token}", headers={"Origin": f"http://{host}"}
        )
        snap, _ = await receive_until(ws, "snapshot")
        assert snap["me"]["username"] == "agent1"
        await ws.close()


async def test_one_message_per_frame_unless_the_client_asks_for_batches(
    database_url: str,
) -> None:
    """CONTRACTS: one JSON object per frame; arrays only for a client that opts in."""
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        plain = await s.ws_connect(f"{stack.url}/ws?token={token}")
        batched = await s.ws_connect(f"{stack.url}/ws?token={token}&batch=1")
        await receive_until(plain, "snapshot")
        await receive_until(batched, "snapshot")
        for n in range(40):  # published back to back: they queue up together
            await stack.bus.publish(ring(f"burst-{n}", 1, number=f"1380013{n:04d}"))
        frames: list[object] = []
        while sum(1 for f in frames if isinstance(f, dict) and f.get("type") == "screen_pop") < 40:
            msg = await plain.receive()
            frames.append(json.loads(msg.data))
        assert all(isinstance(f, dict) for f in frames)
        arrays = 0
        pops = 0
        while pops < 40:
            data = json.loads((await batched.receive()).data)
            arrays += isinstance(data, list)
            pops += sum(
                m["type"] == "screen_pop" for m in (data if isinstance(data, list) else [data])
            )
        assert arrays >= 1  # the burst was coalesced for the client that asked
        await plain.close()
        await batched.close()
