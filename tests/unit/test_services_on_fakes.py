"""The ring rule, the callback rules and the deadline scheduler against in-memory fakes
of their ports (tests/fakes, docs/adr/0090): the rules without a database. The same
behaviour on SQLite and PostgreSQL is in tests/integration/test_rules.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import FakeClock
from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingEnded,
    AlertRaised,
    CallbackClosed,
    CallbackDue,
    CallbackReminderDue,
    CallbackRetryScheduled,
    CallbackScheduled,
    RuleViolated,
)
from crm_core.domain.models import (
    AttemptResult,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    Case,
    CaseKind,
    CaseStatus,
    Offer,
    OfferResult,
    Role,
    User,
    ViolationKind,
)
from crm_core.services.callbacks import CALLBACK_EFFECT, CallbackError, CallbackService
from crm_core.services.deadlines import DeadlineScheduler
from crm_core.services.effects import EffectSweeper
from crm_core.services.rules import RING_RULE_EFFECT, RingRuleService
from tests.calls import queue_call
from tests.fakes.db import FakeDb
from tests.fakes.recorders import PauseRecorder, collect
from tests.polling import eventually

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SETTINGS = Settings()
AGENT = User(
    id=7,
    username="agent1",
    display_name="Agent 1001",
    role=Role.AGENT,
    team_id=3,
    member_name="Agent 1001",
    interface="Local/1001@agents/n",
)
IFACE = "Local/1001@agents/n"


def _missed(at: datetime = T0, call_id: str = "1.1") -> AgentMissedCall:
    return AgentMissedCall(
        at=at,
        call_id=call_id,
        queue="support",
        agent="Agent 1001",
        interface=IFACE,
        ring_seconds=15.0,
    )


def _late(ring: float, at: datetime = T0) -> AgentRingEnded:
    return AgentRingEnded(
        at=at,
        call_id="1.1",
        queue="support",
        agent="Agent 1001",
        interface=IFACE,
        ring_seconds=ring,
        result=OfferResult.ANSWERED,
    )


def _rule(db: FakeDb, bus: InProcessBus, commands: PauseRecorder | None = None) -> RingRuleService:
    return RingRuleService(
        db=db, bus=bus, clock=FakeClock(T0), settings=SETTINGS, commands=commands
    )


def _callbacks(db: FakeDb, bus: InProcessBus, clock: FakeClock | None = None) -> CallbackService:
    return CallbackService(db=db, bus=bus, clock=clock or FakeClock(T0), settings=SETTINGS)


# --- the ring rule --------------------------------------------------------------------------


async def test_late_answer_is_one_violation_live_and_after_the_call() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    rule = _rule(db, bus)
    rule.handle(_late(15.0))  # exactly the limit: compliant
    rule.handle(_late(15.2))
    await rule.stop()
    assert [v.kind for v in db.violations.rows] == [ViolationKind.LATE_ANSWER]
    assert (rule.offers, rule.compliant) == (2, 1)
    (alert,) = [e for e in seen if isinstance(e, AlertRaised)]
    assert (alert.kind, alert.team_id) == ("late_answer", AGENT.team_id)
    # the finished call's offers name the same ring: found by its key, not recorded again
    offer = Offer(
        agent="Agent 1001",
        interface=IFACE,
        ring_started_at=T0 - timedelta(seconds=15.2),
        ring_ended_at=T0,
        ring_seconds=15.2,
        result=OfferResult.ANSWERED,
        queue="support",
    )
    assert await rule.apply_call(queue_call("1.1", CallOutcome.ANSWERED, T0, offers=(offer,))) == []
    assert len(db.violations.rows) == 1
    assert sorted(db.effects.applied("1.1")) == sorted(
        [RING_RULE_EFFECT, f"violation:late_answer:{IFACE}:2026-03-02T01:00:00.000+00:00"]
    )


async def test_missed_call_pauses_once_across_two_instances() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    commands = PauseRecorder()
    a, b = _rule(db, bus, commands), _rule(db, bus, commands)
    a.handle(_missed())
    b.handle(_missed())  # the other instance hears the same event
    await a.stop()
    await b.stop()
    (violation,) = db.violations.rows
    assert (violation.kind, violation.ring_seconds) == (ViolationKind.MISSED_CALL, 15.0)
    assert commands.pauses == [(IFACE, True, "missed call")]
    assert len([e for e in seen if isinstance(e, RuleViolated)]) == 1
    (alert,) = [e for e in seen if isinstance(e, AlertRaised)]
    assert alert.kind == "missed_ring"
    assert "paused" in alert.message


async def test_missed_ring_found_only_after_the_call_pauses_nobody() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    commands = PauseRecorder()
    rule = _rule(db, bus, commands)
    offer = Offer(
        agent="Agent 1001", interface=IFACE, ring_ended_at=T0, ring_seconds=16.0, queue="support"
    )
    record = queue_call("1.5", CallOutcome.ABANDONED, T0, wait=20.0, offers=(offer,))
    (added,) = await rule.apply_call(record)
    assert added.kind == ViolationKind.MISSED_CALL
    assert await rule.apply_call(record) == []  # once
    assert commands.pauses == []  # the call is over
    assert [e.kind for e in seen if isinstance(e, AlertRaised)] == ["missed_ring"]


async def test_a_unit_that_fails_leaves_neither_claim_nor_violation() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    rule = _rule(db, bus)
    db.violations.failure = ConnectionError("database away")
    offer = Offer(agent="Agent 1001", interface=IFACE, ring_ended_at=T0, ring_seconds=16.0)
    record = queue_call("1.6", CallOutcome.ABANDONED, T0, wait=20.0, offers=(offer,))
    with pytest.raises(ConnectionError):
        await rule.apply_call(record)
    assert db.effects.applied("1.6") == []
    assert db.effects.rolled_back == 1
    db.violations.failure = None
    assert len(await rule.apply_call(record)) == 1  # applied again, once


# --- callbacks ------------------------------------------------------------------------------


async def test_abandon_opens_a_pool_callback_that_the_next_abandon_merges_into() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    service = _callbacks(db, bus)
    assert await service.apply_call(queue_call("1.1", CallOutcome.ABANDONED, T0, wait=5.0)) is None
    cb = await service.apply_call(queue_call("1.2", CallOutcome.ABANDONED, T0, wait=8.0))
    assert cb is not None
    assert (cb.phone_e164, cb.owner_user_id, cb.queue) == ("+8613800138000", None, "support")
    assert cb.due_at == T0 + timedelta(minutes=30)
    later = T0 + timedelta(minutes=5)
    again = await service.apply_call(queue_call("1.3", CallOutcome.ABANDONED, later, wait=9.0))
    assert again is not None
    assert (again.id, again.merged_count, again.due_at) == (cb.id, 1, cb.due_at)
    assert [e.merged for e in seen if isinstance(e, CallbackScheduled)] == [False, True]
    assert len(db.callbacks.rows) == 1
    # the same call heard twice (a second instance) is applied once
    assert await service.claim_call(queue_call("1.3", CallOutcome.ABANDONED, later, wait=9.0)) == (
        False,
        None,
    )
    assert db.callbacks.rows[cb.id].merged_count == 1
    assert all(u.locked == ["callback:+8613800138000"] for u in db.effects.units if u.locked)


async def test_first_contact_owns_the_callback() -> None:
    case = Case(
        id=1,
        kind=CaseKind.COMPLAINT,
        status=CaseStatus.OPEN,
        subject="refund",
        created_at=T0 - timedelta(days=1),
        customer_id=42,
        owner_user_id=AGENT.id,
    )
    db, bus = FakeDb(AGENT, cases=[case]), InProcessBus()
    seen = collect(bus)
    cb = await _callbacks(db, bus).apply_call(
        queue_call("1.2", CallOutcome.ABANDONED, T0, wait=30.0, customer_id=42)
    )
    assert cb is not None
    assert cb.owner_user_id == AGENT.id
    (scheduled,) = [e for e in seen if isinstance(e, CallbackScheduled)]
    assert scheduled.owner == "agent1"


async def test_answered_call_satisfies_in_time_and_a_late_one_only_closes() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    service = _callbacks(db, bus)
    first = await service.apply_call(queue_call("1.2", CallOutcome.ABANDONED, T0, wait=8.0))
    assert first is not None
    answered = queue_call(
        "1.9", CallOutcome.ANSWERED, T0 + timedelta(minutes=10), number="+86 138 0013 8000"
    )
    closed = await service.apply_call(answered)
    assert closed is not None
    assert closed.id == first.id
    assert closed.status == CallbackStatus.SATISFIED
    assert closed.outcome == "customer reached on call 1.9"
    # a second callback, reached after its due time: done, not satisfied
    other = await service.apply_call(
        queue_call("2.1", CallOutcome.ABANDONED, T0, wait=8.0, number="13900139000")
    )
    assert other is not None
    late = queue_call("2.2", CallOutcome.ANSWERED, T0 + timedelta(minutes=31), number="13900139000")
    done = await service.apply_call(late)
    assert done is not None
    assert done.status == CallbackStatus.DONE
    assert [e.in_time for e in seen if isinstance(e, CallbackClosed)] == [True, False]
    assert db.effects.applied("2.2") == [CALLBACK_EFFECT]


async def test_promise_later_than_the_window_is_refused_and_attempts_schedule_a_retry() -> None:
    db, bus = FakeDb(AGENT), InProcessBus()
    seen = collect(bus)
    service = _callbacks(db, bus)
    with pytest.raises(CallbackError) as err:
        await service.request_callback(
            phone="13800138000", reason=CallbackReason.PROMISED, due_at=T0 + timedelta(minutes=45)
        )
    assert err.value.error_id == "promise-too-late"
    assert db.callbacks.rows == {}
    cb = await service.request_callback(
        phone="13800138000",
        reason=CallbackReason.PROMISED,
        due_at=T0 + timedelta(minutes=20),
        owner_user_id=AGENT.id,
    )
    retried = await service.record_attempt(cb.id, AttemptResult.NO_ANSWER, by_user_id=AGENT.id)
    assert retried.next_attempt_at == T0 + timedelta(minutes=5)
    assert [a.result for a in retried.attempts] == [AttemptResult.NO_ANSWER]
    (retry,) = [e for e in seen if isinstance(e, CallbackRetryScheduled)]
    assert (retry.owner, retry.retry_at) == ("agent1", T0 + timedelta(minutes=5))
    done = await service.complete(cb.id, "reached", by_user_id=AGENT.id)
    assert done.status == CallbackStatus.DONE
    with pytest.raises(CallbackError) as closed:
        await service.complete(cb.id, "again", by_user_id=AGENT.id)
    assert closed.value.error_id == "callback-closed"


# --- deadlines ------------------------------------------------------------------------------


async def test_reminder_then_escalation_fire_once_with_two_schedulers() -> None:
    db, bus, clock = FakeDb(AGENT), InProcessBus(), FakeClock(T0)
    seen = collect(bus)
    service = _callbacks(db, bus, clock)
    cb = await service.request_callback(
        phone="13800138000", reason=CallbackReason.PROMISED, owner_user_id=AGENT.id
    )
    a = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=service)
    b = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=service)
    await a.start()
    await b.start()
    try:
        await clock.advance(20 * 60 + 1)  # the 10-minute warning
        await eventually(lambda: db.callbacks.rows[cb.id].reminded_at, timeout=5, what="reminder")
        reminders = [e for e in seen if isinstance(e, CallbackReminderDue)]
        assert [(e.callback_id, e.owner, e.retry) for e in reminders] == [(cb.id, "agent1", False)]
        await clock.advance(10 * 60)
        await eventually(lambda: db.violations.rows, timeout=5, what="the overdue violation")
        await eventually(lambda: a.scheduled == b.scheduled == 0, timeout=5, what="both turns")
    finally:
        await a.stop()
        await b.stop()
    assert db.callbacks.rows[cb.id].status == CallbackStatus.OVERDUE
    (violation,) = db.violations.rows
    assert (violation.kind, violation.agent) == (ViolationKind.CALLBACK_OVERDUE, "agent1")
    assert [e.callback_id for e in seen if isinstance(e, CallbackDue)] == [cb.id]
    (alert,) = [e for e in seen if isinstance(e, AlertRaised)]
    assert (alert.kind, alert.team_id) == ("callback_overdue", AGENT.team_id)
    assert a.fired + b.fired == 2


async def test_scheduler_loads_deadlines_and_retries_at_start() -> None:
    db, bus, clock = FakeDb(AGENT), InProcessBus(), FakeClock(T0)
    seen = collect(bus)
    service = _callbacks(db, bus, clock)
    cb = await service.request_callback(phone="13800138000", reason=CallbackReason.ABANDONED)
    await service.record_attempt(cb.id, AttemptResult.BUSY, by_user_id=None)
    scheduler = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=service)
    await scheduler.start()  # after the events: everything comes from the store
    try:
        assert scheduler.loaded == 1
        assert scheduler.scheduled == 3
        await clock.advance(5 * 60)
        await eventually(
            lambda: [e for e in seen if isinstance(e, CallbackReminderDue) and e.retry],
            timeout=5,
            what="the retry reminder",
        )
    finally:
        await scheduler.stop()
    assert db.callbacks.rows[cb.id].next_attempt_at is None


# --- the effects sweep ----------------------------------------------------------------------


async def test_sweep_applies_what_a_call_owes_once() -> None:
    db, bus, clock = FakeDb(AGENT), InProcessBus(), FakeClock(T0 + timedelta(minutes=5))
    offer = Offer(agent="Agent 1001", interface=IFACE, ring_ended_at=T0, ring_seconds=16.0)
    db.calls.add(queue_call("1.1", CallOutcome.ABANDONED, T0, wait=20.0, offers=(offer,)))
    sweeper = EffectSweeper.for_services(
        callbacks=_callbacks(db, bus, clock), rules=_rule(db, bus), db=db, clock=clock
    )
    first = await sweeper.sweep()
    assert first.applied == {CALLBACK_EFFECT: 1, RING_RULE_EFFECT: 1}
    assert len(db.callbacks.rows) == len(db.violations.rows) == 1
    assert (await sweeper.sweep()).total == 0
