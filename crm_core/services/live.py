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

import builtins
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol
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
from crm_core.domain.membership import follow_membership
from crm_core.domain.models import (
    AgentStatus,
    Callback,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Direction,
    OfferResult,
    User,
)
from crm_core.domain.rules import ring_violation
from crm_core.ports.repositories import CallFilter

NO_QUEUE = "-"  # callbacks owed by no particular queue


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveBoardConfig:
    service_level_seconds: float = 20.0
    ring_limit_seconds: float = 15.0
    short_abandon_seconds: float = 5.0
    long_wait_alert_seconds: float = 60.0
    after_call_work_alert_seconds: float = 120.0
    timezone: str = "Asia/Shanghai"
    alerts_kept: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    kind: str  # missed_ring | late_answer | callback_overdue | long_wait | acw_too_long | ...
    at: datetime
    message: str
    agent: str | None = None
    queue: str | None = None
    call_id: str | None = None
    # the message's figures, so a console can say it in the viewer's language
    values: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "message": self.message,
            "values": self.values,
            "agent": self.agent,
            "queue": self.queue,
            "call_id": self.call_id,
        }


@dataclass(slots=True)
class QueueLive:
    name: str
    waiting: dict[str, datetime] = field(default_factory=dict)  # call_id -> joined
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within_sl: int = 0
    answered_within_rings: int = 0
    wait_answered_sum: float = 0.0
    handled: int = 0  # answered calls that ended (the AHT denominator)
    handle_sum: float = 0.0  # talk + hold of those
    callbacks_open: set[int] = field(default_factory=set)
    callbacks_overdue: set[int] = field(default_factory=set)
    hourly: list[list[int]] = field(default_factory=lambda: [[0, 0, 0] for _ in range(24)])


def _after_call(agent: AgentLive) -> AgentStatus:
    return AgentStatus.AVAILABLE if agent.signed_in else AgentStatus.LOGGED_OUT


@dataclass(slots=True)
class AgentLive:
    name: str
    interface: str = ""
    status: AgentStatus = AgentStatus.LOGGED_OUT
    since: datetime | None = None
    paused: bool = False
    pause_reason: str = ""
    queues: set[str] = field(default_factory=set)
    signed_in: set[str] = field(default_factory=set)  # the queues the PBX has them in now
    call_id: str | None = None
    call_since: datetime | None = None
    customer: str = ""
    calls_today: int = 0
    missed_today: int = 0
    team_id: int | None = None
    display_name: str = ""
    acw_alerted: bool = False


@dataclass(slots=True)
class CallLive:
    """What the board already counted for one call today."""

    queue: str | None = None
    caller: str = ""
    offered: bool = False
    answered: bool = False
    abandoned: bool = False
    max_ring: float = 0.0  # longest any offer of this call rang


class CallsSource(Protocol):
    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]: ...


class CallbacksSource(Protocol):
    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
    ) -> builtins.list[Callback]: ...


class BoardSources(Protocol):
    @property
    def calls(self) -> CallsSource: ...
    @property
    def callbacks(self) -> CallbacksSource: ...


def _caller(number: str, name: str) -> str:
    return f"{name} ({number})" if name and name != number else number


class LiveBoard:
    def __init__(self, config: LiveBoardConfig | None = None) -> None:
        self.config = config or LiveBoardConfig()
        self._tz: tzinfo = ZoneInfo(self.config.timezone)
        self.day: date | None = None
        self.queues: dict[str, QueueLive] = {}
        self.agents: dict[str, AgentLive] = {}
        self.alerts: deque[Alert] = deque(maxlen=self.config.alerts_kept)
        self._calls: dict[str, CallLive] = {}
        self._ended: set[str] = set()
        self._long_wait_alerted: set[str] = set()
        self._callback_queue: dict[int, str] = {}
        # components reported unhealthy (database, redis, ami): shown as a banner on the
        # wall until they report back, so leads know records are being buffered
        self.outages: dict[str, tuple[datetime, str]] = {}
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

    def _alert(
        self,
        out: list[Alert],
        kind: str,
        at: datetime,
        message: str,
        values: dict[str, str] | None = None,
        *,
        agent: str | None = None,
        queue: str | None = None,
        call_id: str | None = None,
    ) -> None:
        alert = Alert(
            kind=kind,
            at=at,
            message=message,
            agent=agent,
            queue=queue,
            call_id=call_id,
            values=values or {},
        )
        self.alerts.append(alert)
        out.append(alert)

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
                self._alert(
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
                self._state(event)
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
                self._alert(
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
                self._health(event, out)
            case AmiDisconnected():
                detail = f"{event.host}:{event.port} {event.reason}".strip()
                self._health(
                    ServiceHealthChanged(
                        at=event.at, component="ami", healthy=False, detail=detail
                    ),
                    out,
                )
            case AmiConnected():
                self._health(ServiceHealthChanged(at=event.at, component="ami", healthy=True), out)
            case AlertRaised():
                # rules' own alerts of kinds the board does not derive itself
                if event.kind not in {"missed_ring", "late_answer", "callback_overdue"}:
                    self._alert(
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

    def _health(self, event: ServiceHealthChanged, out: list[Alert]) -> None:
        was_down = event.component in self.outages
        if event.healthy:
            self.outages.pop(event.component, None)
        elif not was_down:
            self.outages[event.component] = (event.at, event.detail)
        if event.healthy == was_down:  # a change, not a repeat
            self._alert(
                out,
                "service_back" if event.healthy else "service_down",
                event.at,
                f"{event.component}: "
                + ("back" if event.healthy else event.detail or "unavailable"),
                {"component": event.component, "detail": event.detail},
            )

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
            self._alert(
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
                a.call_id = a.call_since = None
                a.customer = ""
                if a.status is AgentStatus.ON_CALL:
                    # until the PBX says otherwise (wrap-up, pause), the agent is free
                    # again — or signed out, if the call reached them outside any queue
                    # (a colleague's transfer to their extension)
                    a.status, a.since = _after_call(a), record.ended_at or at

    def _transferred(self, event: CallTransferred) -> None:
        """The transferring agent's part of the call is over: free them (the PBX's member
        events say what follows, wrap-up or pause)."""
        if not event.from_agent:
            return
        a = self.agents.get(event.from_agent)
        if a is not None and a.call_id == event.call_id:
            a.call_id = a.call_since = None
            a.customer = ""
            if a.status is AgentStatus.ON_CALL:
                a.status, a.since = _after_call(a), event.at

    def _state(self, event: AgentStateChanged) -> None:
        name = event.agent or event.interface
        a = self._agent(name, event.interface)
        if event.queue:
            a.queues.add(event.queue)
        if not follow_membership(a.signed_in, event):
            return  # removed from one queue: still signed in while a member of another
        if event.status is AgentStatus.LOGGED_OUT:
            # a member removed while paused is reported Paused: 1; out is out
            if a.status is not AgentStatus.LOGGED_OUT:
                a.status, a.since, a.acw_alerted = AgentStatus.LOGGED_OUT, event.at, False
            a.paused, a.pause_reason = False, ""
            if not event.in_call:
                a.call_id = a.call_since = None
                a.customer = ""
            return
        status = AgentStatus.PAUSED if event.paused and not event.in_call else event.status
        if event.paused and event.pause_reason == "after_call_work":
            status = AgentStatus.WRAP_UP
        if status is not a.status:
            a.status, a.since, a.acw_alerted = status, event.at, False
        a.paused, a.pause_reason = event.paused, event.pause_reason if event.paused else ""
        idle = (AgentStatus.AVAILABLE, AgentStatus.LOGGED_OUT, AgentStatus.PAUSED)
        if status in idle and not event.in_call:
            a.call_id = a.call_since = None
            a.customer = ""

    # --- time passing ----------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Alert]:
        out: list[Alert] = []
        self._roll(now)
        for q in self.queues.values():
            for call_id, joined in q.waiting.items():
                waited = (now - joined).total_seconds()
                if (
                    waited >= self.config.long_wait_alert_seconds
                    and call_id not in self._long_wait_alerted
                ):
                    self._long_wait_alerted.add(call_id)
                    secs = f"{waited:.0f}"
                    self._alert(
                        out,
                        "long_wait",
                        now,
                        f"a caller has waited {secs} s in {q.name}",
                        {"seconds": secs, "queue": q.name},
                        queue=q.name,
                        call_id=call_id,
                    )
        for a in self.agents.values():
            if a.status is AgentStatus.WRAP_UP and a.since and not a.acw_alerted:
                spent = (now - a.since).total_seconds()
                if spent >= self.config.after_call_work_alert_seconds:
                    a.acw_alerted = True
                    who, minutes = a.display_name or a.name, f"{spent / 60:.0f}"
                    self._alert(
                        out,
                        "acw_too_long",
                        now,
                        f"{who} has been in after-call work for {minutes} min",
                        {"agent": who, "minutes": minutes},
                        agent=a.name,
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

    def queue_figures(self, q: QueueLive, now: datetime) -> dict[str, Any]:
        longest = max(((now - t).total_seconds() for t in q.waiting.values()), default=0.0)
        sl_base = q.offered - q.short_abandoned - len(q.waiting)
        return {
            "name": q.name,
            "waiting": len(q.waiting),
            "longest_wait_seconds": round(max(longest, 0.0), 1),
            "offered": q.offered,
            "answered": q.answered,
            "abandoned": q.abandoned,
            "short_abandoned": q.short_abandoned,
            "abandon_rate": _ratio(q.abandoned - q.short_abandoned, q.offered - q.short_abandoned),
            "within_3_rings": _ratio(q.answered_within_rings, q.answered),
            "asa_seconds": _avg(q.wait_answered_sum, q.answered),
            "aht_seconds": _avg(q.handle_sum, q.handled),
            "service_level": _ratio(q.answered_within_sl, sl_base),
            "callbacks_due": len(q.callbacks_open),
            "callbacks_overdue": len(q.callbacks_overdue),
            "hourly": [list(h) for h in q.hourly],
        }

    def agent_figures(self, a: AgentLive, now: datetime) -> dict[str, Any]:
        return {
            "name": a.name,
            "display_name": a.display_name or a.name,
            "interface": a.interface,
            "team_id": a.team_id,
            "status": a.status.value,
            "seconds_in_state": round((now - a.since).total_seconds(), 1) if a.since else None,
            "paused": a.paused,
            "pause_reason": a.pause_reason,
            "queues": sorted(a.queues),
            "call": None
            if a.call_id is None
            else {
                "call_id": a.call_id,
                "customer": a.customer,
                "seconds": round((now - a.call_since).total_seconds(), 1) if a.call_since else None,
            },
            "calls_today": a.calls_today,
            "missed_today": a.missed_today,
        }

    def snapshot(self, now: datetime, *, team_id: int | None = None) -> dict[str, Any]:
        """JSON-ready figures; `team_id` limits agents (and alerts about agents) to one team."""
        agents = [
            a
            for a in sorted(self.agents.values(), key=lambda a: a.name)
            if team_id is None or a.team_id == team_id
        ]
        names = {a.name for a in agents}
        alerts = [
            al.to_json()
            for al in self.alerts
            if team_id is None or al.agent is None or al.agent in names
        ]
        return {
            "at": now.isoformat(),
            "day": self.day.isoformat() if self.day else None,
            "service_level_seconds": self.config.service_level_seconds,
            "ring_limit_seconds": self.config.ring_limit_seconds,
            "queues": [self.queue_figures(q, now) for _, q in sorted(self.queues.items())],
            "agents": [self.agent_figures(a, now) for a in agents],
            "alerts": alerts[-50:],
            "outages": [
                {"component": name, "since": since.isoformat(), "detail": detail}
                for name, (since, detail) in sorted(self.outages.items())
            ],
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _avg(total: float, count: int) -> float | None:
    return round(total / count, 1) if count > 0 else None


__all__ = ["Alert", "BoardSources", "LiveBoard", "LiveBoardConfig"]
