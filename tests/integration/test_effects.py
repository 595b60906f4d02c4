"""Side effects of a call exactly once across instances, and applied after an outage
(docs/adr/0060), on SQLite and PostgreSQL. Two "instances" are two services with
their own database connections, as two `serve` processes have; the cluster test
(test_cluster_effects.py) does the same with real processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import FakeClock
from crm_core.db import Database, open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.events import (
    AgentMissedCall,
    AlertRaised,
    CallbackScheduled,
    CallEnded,
    DomainEvent,
    RuleViolated,
)
from crm_core.domain.models import (
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Offer,
    OfferResult,
    ViolationKind,
)
from crm_core.services.callbacks import CallbackService
from crm_core.services.effects import EffectSweeper
from crm_core.services.rules import RingRuleService
from crm_core.services.worker import EventWorker
from tests.calls import queue_call
from tests.fakes.recorders import PauseRecorder, collect

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SETTINGS = Settings()  # ring limit 15 s, abandon threshold 5 s
IFACE = "Local/1001@agents/n"


@dataclass
class Instance:
    db: Database
    bus: InProcessBus
    callbacks: CallbackService
    rules: RingRuleService
    commands: PauseRecorder
    seen: list[DomainEvent]


@pytest.fixture
async def instances(database_url: str) -> AsyncIterator[list[Instance]]:
    """Two instances on one database, each with its own connections, bus and PBX link."""
    made: list[Instance] = []
    clock = FakeClock(T0 + timedelta(minutes=1))
    for n in (1, 2):
        db = await open_database(database_url)
        db.effects.instance = f"cc{n}"
        bus = InProcessBus()
        seen = collect(bus)
        commands = PauseRecorder()
        made.append(
            Instance(
                db=db,
                bus=bus,
                callbacks=CallbackService(db=db, bus=bus, clock=clock, settings=SETTINGS),
                rules=RingRuleService(
                    db=db,
                    bus=bus,
                    clock=clock,
                    settings=SETTINGS,
                    commands=commands,
                ),
                commands=commands,
                seen=seen,
            )
        )
    yield made
    for inst in made:
        await inst.callbacks.stop()
        await inst.rules.stop()
        await inst.db.close()


def _record(
    call_id: str,
    *,
    number: str = "13800138000",
    wait: float = 20.0,
    outcome: CallOutcome = CallOutcome.ABANDONED,
    offers: tuple[Offer, ...] = (),
    at: datetime = T0,
) -> CallRecord:
    return queue_call(call_id, outcome, at, wait=wait, number=number, offers=offers)


def _missed(call_id: str, ended: datetime, ring: float = 15.0) -> AgentMissedCall:
    return AgentMissedCall(
        at=ended,
        call_id=call_id,
        queue="support",
        agent="Agent 1001",
        interface=IFACE,
        ring_seconds=ring,
    )


def _offer(
    ended: datetime, ring: float = 15.0, result: OfferResult = OfferResult.NO_ANSWER
) -> Offer:
    return Offer(
        agent="Agent 1001",
        interface=IFACE,
        queue="support",
        ring_started_at=ended - timedelta(seconds=ring),
        ring_ended_at=ended,
        ring_seconds=ring,
        result=result,
    )


async def _open_callbacks(db: Database) -> list[tuple[str, int]]:
    open_ = await db.callbacks.list(status=[CallbackStatus.OPEN, CallbackStatus.OVERDUE])
    return sorted((cb.phone_e164, cb.merged_count) for cb in open_)


async def test_every_instance_hears_the_abandon_one_callback_is_opened(
    instances: list[Instance],
) -> None:
    a, b = instances
    # four abandoned calls, each heard by both instances at the same moment; two of
    # them from one number (merged into one callback, counted once per call)
    events = [
        CallEnded(at=T0, record=_record("c.1", number="13800138001")),
        CallEnded(at=T0, record=_record("c.2", number="13800138002")),
        CallEnded(at=T0, record=_record("c.3", number="13800138003")),
        CallEnded(at=T0, record=_record("c.4", number="13800138003")),
    ]
    for event in events:
        results = await asyncio.gather(
            a.callbacks.on_call_ended(event), b.callbacks.on_call_ended(event)
        )
        assert sum(r is not None for r in results) == 1, results  # exactly one applied it
    assert await _open_callbacks(a.db) == [
        ("+8613800138001", 0),
        ("+8613800138002", 0),
        ("+8613800138003", 1),
    ]
    scheduled = [e for i in instances for e in i.seen if isinstance(e, CallbackScheduled)]
    assert len(scheduled) == 4  # announced once per call, by the instance that applied it
    assert [e.merged for e in scheduled].count(True) == 1
    assert await a.db.effects.applied("c.1") == ["callback"]


async def test_two_calls_of_one_number_at_once_on_two_instances_merge(
    instances: list[Instance],
) -> None:
    a, b = instances
    first = CallEnded(at=T0, record=_record("m.1"))
    second = CallEnded(at=T0, record=_record("m.2"))
    await asyncio.gather(
        a.callbacks.on_call_ended(first),
        b.callbacks.on_call_ended(second),
        a.callbacks.on_call_ended(second),
        b.callbacks.on_call_ended(first),
    )
    assert await _open_callbacks(a.db) == [("+8613800138000", 1)]


async def test_a_missed_ring_is_one_violation_and_one_pause_across_instances(
    instances: list[Instance],
) -> None:
    a, b = instances
    ring1 = T0 - timedelta(seconds=40)
    ring2 = T0 - timedelta(seconds=20)  # the queue tried the same agent again: a second miss
    for event in (_missed("v.1", ring1), _missed("v.1", ring2)):
        a.rules.handle(event)
        b.rules.handle(event)
    await a.rules.stop()
    await b.rules.stop()
    violations = await a.db.violations.list()
    assert sorted(v.at for v in violations) == [ring1, ring2]
    assert {v.kind for v in violations} == {ViolationKind.MISSED_CALL}
    pauses = a.commands.pauses + b.commands.pauses
    assert pauses == [(IFACE, True, "missed call")] * 2  # one per miss, by whoever recorded it
    alerts = [e for i in instances for e in i.seen if isinstance(e, AlertRaised)]
    assert len(alerts) == 2

    # the finished call's pass over its offers finds both, on either instance
    record = _record("v.1", outcome=CallOutcome.ABANDONED, offers=(_offer(ring1), _offer(ring2)))
    assert await a.rules.apply_call(record) == []
    assert await b.rules.apply_call(record) == []
    assert len(await a.db.violations.list()) == 2


async def test_the_sweep_applies_what_nobody_could_at_the_time(
    instances: list[Instance],
) -> None:
    """The database was away when the events came: the records reached the CRM later
    through the outbox, and the sweep applies what they owe, once, on any instance."""
    a, b = instances
    late = T0 - timedelta(seconds=30)
    answered_late = _offer(late, ring=17.0, result=OfferResult.ANSWERED)
    await a.db.calls.save_many(
        [
            _record("s.1", number="13800138001", offers=(_offer(late),)),
            _record("s.2", number="13800138002", wait=3.0),  # short abandon: owes nothing
            _record(
                "s.3", number="13800138003", outcome=CallOutcome.ANSWERED, offers=(answered_late,)
            ),
        ]
    )
    clock = FakeClock(T0 + timedelta(minutes=2))
    sweepers = [
        EffectSweeper.for_services(
            callbacks=i.callbacks, rules=i.rules, db=i.db, clock=clock, interval=30.0
        )
        for i in instances
    ]
    first, second = await asyncio.gather(*(s.sweep() for s in sweepers))
    # each effect of each call applied by exactly one of the two sweeps
    assert first.applied.get("callback", 0) + second.applied.get("callback", 0) == 3
    assert first.applied.get("ring-rule", 0) + second.applied.get("ring-rule", 0) == 3
    assert await _open_callbacks(a.db) == [("+8613800138001", 0)]
    kinds = sorted(v.kind.value for v in await a.db.violations.list())
    assert kinds == ["late_answer", "missed_call"]
    # found late: announced (the deadline scheduler and the lead hear of it), no pause
    seen = a.seen + b.seen
    assert len([e for e in seen if isinstance(e, CallbackScheduled)]) == 1
    assert len([e for e in seen if isinstance(e, RuleViolated)]) == 2
    assert a.commands.pauses == b.commands.pauses == []
    # nothing is applied twice, by a later sweep or by the live events arriving late
    again = await sweepers[0].sweep()
    assert again.total == 0
    assert await a.callbacks.on_call_ended(CallEnded(at=T0, record=_record("s.1"))) is None
    a.rules.handle(_missed("s.1", late))
    await a.rules.stop()
    assert len(await a.db.violations.list()) == 2
    assert a.commands.pauses == []


async def test_the_sweep_leaves_recent_and_old_calls_alone(instances: list[Instance]) -> None:
    a, _ = instances
    now = T0 + timedelta(hours=3)
    await a.db.calls.save_many(
        [
            _record("o.1", number="13800138001", at=T0),  # ended 3 h ago: outside the lookback
            _record("o.2", number="13800138002", at=now - timedelta(seconds=5)),  # just now
        ]
    )
    sweeper = EffectSweeper.for_services(
        callbacks=a.callbacks,
        rules=a.rules,
        db=a.db,
        clock=FakeClock(now),
        interval=30.0,
        lookback=timedelta(hours=2),
    )
    assert (await sweeper.sweep()).total == 0  # the live path has 30 s to handle o.2
    assert await _open_callbacks(a.db) == []


class Flaky(EventWorker):
    """Fails with an unreachable database `failures` times, then applies."""

    worker_name = "flaky"
    first_backoff = 0.01
    max_backoff = 0.02

    def __init__(self, failures: int, retry_seconds: float) -> None:
        super().__init__()
        self.failures = failures
        self.retry_seconds = retry_seconds
        self.applied: list[DomainEvent] = []

    async def apply(self, event: DomainEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("connection refused")
        self.applied.append(event)


async def test_worker_retries_an_unreachable_database_then_leaves_it_to_the_sweep() -> None:
    event = CallEnded(at=T0, record=_record("w.1"))
    patient = Flaky(failures=3, retry_seconds=5.0)
    patient.enqueue(event)
    await patient.stop()
    assert patient.applied == [event]
    assert patient.retried == 3

    brief = Flaky(failures=1000, retry_seconds=0.1)
    brief.enqueue(event)
    brief.enqueue(event)
    await brief.stop()
    assert brief.applied == []
    assert brief.abandoned == 2  # given up on (the sweep applies them), the worker goes on


async def test_upgrade_marks_calls_from_before_it_as_applied(database_url: str) -> None:
    """Calls handled before the upgrade owe nothing more: the first sweep must not open
    their callbacks again."""
    if database_url.startswith("sqlite"):
        url = database_url.replace("crm.db", "old.db")
    else:
        url = database_url.replace("search_path=", "search_path=old_")
    await upgrade_async(url, "0005_cdr_exact_times")
    db = await open_database(url)
    try:
        now = datetime.now(UTC)
        await db.calls.save_many([_record("u.1", at=now - timedelta(minutes=5))])
        await upgrade_async(url)
        assert await db.effects.applied("u.1") == ["callback", "ring-rule"]
    finally:
        if not database_url.startswith("sqlite"):
            async with db.engine.begin() as conn:
                schema = url.rsplit("search_path=", 1)[1]
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.close()
