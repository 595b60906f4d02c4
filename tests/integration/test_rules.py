"""The service rules with a fake clock on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.settings import Settings
from callcenter.testing.staff import create_agents, numbered_agents
from crm_core.bus import InProcessBus
from crm_core.clock import FakeClock
from crm_core.db import Database, open_database
from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingEnded,
    AlertRaised,
    CallbackClosed,
    CallbackDue,
    CallbackReminderDue,
    CallbackRetryScheduled,
    CallEnded,
    RuleViolated,
)
from crm_core.domain.models import (
    AttemptResult,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Direction,
    OfferResult,
    ViolationKind,
)
from crm_core.services.callbacks import CallbackError, CallbackService
from crm_core.services.deadlines import DeadlineScheduler
from crm_core.services.rules import RingRuleService, check_queue_ring_timeouts
from tests.fakes.recorders import PauseRecorder, collect
from tests.polling import eventually

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SETTINGS = Settings()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    team = await database.users.get_or_create_team("A")
    await create_agents(database.users, team.id, numbered_agents(1), password_hash="x")
    yield database
    await database.close()


def _ring(result: OfferResult, ring: float) -> AgentRingEnded:
    return AgentRingEnded(
        at=T0,
        call_id="1.1",
        queue="support",
        agent="Agent 1001",
        interface="Local/1001@agents/n",
        ring_seconds=ring,
        result=result,
    )


async def test_answer_at_exactly_the_limit_is_compliant_after_is_late(db: Database) -> None:
    bus, clock = InProcessBus(), FakeClock(T0)
    seen = collect(bus)
    rule = RingRuleService(db=db, bus=bus, clock=clock, settings=SETTINGS, commands=None)
    rule.handle(_ring(OfferResult.ANSWERED, 15.0))
    rule.handle(_ring(OfferResult.ANSWERED, 15.2))
    await rule.stop()
    kinds = [v.kind for v in await db.violations.list()]
    assert kinds == [ViolationKind.LATE_ANSWER]
    assert rule.compliant == 1
    assert [e.kind for e in seen if isinstance(e, AlertRaised)] == ["late_answer"]


async def test_missed_call_pauses_agent_and_alerts_the_lead(db: Database) -> None:
    bus, clock = InProcessBus(), FakeClock(T0)
    seen = collect(bus)
    commands = PauseRecorder()
    rule = RingRuleService(db=db, bus=bus, clock=clock, settings=SETTINGS, commands=commands)
    rule.handle(
        AgentMissedCall(
            at=T0,
            call_id="1.2",
            queue="support",
            agent="Agent 1001",
            interface="Local/1001@agents/n",
            ring_seconds=15.0,
        )
    )
    await rule.stop()
    assert commands.pauses == [("Local/1001@agents/n", True, "missed call")]
    (violation,) = await db.violations.list()
    assert violation.kind == ViolationKind.MISSED_CALL
    assert violation.ring_seconds == 15.0
    alert = next(e for e in seen if isinstance(e, AlertRaised))
    team = (await db.users.get_by_member_name("Agent 1001")).team_id  # type: ignore[union-attr]
    assert alert.team_id == team
    assert "paused" in alert.message
    assert any(isinstance(e, RuleViolated) for e in seen)


def test_queue_ring_timeout_longer_than_limit_is_warned() -> None:
    warnings = check_queue_ring_timeouts({"support": 15, "sales": 20}, 15.0)
    assert len(warnings) == 1
    assert "sales" in warnings[0]


def _abandoned(call_id: str, wait: float, at: datetime, number: str = "13800138000") -> CallEnded:
    return CallEnded(
        at=at,
        record=CallRecord(
            call_id=call_id,
            direction=Direction.INBOUND,
            caller_number=number,
            caller_name="张三",
            queue="support",
            started_at=at,
            ended_at=at,
            wait_seconds=wait,
            outcome=CallOutcome.ABANDONED,
        ),
    )


async def test_abandon_creates_pool_callback_due_in_30_min_and_merges(db: Database) -> None:
    bus, clock = InProcessBus(), FakeClock(T0)
    service = CallbackService(db=db, bus=bus, clock=clock, settings=SETTINGS)
    assert await service.on_call_ended(_abandoned("1.1", 5.0, T0)) is None  # exactly 5 s: not owed
    cb = await service.on_call_ended(_abandoned("1.2", 8.0, T0))
    assert cb is not None
    assert cb.owner_user_id is None  # the queue's pool
    assert cb.queue == "support"
    assert cb.due_at == T0 + timedelta(minutes=30)
    again = await service.on_call_ended(_abandoned("1.3", 9.0, T0 + timedelta(minutes=5)))
    assert again is not None
    assert again.id == cb.id
    assert again.merged_count == 1
    assert again.due_at == cb.due_at  # the earlier promise stands


async def test_answered_call_satisfies_the_open_callback(db: Database) -> None:
    bus, clock = InProcessBus(), FakeClock(T0)
    seen = collect(bus)
    service = CallbackService(db=db, bus=bus, clock=clock, settings=SETTINGS)
    cb = await service.on_call_ended(_abandoned("1.2", 8.0, T0))
    assert cb is not None
    answered = CallRecord(
        call_id="1.9",
        direction=Direction.INBOUND,
        caller_number="+86 138 0013 8000",
        caller_name="张三",
        ended_at=T0 + timedelta(minutes=10),
        outcome=CallOutcome.ANSWERED,
    )
    closed = await service.on_call_ended(CallEnded(at=answered.ended_at, record=answered))  # type: ignore[arg-type]
    assert closed is not None
    assert closed.status == CallbackStatus.SATISFIED
    assert any(isinstance(e, CallbackClosed) and e.in_time for e in seen)


async def test_promise_later_than_window_is_refused(db: Database) -> None:
    service = CallbackService(db=db, bus=InProcessBus(), clock=FakeClock(T0), settings=SETTINGS)
    with pytest.raises(CallbackError) as err:
        await service.request_callback(
            phone="13800138000", reason=CallbackReason.PROMISED, due_at=T0 + timedelta(minutes=45)
        )
    assert err.value.error_id == "promise-too-late"
    cb = await service.request_callback(
        phone="13800138000", reason=CallbackReason.PROMISED, due_at=T0 + timedelta(minutes=10)
    )
    assert cb.due_at == T0 + timedelta(minutes=10)
    with pytest.raises(CallbackError):
        await service.complete(cb.id, "  ", by_user_id=None)  # done needs an outcome


async def _settle(clock: FakeClock, seconds: float) -> None:
    """Move the fake clock on by `seconds`, in steps: `advance` wakes each scheduler at
    its own deadline and lets it run before time moves on. What a woken scheduler then
    does with the database is waited for by the tests, on `_Turns`."""
    step = 30.0
    while seconds > 0:
        await clock.advance(min(step, seconds))
        seconds -= step


class _Turns:
    """What the schedulers did, in order: each deadline claim they started and finished
    (through `_ClaimsDb`) and each time they went back to sleep (through `_Clock`). A
    scheduler that has finished a claim and then slept again is done with that deadline:
    the positive sign that whatever it would publish for it is out."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, int, str, bool]] = []  # what, task, callback, column, won

    def note(self, what: str, callback_id: int = 0, column: str = "", won: bool = False) -> None:
        self.log.append((what, id(asyncio.current_task()), callback_id, column, won))

    def started(self, callback_id: int, column: str) -> bool:
        return any(e[0] == "start" and e[2:4] == (callback_id, column) for e in self.log)

    def wins(self, callback_id: int, column: str) -> list[bool]:
        return [e[4] for e in self.log if e[0] == "done" and e[2:4] == (callback_id, column)]

    def settled(self, callback_id: int, column: str, schedulers: int) -> bool:
        """`schedulers` claims of the deadline came back and each claimer slept since."""
        done = [
            (i, e[1])
            for i, e in enumerate(self.log)
            if e[0] == "done" and e[2:4] == (callback_id, column)
        ]
        return len(done) == schedulers and all(
            any(e[0] == "sleep" and e[1] == task for e in self.log[i:]) for i, task in done
        )


class _Clock(FakeClock):
    def __init__(self, start: datetime, turns: _Turns) -> None:
        super().__init__(start)
        self.turns = turns

    async def sleep(self, seconds: float) -> None:
        self.turns.note("sleep")
        await super().sleep(seconds)


class _Claims:
    """The real callback repository, noting the claims in `_Turns` (started at once, so
    a claim due too early shows on the spot; done when the database has answered)."""

    def __init__(self, real: Any, turns: _Turns) -> None:
        self._real = real
        self.turns = turns

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def claim(self, callback_id: int, column: str, *args: Any, **kw: Any) -> bool:
        self.turns.note("start", callback_id, column)
        won = bool(await self._real.claim(callback_id, column, *args, **kw))
        self.turns.note("done", callback_id, column, won)
        return won

    async def claim_retry(self, callback_id: int, *args: Any, **kw: Any) -> bool:
        self.turns.note("start", callback_id, "retry")
        won = bool(await self._real.claim_retry(callback_id, *args, **kw))
        self.turns.note("done", callback_id, "retry", won)
        return won


class _ClaimsDb:
    """The database the schedulers see: the real one, its callback claims noted."""

    def __init__(self, real: Database, turns: _Turns) -> None:
        self._real = real
        self.callbacks = _Claims(real.callbacks, turns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def test_reminder_then_overdue_fire_once_across_restart_and_two_instances(
    db: Database,
) -> None:
    turns = _Turns()
    bus, clock = InProcessBus(), _Clock(T0, turns)
    seen = collect(bus)
    service = CallbackService(db=db, bus=bus, clock=clock, settings=SETTINGS)
    cb = await service.request_callback(phone="13800138000", reason=CallbackReason.ABANDONED, at=T0)
    counted = _ClaimsDb(db, turns)
    first = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    await first.start()
    await _settle(clock, 21 * 60)  # 20 min: the 10-minute warning
    await eventually(
        lambda: turns.settled(cb.id, "reminded_at", 1), timeout=10, what="the reminder's turn"
    )
    assert [e.callback_id for e in seen if isinstance(e, CallbackReminderDue)] == [cb.id]
    await first.stop()  # the service dies before the due time

    # restarted (and a second instance beside it): both load the same deadline
    a = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    b = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    await a.start()
    await b.start()
    await _settle(clock, 10 * 60)
    # both have had their go at the deadline (the database answered both claims and
    # each scheduler went back to sleep): a second firing would be in `seen` by now
    await eventually(
        lambda: turns.settled(cb.id, "escalated_at", 2),
        timeout=10,
        what="both instances' turns at the due callback",
    )
    assert sorted(turns.wins(cb.id, "escalated_at")) == [False, True]  # one won the claim
    await a.stop()
    await b.stop()
    assert [e.callback_id for e in seen if isinstance(e, CallbackDue)] == [cb.id]
    assert len([e for e in seen if isinstance(e, CallbackReminderDue)]) == 1
    assert (await db.callbacks.get(cb.id)).status == CallbackStatus.OVERDUE
    assert any(isinstance(e, AlertRaised) and e.kind == "callback_overdue" for e in seen)


async def test_failed_attempt_reminds_the_owner_at_the_retry_time_once(db: Database) -> None:
    turns = _Turns()
    bus, clock = InProcessBus(), _Clock(T0, turns)
    seen = collect(bus)
    service = CallbackService(db=db, bus=bus, clock=clock, settings=SETTINGS)
    owner = await db.users.get_by_username("agent1")
    assert owner is not None
    cb = await service.request_callback(
        phone="13800138000",
        reason=CallbackReason.PROMISED,
        at=T0,
        due_at=T0 + timedelta(minutes=20),
        owner_user_id=owner.id,
    )
    gone = await service.request_callback(
        phone="13900139000", reason=CallbackReason.ABANDONED, at=T0
    )
    counted = _ClaimsDb(db, turns)
    first = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    await first.start()
    await service.record_attempt(cb.id, AttemptResult.NO_ANSWER, by_user_id=owner.id)
    await service.record_attempt(gone.id, AttemptResult.BUSY, by_user_id=None)
    retry = [e for e in seen if isinstance(e, CallbackRetryScheduled)]
    assert [(e.callback_id, e.retry_at, e.owner) for e in retry] == [
        (cb.id, T0 + timedelta(minutes=5), "agent1"),
        (gone.id, T0 + timedelta(minutes=5), None),
    ]
    await service.complete(gone.id, "reached by a colleague's call", by_user_id=None)
    await first.stop()  # a restart before the retry time: the reminder is in the database

    a = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    b = DeadlineScheduler(db=counted, bus=bus, clock=clock, callbacks=service)
    await a.start()
    await b.start()
    await _settle(clock, 4 * 60)
    # the clock woke both schedulers at every step up to 4 min: a claim due too early
    # would have started on the spot (claims start before any await)
    assert not turns.started(cb.id, "retry")
    assert not [e for e in seen if isinstance(e, CallbackReminderDue) and e.retry]
    await _settle(clock, 2 * 60)
    # both instances had their turn at the retry: a second reminder would be out now
    await eventually(
        lambda: turns.settled(cb.id, "retry", 2),
        timeout=10,
        what="both instances' turns at the retry",
    )
    await a.stop()
    await b.stop()
    reminders = [e for e in seen if isinstance(e, CallbackReminderDue) and e.retry]
    assert [(e.callback_id, e.owner) for e in reminders] == [(cb.id, "agent1")]
    assert (await db.callbacks.get(cb.id)).next_attempt_at is None  # consumed
