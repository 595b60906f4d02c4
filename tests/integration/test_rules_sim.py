"""The rules through the simulator over real AMI, a real bus and a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from callcenter.settings import Settings
from callcenter.testing.staff import create_agents, numbered_agents
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.db import Database, open_database
from crm_core.domain.events import AlertRaised, CallEnded, DomainEvent
from crm_core.domain.models import Callback, CallbackStatus, ViolationKind
from crm_core.services.callbacks import CallbackService
from crm_core.services.rules import RingRuleService
from telephony.ami.client import AmiClient
from telephony.commands import AmiCommands
from telephony.sim import Simulator, demo_simulator
from telephony.tracker import CallTracker
from tests.integration.local_reader import local_reader
from tests.polling import eventually

SECRET = "rules-secret"


@dataclass
class Stack:
    sim: Simulator
    db: Database
    client: AmiClient
    events: list[DomainEvent] = field(default_factory=list)

    async def until(self, pred: Callable[[], object], timeout: float = 15.0) -> None:
        await eventually(pred, timeout=timeout, what="the condition")

    def ended(self) -> list[CallEnded]:
        return [e for e in self.events if isinstance(e, CallEnded)]


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    sim = demo_simulator(ami_secret=SECRET, preload_members=True, answer_after=0.2)
    for q in sim.queues.values():
        q.member_timeout, q.retry = 1.0, 0.1
    await sim.start()
    db = await open_database(database_url)
    team = await db.users.get_or_create_team("A组")
    await create_agents(db.users, team.id, numbered_agents(1), password_hash="x")
    bus = InProcessBus()
    events: list[DomainEvent] = []
    bus.subscribe(events.append)
    settings = Settings(ring_count=1, ring_cycle_seconds=1.0, abandon_threshold_seconds=0.5)

    tracker = CallTracker(settings.ring_limit_seconds, abandon_threshold_seconds=0.5)
    client = local_reader(sim.port, SECRET, tracker, bus.publish_all)
    client.start()
    await client.wait_connected(5)
    commands = AmiCommands(client, tracker)
    rules = RingRuleService(
        db=db, bus=bus, clock=SystemClock(), settings=settings, commands=commands
    )
    callbacks = CallbackService(db=db, bus=bus, clock=SystemClock(), settings=settings)
    bus.subscribe(rules.handle)
    bus.subscribe(callbacks.handle)
    yield Stack(sim, db, client, events)
    await rules.stop()
    await callbacks.stop()
    await asyncio.wait_for(client.stop(), 10)
    await asyncio.wait_for(sim.stop(), 10)
    await db.close()


async def test_missed_ring_pauses_agent_alerts_lead_and_call_moves_on(stack: Stack) -> None:
    stack.sim.set_agent("Agent 1001", None)  # never answers
    stack.sim.place_call("13800138000", "张三", "support", talk_seconds=0.2)
    await stack.until(lambda: stack.ended())
    record = stack.ended()[0].record
    assert [(o.agent, o.result.value) for o in record.offers][:2] == [
        ("Agent 1001", "no_answer"),
        ("Agent 1002", "answered"),
    ]
    await stack.until(lambda: any(isinstance(e, AlertRaised) for e in stack.events))
    alert = next(e for e in stack.events if isinstance(e, AlertRaised))
    assert alert.kind == "missed_ring"
    assert alert.team_id is not None
    await stack.until(
        lambda: any(
            a.get("Action") == "QueuePause" and a.get("Reason") == "missed call"
            for a in stack.sim.actions
        )
    )
    assert all(m.paused for m in stack.sim._members_named("Agent 1001"))
    violations = await stack.db.violations.list(agent="Agent 1001")
    assert [v.kind for v in violations] == [ViolationKind.MISSED_CALL]


async def test_abandon_owes_pool_callback_then_next_answered_call_satisfies_it(
    stack: Stack,
) -> None:
    for n in range(1, 7):
        stack.sim.set_agent(f"Agent {1000 + n}", None)
    for q in stack.sim.queues.values():
        for m in q.members:
            m.paused = True
    stack.sim.place_call("13800138009", "王五", "support", abandon_after=1.0)
    await stack.until(lambda: stack.ended())
    cb = await eventually(
        lambda: stack.db.callbacks.open_for_phone("+8613800138009"),
        timeout=5,
        what="the pool callback",
    )
    assert cb.owner_user_id is None  # the queue's pool
    assert cb.queue == "support"
    assert (cb.due_at - cb.created_at).total_seconds() == pytest.approx(1800, abs=1)

    for q in stack.sim.queues.values():
        for m in q.members:
            m.paused = False
    stack.sim.set_agent("Agent 1001", 0.2)
    stack.sim.place_call("13800138009", "王五", "support", talk_seconds=0.2)
    await stack.until(lambda: len(stack.ended()) == 2)
    closed = await eventually(_closed(stack.db, cb.id), timeout=5, what="the callback closed")
    assert closed.status == CallbackStatus.SATISFIED


def _closed(db: Database, callback_id: int) -> Callable[[], Awaitable[Callback | None]]:
    async def probe() -> Callback | None:
        callback = await db.callbacks.get(callback_id)
        return None if callback.status == CallbackStatus.OPEN else callback

    return probe
