"""Domain events: what happened, in the past tense.

Frozen, slotted, keyword-only dataclasses carrying ids, enums, UTC datetimes and
primitives (and the domain dataclasses of `models`, which are made of the same).
`crm_core.domain.event_codec` puts them on the wire (Redis, the outbox) with a schema
version; each class's name is its name on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from crm_core.domain.models import (
    AgentStatus,
    CallbackReason,
    CallOutcome,
    CallRecord,
    Direction,
    OfferResult,
    ViolationKind,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every event. `at` is timezone-aware UTC."""

    at: datetime
    pbx: str = "default"

    name: ClassVar[str] = "DomainEvent"

    def __init_subclass__(cls) -> None:
        # no super(): `slots=True` rebuilds the class, and the zero-argument super()
        # would name the class it replaced; object's hook does nothing anyway
        cls.name = cls.__name__  # the class is its name on the wire


# --- AMI link -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiConnected(DomainEvent):
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiDisconnected(DomainEvent):
    host: str
    port: int
    reason: str


# --- calls ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(DomainEvent):
    call_id: str
    direction: Direction
    caller_number: str
    caller_name: str
    dialed_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdentified(DomainEvent):
    """The IVR (or a channel variable) tied the call to a CRM customer."""

    call_id: str
    customer_id: int | None
    vip: int = 0
    language: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStepTaken(DomainEvent):
    call_id: str
    flow: str
    step: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(DomainEvent):
    """The call entered a queue (QueueCallerJoin)."""

    call_id: str
    queue: str
    position: int
    caller_number: str
    caller_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLeftQueue(DomainEvent):
    """The call is no longer waiting in `queue` (QueueCallerLeave: answered, gave up,
    or gone; or found gone from the queue at a resync)."""

    call_id: str
    queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingStarted(DomainEvent):
    """An agent's phone started ringing with this call: the screen-pop trigger."""

    call_id: str
    queue: str | None
    agent: str | None
    interface: str
    caller_number: str
    caller_name: str
    customer_id: int | None = None
    campaign_id: int | None = None
    # channels, when known, so the console can hold/transfer the right leg
    caller_channel: str | None = None
    agent_channel: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingEnded(DomainEvent):
    """One offer finished, whatever the result."""

    call_id: str
    queue: str | None
    agent: str | None
    interface: str
    ring_seconds: float
    result: OfferResult


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentMissedCall(DomainEvent):
    """Ring-no-answer: the agent let the call ring out."""

    call_id: str
    queue: str | None
    agent: str | None
    interface: str
    ring_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(DomainEvent):
    call_id: str
    queue: str | None
    agent: str | None
    interface: str | None
    wait_seconds: float
    ring_seconds: float
    caller_channel: str | None = None
    agent_channel: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallHeld(DomainEvent):
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResumed(DomainEvent):
    call_id: str
    held_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred(DomainEvent):
    call_id: str
    from_agent: str | None
    target: str  # queue, extension or agent the call went to
    kind: str  # "blind" | "attended" | "redirect"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(DomainEvent):
    call_id: str
    queue: str | None
    caller_number: str
    wait_seconds: float
    position: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(DomainEvent):
    call_id: str
    channel: str
    filename: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(DomainEvent):
    """The finished call record; the call-log writer persists it."""

    record: CallRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateCompleted(DomainEvent):
    action_id: str
    success: bool
    # Asterisk's originate reason: 4 answered, 5 busy, 8 congestion, 3 no answer, 0 failure
    reason: int
    call_id: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpyStarted(DomainEvent):
    spyer_channel: str
    spyee_channel: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpyStopped(DomainEvent):
    spyer_channel: str
    spyee_channel: str | None = None


# --- agents ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged(DomainEvent):
    agent: str | None
    interface: str
    queue: str | None
    status: AgentStatus
    paused: bool = False
    pause_reason: str = ""
    in_call: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueParamsRead(DomainEvent):
    """A queue's settings as the PBX reported them (a QueueStatus answer at a resync)."""

    queue: str
    member_timeout_seconds: float  # how long each agent is rung


# --- rules and callbacks --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleViolated(DomainEvent):
    kind: ViolationKind
    agent: str | None
    call_id: str | None
    queue: str | None = None
    ring_seconds: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackScheduled(DomainEvent):
    callback_id: int
    phone: str
    reason: CallbackReason
    due_at: datetime
    owner: str | None = None  # username, or None for the queue pool
    queue: str | None = None
    customer_id: int | None = None
    merged: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRetryScheduled(DomainEvent):
    """An attempt failed (no answer, busy): the owner is reminded to try again at `retry_at`."""

    callback_id: int
    retry_at: datetime
    due_at: datetime
    owner: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackReminderDue(DomainEvent):
    """Time to act on a callback: the warning before its due time, or (`retry`) the time
    set for the next attempt after a failed one."""

    callback_id: int
    due_at: datetime
    owner: str | None = None
    retry: bool = False
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackDue(DomainEvent):
    """The deadline passed with the callback still open: it is now overdue."""

    callback_id: int
    due_at: datetime
    owner: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackClosed(DomainEvent):
    callback_id: int
    status: str  # done | satisfied | cancelled
    outcome: str | None = None
    in_time: bool = True


# --- wrap-up --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpSaved(DomainEvent):
    """An agent saved the wrap-up of a call (crm_core.services.wrapup). Campaigns book the
    disposition (and a follow-up's satisfaction) on the contact. `wrapup_id` names this
    save: a consumer that must act once across instances claims it (docs/adr/0083)."""

    wrapup_id: str
    call_id: str
    agent_user_id: int
    agent: str  # member name, else username
    result: str  # resolved | callback | escalate
    disposition: str | None = None
    disposition_reason: str = ""
    notes: str = ""
    satisfaction: int | None = None  # 1..5, a follow-up call's score
    customer_id: int | None = None
    campaign_id: int | None = None
    phone: str = ""  # the number the call was with, as the card or record has it
    callback_id: int | None = None
    case_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(DomainEvent):
    """Something a team lead should see now."""

    kind: str  # missed_ring | late_answer | callback_overdue | long_wait | acw_too_long | db_down
    message: str
    agent: str | None = None
    team_id: int | None = None
    call_id: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceHealthChanged(DomainEvent):
    component: str  # ami | database | redis
    healthy: bool
    detail: str = ""


__all__ = [
    "AgentMissedCall",
    "AgentRingEnded",
    "AgentRingStarted",
    "AgentStateChanged",
    "AlertRaised",
    "AmiConnected",
    "AmiDisconnected",
    "CallAbandoned",
    "CallAnswered",
    "CallEnded",
    "CallHeld",
    "CallLeftQueue",
    "CallOffered",
    "CallOutcome",
    "CallResumed",
    "CallStarted",
    "CallTransferred",
    "CallbackClosed",
    "CallbackDue",
    "CallbackReminderDue",
    "CallbackRetryScheduled",
    "CallbackScheduled",
    "CallerIdentified",
    "DomainEvent",
    "IvrStepTaken",
    "OriginateCompleted",
    "RecordingStarted",
    "RuleViolated",
    "ServiceHealthChanged",
    "SpyStarted",
    "SpyStopped",
    "WrapUpSaved",
]
