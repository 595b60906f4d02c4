"""What the wallboard holds between events: its thresholds, the alerts it raised, and
today's state of each queue, agent and call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# pydantic validates TypedDicts from typing_extensions only before Python 3.12
from typing_extensions import TypedDict

from crm_core.domain.events import AgentStateChanged
from crm_core.domain.membership import follow_membership
from crm_core.domain.models import AgentStatus

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


class AlertDocument(TypedDict):
    """An alert as JSON (the wallboard's `alert` message and its list of alerts)."""

    kind: str
    at: str  # ISO 8601 with offset
    message: str
    values: dict[str, str]
    agent: str | None
    queue: str | None
    call_id: str | None


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

    def to_json(self) -> AlertDocument:
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
    # per local hour: offered, answered, abandoned
    hourly: list[list[int]] = field(default_factory=lambda: [[0, 0, 0] for _ in range(24)])


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

    def drop_call(self) -> None:
        self.call_id = self.call_since = None
        self.customer = ""

    def call_over(self, at: datetime) -> None:
        """Their part of the call ended: until the PBX says otherwise (wrap-up, pause), the
        agent is free again — or signed out, if the call reached them outside any queue
        (a colleague's transfer to their extension)."""
        self.drop_call()
        if self.status is AgentStatus.ON_CALL:
            free = AgentStatus.AVAILABLE if self.signed_in else AgentStatus.LOGGED_OUT
            self.status, self.since = free, at

    def follow(self, event: AgentStateChanged) -> None:
        """The PBX reported the agent's state in one of their queues."""
        if event.queue:
            self.queues.add(event.queue)
        if not follow_membership(self.signed_in, event):
            return  # removed from one queue: still signed in while a member of another
        if event.status is AgentStatus.LOGGED_OUT:
            # a member removed while paused is reported Paused: 1; out is out
            if self.status is not AgentStatus.LOGGED_OUT:
                self.status, self.since, self.acw_alerted = AgentStatus.LOGGED_OUT, event.at, False
            self.paused, self.pause_reason = False, ""
            if not event.in_call:
                self.drop_call()
            return
        status = AgentStatus.PAUSED if event.paused and not event.in_call else event.status
        if event.paused and event.pause_reason == "after_call_work":
            status = AgentStatus.WRAP_UP
        if status is not self.status:
            self.status, self.since, self.acw_alerted = status, event.at, False
        self.paused, self.pause_reason = event.paused, event.pause_reason if event.paused else ""
        idle = (AgentStatus.AVAILABLE, AgentStatus.LOGGED_OUT, AgentStatus.PAUSED)
        if status in idle and not event.in_call:
            self.drop_call()


@dataclass(slots=True)
class CallLive:
    """What the board already counted for one call today."""

    queue: str | None = None
    caller: str = ""
    offered: bool = False
    answered: bool = False
    abandoned: bool = False
    max_ring: float = 0.0  # longest any offer of this call rang
