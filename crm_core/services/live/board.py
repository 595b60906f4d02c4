"""LiveBoard: today's live queue and agent figures for the team lead's wallboard.

A pure reducer: `apply(event)` folds one domain event in and returns the alerts it
raised; `tick(now)` raises the alerts that come from time passing (long wait, after-call
work too long). No I/O except `load_today`, which rebuilds the day from the CRM's call
records after a restart (agent states come back by themselves: the AMI client's resync
publishes an `AgentStateChanged` per queue member).

Each call is counted once: live events count it as they happen, and its `CallEnded`
record fills in whatever was missed (a call already in progress when the service
restarted). Formulas and denominators: docs/metrics.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingEnded,
    AgentRingStarted,
    AgentStateChanged,
    AlertRaised,
    AmiConnected,
    AmiDisconnected,
    CallAbandoned,
    CallAnswered,
    CallbackClosed,
    CallbackDue,
    CallbackScheduled,
    CallEnded,
    CallLeftQueue,
    CallOffered,
    CallTransferred,
    DomainEvent,
    ServiceHealthChanged,
)
from crm_core.domain.models import (
    AgentStatus,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Direction,
    OfferResult,
    User,
)
from crm_core.domain.rules import ring_violation
from crm_core.ports.repositories import CallFilter
from crm_core.services.live.alerts import AlertLog
from crm_core.services.live.figures import LiveSnapshot, agent_figures, queue_figures
from crm_core.services.live.sources import BoardSources
from crm_core.services.live.state import (
    NO_QUEUE,
    AgentLive,
    Alert,
    CallLive,
    LiveBoardConfig,
    QueueLive,
)


class LiveBoard:
    def __init__(self, config: LiveBoardConfig | None = None) -> None:
        self.config = config or LiveBoardConfig()
        self._tz: tzinfo = ZoneInfo(self.config.timezone)
        self.day: date | None = None
        self.queues: dict[str, QueueLive] = {}
        self.agents: dict[str, AgentLive] = {}
        self.log = AlertLog(self.config.alerts_kept)
        self._calls: dict[str, CallLive] = {}
        self._ended: set[str] = set()
        self._callback_queue: dict[int, str] = {}
        self.version = 0  # bumps on every change; the pusher sends when it moved

    # --- time ----------------------------------------------------------------------------

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self._tz).date()

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self._tz).astimezone(UTC)

    def _roll(self, at: datetime) -> None:
        """A new local day starts today's counters afresh; waiting calls and states stay."""
        day = self.local_day(at)
        if self.day == day:
            return
        self.day = day
        for name, q in list(self.queues.items()):
            fresh = QueueLive(name=name, waiting=q.waiting)
            fresh.callbacks_open, fresh.callbacks_overdue = q.callbacks_open, q.callbacks_overdue
            self.queues[name] = fresh
        for agent in self.agents.values():
            agent.calls_today = agent.missed_today = 0
        self._calls = {k: v for k, v in self._calls.items() if self._is_waiting(k)}
        self._ended.clear()

    def _is_waiting(self, call_id: str) -> bool:
        return any(call_id in q.waiting for q in self.queues.values())

    def _queue(self, name: str | None) -> QueueLive:
        key = name or NO_QUEUE
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = QueueLive(name=key)
        return q

    def _agent(self, name: str, interface: str = "") -> AgentLive:
        a = self.agents.get(name)
        if a is None:
            a = self.agents[name] = AgentLive(name=name, interface=interface)
        if interface and not a.interface:
            a.interface = interface
        return a

    def set_roster(self, users: list[User]) -> None:
        """Team and display name of each queue member (from the CRM's users)."""
        for user in users:
            if user.member_name:
                a = self._agent(user.member_name, user.interface or "")
                a.team_id = user.team_id
                a.display_name = user.display_name
                a.queues.update(user.queues)

    # --- events --------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> list[Alert]:
        """Fold one event in; returns the alerts it raised (already in `alerts`)."""
        out: list[Alert] = []
        self._roll(event.at)
        handled = True
        match event:
            case CallOffered():
                self._offered(event)
            case CallLeftQueue():
                self._queue(event.queue).waiting.pop(event.call_id, None)
            case AgentRingStarted():
                call = self._calls.setdefault(event.call_id, CallLive(queue=event.queue))
                call.caller = _caller(event.caller_number, event.caller_name)
            case AgentRingEnded():
                call = self._calls.setdefault(event.call_id, CallLive(queue=event.queue))
                call.max_ring = max(call.max_ring, event.ring_seconds)
            case AgentMissedCall():
                call = self._calls.setdefault(event.call_id, CallLive(queue=event.queue))
                call.max_ring = max(call.max_ring, event.ring_seconds)
                if event.agent:
                    self._agent(event.agent, event.interface).missed_today += 1
                who, secs = event.agent or event.interface, f"{event.ring_seconds:.0f}"
                self.log.add(
                    out,
                    "missed_ring",
                    event.at,
                    f"{who} let a call ring {secs} s without answering",
                    {"agent": who, "seconds": secs},
                    agent=event.agent,
                    queue=event.queue,
                    call_id=event.call_id,
                )
            case CallAnswered():
                self._answered(event, out)
            case CallAbandoned():
                call = self._calls.setdefault(event.call_id, CallLive(queue=event.queue))
                if not call.abandoned and event.call_id not in self._ended:
                    self._count_abandon(event.queue, event.wait_seconds, event.at)
                    call.abandoned = True
                self._queue(event.queue).waiting.pop(event.call_id, None)
            case CallEnded():
                self._ended_call(event.record, event.at)
            case CallTransferred():
                self._transferred(event)
            case AgentStateChanged():
                self._agent(event.agent or event.interface, event.interface).follow(event)
            case CallbackScheduled():
                q = self._queue(event.queue)
                q.callbacks_open.add(event.callback_id)
                self._callback_queue[event.callback_id] = q.name
            case CallbackDue():
                q = self._queue(self._callback_queue.get(event.callback_id, event.queue))
                q.callbacks_open.add(event.callback_id)
                q.callbacks_overdue.add(event.callback_id)
                self._callback_queue[event.callback_id] = q.name
                due = f"{event.due_at.astimezone(self._tz):%H:%M}"
                self.log.add(
                    out,
                    "callback_overdue",
                    event.at,
                    f"callback #{event.callback_id} is overdue (due {due})",
                    {"id": str(event.callback_id), "due": due},
                    agent=event.owner,
                    queue=event.queue,
                )
            case CallbackClosed():
                name = self._callback_queue.pop(event.callback_id, None)
                for q in self.queues.values() if name is None else [self._queue(name)]:
                    q.callbacks_open.discard(event.callback_id)
                    q.callbacks_overdue.discard(event.callback_id)
            case ServiceHealthChanged():
                self.log.health(event, out)
            case AmiDisconnected():
                detail = f"{event.host}:{event.port} {event.reason}".strip()
                self.log.health(
                    ServiceHealthChanged(
                        at=event.at, component="ami", healthy=False, detail=detail
                    ),
                    out,
                )
            case AmiConnected():
                self.log.health(
                    ServiceHealthChanged(at=event.at, component="ami", healthy=True), out
                )
            case AlertRaised():
                # rules' own alerts of kinds the board does not derive itself
                if event.kind not in {"missed_ring", "late_answer", "callback_overdue"}:
                    self.log.add(
                        out,
                        event.kind,
                        event.at,
                        event.message,
                        agent=event.agent,
                        queue=event.queue,
                        call_id=event.call_id,
                    )
            case _:
                handled = False
        if handled:
            self.version += 1
        return out

    def _offered(self, event: CallOffered) -> None:
        call = self._calls.setdefault(event.call_id, CallLive())
        call.queue = event.queue
        call.caller = _caller(event.caller_number, event.caller_name)
        q = self._queue(event.queue)
        if not call.offered and event.call_id not in self._ended:
            call.offered = True
            q.offered += 1
            q.hourly[event.at.astimezone(self._tz).hour][0] += 1
        if event.call_id not in self._ended:
            q.waiting.setdefault(event.call_id, event.at - timedelta(seconds=0))

    def _answered(self, event: CallAnswered, out: list[Alert]) -> None:
        call = self._calls.setdefault(event.call_id, CallLive(queue=event.queue))
        q = self._queue(event.queue or call.queue)
        q.waiting.pop(event.call_id, None)
        if not call.answered and event.call_id not in self._ended:
            call.answered = True
            ring = max(call.max_ring, event.ring_seconds)
            self._count_answer(q, event.wait_seconds, ring, event.at)
            if event.agent:
                self._agent(event.agent).calls_today += 1
        if event.agent:
            a = self._agent(event.agent, event.interface or "")
            if a.status is not AgentStatus.ON_CALL or a.call_id != event.call_id:
                a.status, a.since = AgentStatus.ON_CALL, event.at
            a.call_id, a.call_since, a.customer = event.call_id, event.at, call.caller
        late = ring_violation(
            OfferResult.ANSWERED, event.ring_seconds, self.config.ring_limit_seconds
        )
        if late is not None:
            secs, limit = f"{event.ring_seconds:.0f}", f"{self.config.ring_limit_seconds:.0f}"
            self.log.add(
                out,
                "late_answer",
                event.at,
                f"{event.agent or 'an agent'} answered after {secs} s of ringing (limit {limit} s)",
                {"agent": event.agent or "", "seconds": secs, "limit": limit},
                agent=event.agent,
                queue=event.queue,
                call_id=event.call_id,
            )

    def _count_answer(self, q: QueueLive, wait: float, ring: float, at: datetime) -> None:
        q.answered += 1
        q.wait_answered_sum += wait
        if wait <= self.config.service_level_seconds:
            q.answered_within_sl += 1
        if ring <= self.config.ring_limit_seconds:
            q.answered_within_rings += 1
        q.hourly[at.astimezone(self._tz).hour][1] += 1

    def _count_abandon(self, queue: str | None, wait: float, at: datetime) -> None:
        q = self._queue(queue)
        q.abandoned += 1
        if wait < self.config.short_abandon_seconds:
            q.short_abandoned += 1
        q.hourly[at.astimezone(self._tz).hour][2] += 1

    def _ended_call(self, record: CallRecord, at: datetime) -> None:
        """Count from the record whatever the live events did not (restart mid-call)."""
        if record.call_id in self._ended:
            return
        self._ended.add(record.call_id)
        call = self._calls.pop(record.call_id, None) or CallLive()
        queue_name = record.queue or call.queue
        for q in self.queues.values():  # a transferred call may have waited in several
            q.waiting.pop(record.call_id, None)
        if record.direction is Direction.INBOUND and queue_name is not None:
            q = self._queue(queue_name)
            started = record.started_at or at
            if not call.offered:
                q.offered += 1
                q.hourly[started.astimezone(self._tz).hour][0] += 1
            answered = record.outcome is CallOutcome.ANSWERED
            if answered and not call.answered:
                ring = max((o.ring_seconds for o in record.offers), default=0.0)
                self._count_answer(q, record.wait_seconds, ring, record.answered_at or at)
                if record.agent:
                    self._agent(record.agent).calls_today += 1
            if record.outcome is CallOutcome.ABANDONED and not call.abandoned:
                self._count_abandon(queue_name, record.wait_seconds, record.ended_at or at)
            if answered:
                q.handled += 1
                q.handle_sum += record.talk_seconds + record.hold_seconds
        if record.agent:
            a = self._agent(record.agent, record.agent_interface or "")
            if a.call_id == record.call_id:
                a.call_over(record.ended_at or at)

    def _transferred(self, event: CallTransferred) -> None:
        """The transferring agent's part of the call is over: free them (the PBX's member
        events say what follows, wrap-up or pause)."""
        if not event.from_agent:
            return
        a = self.agents.get(event.from_agent)
        if a is not None and a.call_id == event.call_id:
            a.call_over(event.at)

    # --- time passing ----------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Alert]:
        out: list[Alert] = []
        self._roll(now)
        cfg = self.config
        self.log.long_waits(self.queues.values(), now, cfg.long_wait_alert_seconds, out)
        self.log.long_after_call_work(
            self.agents.values(), now, cfg.after_call_work_alert_seconds, out
        )
        if out:
            self.version += 1
        return out

    # --- rebuild after restart ---------------------------------------------------------------

    async def load_today(self, db: BoardSources, now: datetime) -> int:
        """Rebuild today's counters from the CRM's call records and open callbacks.

        Returns how many call records were folded in. Live events arriving afterwards
        for calls already counted are ignored (each call is counted once)."""
        self.day = None
        self._roll(now)
        since = self.day_start(self.local_day(now))
        count, offset = 0, 0
        while True:
            page = await db.calls.list(CallFilter(since=since, limit=1000, offset=offset))
            for record in page:
                self._ended_call(record, record.ended_at or now)
            count += len(page)
            if len(page) < 1000:
                break
            offset += 1000
        callbacks = await db.callbacks.list(
            status=[CallbackStatus.OPEN, CallbackStatus.OVERDUE], limit=10_000
        )
        for cb in callbacks:
            q = self._queue(cb.queue)
            q.callbacks_open.add(cb.id)
            self._callback_queue[cb.id] = q.name
            if cb.status is CallbackStatus.OVERDUE or cb.due_at <= now:
                q.callbacks_overdue.add(cb.id)
        self.version += 1
        return count

    # --- reading --------------------------------------------------------------------------

    def snapshot(self, now: datetime, *, team_id: int | None = None) -> LiveSnapshot:
        """JSON-ready figures; `team_id` limits agents (and alerts about agents) to one team."""
        agents = [
            a
            for a in sorted(self.agents.values(), key=lambda a: a.name)
            if team_id is None or a.team_id == team_id
        ]
        names = {a.name for a in agents}
        alerts = [
            al.to_json()
            for al in self.log.alerts
            if team_id is None or al.agent is None or al.agent in names
        ]
        return {
            "at": now.isoformat(),
            "day": self.day.isoformat() if self.day else None,
            "service_level_seconds": self.config.service_level_seconds,
            "ring_limit_seconds": self.config.ring_limit_seconds,
            "queues": [queue_figures(q, now) for _, q in sorted(self.queues.items())],
            "agents": [agent_figures(a, now) for a in agents],
            "alerts": alerts[-50:],
            "outages": [
                {"component": name, "since": since.isoformat(), "detail": detail}
                for name, (since, detail) in sorted(self.log.outages.items())
            ],
        }


def _caller(number: str, name: str) -> str:
    return f"{name} ({number})" if name and name != number else number
