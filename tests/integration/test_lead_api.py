"""The lead's monitor over real sockets: authorisation, actions on the PBX simulator,
wallboard messages, reassignments, report API and the rebuild after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp

from agent_console.api import setup_lead_routes
from agent_console.web.deps import DEPS_KEY
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.domain.events import AgentMissedCall, CallOffered
from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    CallRecord,
    CaseKind,
    Direction,
    Role,
)
from crm_core.passwords import hash_password
from tests.integration.test_console_harness import (
    PASSWORD,
    Stack,
    make_users,
    receive_until,
    serve_stack,
    start_telephony,
)

LEAD_PHONE = "Local/1900@agents/n"


@asynccontextmanager
async def lead_stack(database_url: str, *, before: Any = None) -> AsyncIterator[Stack]:
    from crm_core.db import open_database

    db = await open_database(database_url, phone_region="CN")
    users = await make_users(db)
    team_a = users["lead1"].team_id
    users["leadphone"] = await db.users.create(
        username="leadphone",
        display_name="班长",
        role=Role.LEAD,
        password_hash=hash_password(PASSWORD),
        team_id=team_a,
        interface=LEAD_PHONE,
    )
    if before is not None:
        await before(db)
    bus = InProcessBus()
    sim, commands, parts = await start_telephony(bus)
    sim.add_queue("support")
    for n in (1, 2, 3):
        sim.add_member("support", f"Agent 100{n}", f"Local/100{n}@agents/n")
    sim.add_agent_phone("Lead Phone", LEAD_PHONE, answer_after=0.2)
    async with serve_stack(
        db,
        bus,
        sim=sim,
        commands=commands,
        users=users,
        parts=parts,
        extra_setup=[setup_lead_routes],
    ) as stack:
        yield stack


async def call(
    session: aiohttp.ClientSession, stack: Stack, token: str, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    async with session.request(method, stack.url + path, headers=headers, **kw) as res:
        raw = await res.read()
        try:
            return res.status, json.loads(raw)
        except ValueError:
            return res.status, raw


def actions(stack: Stack, name: str) -> list[Any]:
    return [m for m in stack.sim.actions if m.get("Action").lower() == name.lower()]


async def test_authorisation_and_pause_on_the_pbx(database_url: str) -> None:
    async with lead_stack(database_url) as stack, aiohttp.ClientSession() as s:
        agent = await stack.token(s, "agent1")
        lead = await stack.token(s, "lead1")
        manager = await stack.token(s, "manager1")
        assert (await call(s, stack, agent, "GET", "/lead"))[0] == 403
        assert (await call(s, stack, agent, "GET", "/api/queues"))[0] == 403
        status, body = await call(
            s, stack, agent, "POST", "/api/agents/Agent 1002/spy", json={"mode": "listen"}
        )
        assert (status, body["error_id"]) == (403, "forbidden")
        status, body = await call(s, stack, lead, "POST", "/api/agents/Agent 1003/pause")
        assert (status, body["error_id"]) == (403, "other-team")
        status, _ = await call(
            s, stack, lead, "POST", "/api/agents/Agent 1003/spy", json={"mode": "barge"}
        )
        assert status == 403
        assert actions(stack, "QueuePause") == []

        status, body = await call(
            s, stack, lead, "POST", "/api/agents/Agent 1001/pause", json={"reason": "coaching"}
        )
        assert status == 200, body
        (pause,) = actions(stack, "QueuePause")
        assert pause.get("Interface") == "Local/1001@agents/n"
        assert pause.get("Paused").lower() in ("true", "1", "yes")
        status, _ = await call(s, stack, manager, "POST", "/api/agents/Agent 1003/resume")
        assert status == 200
        status, body = await call(s, stack, manager, "POST", "/api/agents/Agent 1003/logout")
        assert status == 200, body
        assert "support" in body["queues"]
        removes = {(m.get("Queue"), m.get("Interface")) for m in actions(stack, "QueueRemove")}
        assert ("support", "Local/1003@agents/n") in removes
        assert {iface for _, iface in removes} == {"Local/1003@agents/n"}
        entries = await stack.db.audit.list()
        seen = {(e.actor, e.action, e.subject) for e in entries}
        assert ("lead1", "lead.pause", "agent:Agent 1001") in seen
        assert ("manager1", "lead.resume", "agent:Agent 1003") in seen
        assert ("manager1", "lead.logout", "agent:Agent 1003") in seen
        status, body = await call(s, stack, lead, "POST", "/api/agents/Nobody/pause")
        assert (status, body["error_id"]) == (404, "no-such-agent")


async def test_spy_originates_chanspy_to_the_leads_phone(database_url: str) -> None:
    async with lead_stack(database_url) as stack, aiohttp.ClientSession() as s:
        lead = await stack.token(s, "leadphone")
        options = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}
        for n, (mode, flags) in enumerate(options.items(), start=1):
            status, body = await call(
                s, stack, lead, "POST", "/api/agents/Agent 1002/spy", json={"mode": mode}
            )
            assert status == 200, body
            originated = actions(stack, "Originate")
            assert len(originated) == n
            assert originated[-1].get("Channel") == LEAD_PHONE
            assert originated[-1].get("Application") == "ChanSpy"
            assert originated[-1].get("Data") == f"Local/1002@agents,{flags}"
        entries = await stack.db.audit.list(actor="leadphone")
        assert sorted((e.action, e.subject) for e in entries) == sorted(
            (f"spy.{mode}", "agent:Agent 1002") for mode in options
        )
        status, body = await call(
            s, stack, lead, "POST", "/api/agents/Agent 1002/spy", json={"mode": "shout"}
        )
        assert (status, body["error_id"]) == (400, "bad-mode")
        # a lead without a phone of their own cannot spy
        lead1 = await stack.token(s, "lead1")
        status, body = await call(
            s, stack, lead1, "POST", "/api/agents/Agent 1002/spy", json={"mode": "listen"}
        )
        assert (status, body["error_id"]) == (409, "no-phone")


async def test_wallboard_over_websocket_team_scoped(database_url: str) -> None:
    async with lead_stack(database_url) as stack, aiohttp.ClientSession() as s:
        lead = await stack.token(s, "lead1")
        _, ws_agent = await stack.live(s, "agent1")
        await ws_agent.send_json({"type": "wallboard_subscribe"})
        refused, _ = await receive_until(ws_agent, "error")
        assert refused["error_id"] == "forbidden"

        ws = await stack.ws(s, lead)
        await receive_until(ws, "snapshot")
        await ws.send_json({"type": "wallboard_subscribe"})
        snap, _ = await receive_until(ws, "wallboard_snapshot")
        names = {a["name"] for a in snap["board"]["agents"]}
        assert names == {"Agent 1001", "Agent 1002"}  # not Team B's Agent 1003
        now = stack.app[DEPS_KEY].clock.now()
        await stack.bus.publish(
            CallOffered(
                at=now,
                call_id="w.1",
                queue="support",
                position=1,
                caller_number="13800138000",
                caller_name="张三",
            )
        )
        for member in ("Agent 1003", "Agent 1001"):
            await stack.bus.publish(
                AgentMissedCall(
                    at=now,
                    call_id="w.1",
                    queue="support",
                    agent=member,
                    interface=f"Local/{member[-4:]}@agents/n",
                    ring_seconds=15.0,
                )
            )
        alert, _ = await receive_until(ws, "alert")
        assert alert["alert"]["kind"] == "missed_ring"
        assert alert["alert"]["agent"] == "Agent 1001"  # Team B's alert never reached lead1
        update, _ = await receive_until(ws, "wallboard_update", timeout=5)
        (support,) = [q for q in update["board"]["queues"] if q["name"] == "support"]
        assert (support["waiting"], support["offered"]) == (1, 1)
        agents = {a["name"]: a for a in update["board"]["agents"]}
        assert agents["Agent 1001"]["missed_today"] == 1
        # the same figures over REST
        status, body = await call(s, stack, lead, "GET", "/api/queues")
        assert status == 200
        assert [q["waiting"] for q in body["queues"] if q["name"] == "support"] == [1]
        status, body = await call(s, stack, lead, "GET", "/api/agents")
        assert {a["name"] for a in body["agents"]} == {"Agent 1001", "Agent 1002"}
        await ws.close()
        await ws_agent.close()


async def test_reassign_callback_and_case(database_url: str) -> None:
    async with lead_stack(database_url) as stack, aiohttp.ClientSession() as s:
        db, users = stack.db, stack.users
        now = SystemClock().now()
        cb = await db.callbacks.create(
            phone_e164="+8613800138000",
            reason=CallbackReason.PROMISED,
            due_at=now + timedelta(minutes=30),
            created_at=now,
            owner_user_id=users["agent1"].id,
            queue="support",
        )
        case = await db.cases.create(
            kind=CaseKind.COMPLAINT,
            subject="投诉",
            created_at=now,
            customer_id=None,
            owner_user_id=users["agent1"].id,
        )
        lead = await stack.token(s, "lead1")
        manager = await stack.token(s, "manager1")
        agent = await stack.token(s, "agent1")
        path_cb, path_case = f"/api/callbacks/{cb.id}/reassign", f"/api/cases/{case.id}/reassign"
        assert (await call(s, stack, agent, "POST", path_cb, json={"to": "agent2"}))[0] == 403
        status, body = await call(s, stack, lead, "POST", path_cb, json={"to": "agent3"})
        assert (status, body["error_id"]) == (403, "other-team")
        status, body = await call(s, stack, lead, "POST", path_cb, json={"to": "agent2"})
        assert status == 200, body
        assert (await db.callbacks.get(cb.id)).owner_user_id == users["agent2"].id
        status, body = await call(s, stack, lead, "POST", path_case, json={"to": "Agent 1002"})
        assert status == 200, body
        assert (await db.cases.get(case.id)).owner_user_id == users["agent2"].id
        status, _ = await call(s, stack, manager, "POST", path_case, json={"to": "agent3"})
        assert status == 200
        # now owned by Team B: lead1 may no longer move it
        status, body = await call(s, stack, lead, "POST", path_case, json={"to": "agent1"})
        assert (status, body["error_id"]) == (403, "other-team")
        status, body = await call(
            s, stack, lead, "POST", "/api/cases/999999/reassign", json={"to": "agent1"}
        )
        assert status == 404
        actions_seen = {(e.actor, e.action) for e in await db.audit.list()}
        assert {("lead1", "callback.reassign"), ("lead1", "case.reassign")} <= actions_seen


def today_records(now: Any) -> list[CallRecord]:
    out = []
    for i in range(5):
        start = now - timedelta(minutes=5 + i)
        answered = i < 3
        out.append(
            CallRecord(
                call_id=f"r.{i}",
                direction=Direction.INBOUND,
                caller_number="13800138000",
                caller_name="王小明",
                queue="support",
                agent="Agent 1001" if answered else None,
                started_at=start,
                answered_at=start + timedelta(seconds=10) if answered else None,
                ended_at=start + timedelta(seconds=70),
                wait_seconds=10.0 if answered else 30.0,
                talk_seconds=60.0 if answered else 0.0,
                outcome=CallOutcome.ANSWERED if answered else CallOutcome.ABANDONED,
            )
        )
    return out


async def test_board_rebuilt_after_restart_and_report_csv(database_url: str) -> None:
    now = SystemClock().now()
    # keep the calls inside today's local day whatever time the test runs
    from crm_core.services.live import LiveBoard

    day_start = LiveBoard().day_start(LiveBoard().local_day(now))
    if now - day_start < timedelta(minutes=15):
        now = day_start + timedelta(minutes=15)

    async def seed(db: Any) -> None:
        await db.calls.save_many(today_records(now))

    async with lead_stack(database_url, before=seed) as stack, aiohttp.ClientSession() as s:
        manager = await stack.token(s, "manager1")
        for _ in range(50):  # the rebuild runs in the app's startup
            status, body = await call(s, stack, manager, "GET", "/api/queues")
            if any(q["name"] == "support" for q in body["queues"]):
                break
            await asyncio.sleep(0.05)
        (support,) = [q for q in body["queues"] if q["name"] == "support"]
        assert (support["offered"], support["answered"], support["abandoned"]) == (5, 3, 2)
        assert support["asa_seconds"] == 10.0

        day = LiveBoard().local_day(now).isoformat()
        status, body = await call(
            s, stack, manager, "GET", f"/api/reports/daily?date={day}&group=agent"
        )
        assert status == 200
        rows = {r["group"]: r for r in body["rows"]}
        assert rows["Agent 1001"]["answered"] == 3
        assert body["total"]["abandoned"] == 2
        status, raw = await call(
            s,
            stack,
            manager,
            "GET",
            f"/api/reports/daily?date={day}&group=queue",
            headers={"Accept": "text/csv"},
        )
        assert status == 200
        assert raw.startswith(b"\xef\xbb\xbf")
        lines = raw.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("group,calls_in,calls_out,offered,answered,abandoned")
        assert lines[1].startswith("support,5,0,5,3,2")
        exports = [e for e in await stack.db.audit.list() if e.action == "reports.export"]
        assert len(exports) == 1
        agent = await stack.token(s, "agent1")
        assert (await call(s, stack, agent, "GET", "/api/reports/daily"))[0] == 403
        for period in ("monthly", "annual"):  # CONTRACTS.md: daily … annual
            status, body = await call(
                s, stack, manager, "GET", f"/api/reports/{period}?date={day}&group=queue"
            )
            assert status == 200, body
            assert body["period"] == period
            assert body["start"] <= day <= body["end"]
            assert body["total"]["abandoned"] == 2
        status, page = await call(
            s, stack, manager, "GET", f"/lead/reports?period=weekly&date={day}"
        )
        assert status == 200
        assert b"support" in page


async def test_a_leads_action_is_the_agents_own_state_change_forced(database_url: str) -> None:
    """ADR 0081: one use case. The agent's console shows the lead's pause (reason and all),
    and a logout leaves every queue the console saw the agent in."""
    async with lead_stack(database_url) as stack, aiohttp.ClientSession() as s:
        lead = await stack.token(s, "lead1")
        agent = await stack.token(s, "agent1")
        status, body = await call(s, stack, lead, "POST", "/api/agents/Agent 1001/pause")
        assert (status, body) == (200, {"ok": True, "agent": "Agent 1001", "action": "pause"})
        status, me = await call(s, stack, agent, "GET", "/api/me")
        assert status == 200, me
        assert (me["agent_state"]["status"], me["agent_state"]["reason"]) == (
            "paused",
            "supervisor",
        )
        status, body = await call(s, stack, lead, "POST", "/api/agents/Agent 1001/logout")
        assert status == 200, body
        assert body["queues"] == ["sales", "support"]  # "not there" counts as done
        status, me = await call(s, stack, agent, "GET", "/api/me")
        assert me["agent_state"]["status"] == "logged_out"
        # the agent's own pause refuses a reason outside the configured ones; a lead's is free
        status, body = await call(
            s, stack, agent, "POST", "/api/agent/state", json={"action": "pause", "reason": "x"}
        )
        assert (status, body["error_id"]) == (400, "bad-reason")
        entries = await stack.db.audit.list(actor="lead1")
        assert sorted((e.action, e.detail) for e in entries if e.action.startswith("lead.")) == [
            ("lead.logout", ""),
            ("lead.pause", "supervisor"),
        ]
