"""Domain objects of the shared CRM core.

Plain frozen dataclasses: what services, the API and other systems exchange.
They never carry ORM rows or AMI messages; persistence maps to and from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    MANAGER = "manager"
    ADMIN = "admin"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class OfferResult(enum.StrEnum):
    """How one ring of one agent ended (CONTRACTS.md `offers[].result`)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    CALLER_HUNG_UP = "caller_hung_up"
    REJECTED = "rejected"


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    IVR_ONLY = "ivr_only"


class ViolationKind(enum.StrEnum):
    RING_LIMIT = "ring_limit"  # the call-record flag: some offer rang past the limit
    LATE_ANSWER = "late_answer"  # answered, but after rings x cycle
    MISSED_CALL = "missed_call"  # rang and was never answered by this agent
    CALLBACK_OVERDUE = "callback_overdue"


class AgentStatus(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    PAUSED = "paused"
    WRAP_UP = "wrap_up"


class CallbackReason(enum.StrEnum):
    ABANDONED = "abandoned"
    PROMISED = "promised"
    IVR_REQUEST = "ivr_request"
    FOLLOW_UP = "follow_up"
    DIALER_ABANDON = "dialer_abandon"


class CallbackStatus(enum.StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    DONE = "done"
    SATISFIED = "satisfied"  # an answered call with the customer before due closed it
    CANCELLED = "cancelled"


class AttemptResult(enum.StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    FAILED = "failed"


class CaseKind(enum.StrEnum):
    INQUIRY = "inquiry"
    COMPLAINT = "complaint"
    ESCALATION = "escalation"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    WAITING_REPLY = "waiting_reply"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Satisfaction(enum.IntEnum):
    """The manuals' five-step scale; 5 is best."""

    VERY_DISSATISFIED = 1
    DISSATISFIED = 2
    NEUTRAL = 3
    SATISFIED = 4
    VERY_SATISFIED = 5


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class CampaignKind(enum.StrEnum):
    SALES = "sales"
    FOLLOW_UP = "follow_up"
    SURVEY = "survey"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class ContactStatus(enum.StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    RETRY = "retry"
    DONE = "done"
    FAILED = "failed"
    DNC = "dnc"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumber:
    e164: str  # "+8613800138000"
    raw: str  # as entered or as the PBX sent it
    label: str = "mobile"


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    id: int
    name: str
    company: str = ""
    title: str = ""
    vip_level: int = 0
    notes: str = ""
    language: str = ""
    phones: tuple[PhoneNumber, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Team:
    id: int
    name: str
    lead_user_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    id: int
    name: str
    display_name: str = ""
    ring_timeout_seconds: float | None = None
    service_level_seconds: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None = None
    member_name: str | None = None  # queue MemberName, e.g. "Agent 1001"
    interface: str | None = None  # e.g. "Local/1001@agents/n"
    queues: tuple[str, ...] = ()  # queue skills
    language: str = ""  # "zh-CN" | "en" | "" (browser default)
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """One time a call rang one agent."""

    agent: str | None
    interface: str
    ring_started_at: datetime | None = None
    ring_ended_at: datetime | None = None
    ring_seconds: float = 0.0
    result: OfferResult = OfferResult.NO_ANSWER
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStep:
    flow: str
    step: str
    at: datetime
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxLeg:
    """One CDR of Asterisk's own (table `cdr`): what the PBX says happened to a call.

    Used to finish calls that ended while the AMI link was down (docs/adr/0043).
    """

    linkedid: str
    channel: str
    dstchannel: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    disposition: str
    lastapp: str = ""
    uniqueid: str = ""
    clid: str = ""  # '"Name" <number>'
    src: str = ""
    dst: str = ""
    dcontext: str = ""
    lastdata: str = ""
    queued_at: datetime | None = None  # when the caller entered the queue (CDR cc_queued)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """The call record of CONTRACTS.md plus the CRM's own fields."""

    call_id: str  # Asterisk Linkedid
    direction: Direction
    caller_number: str
    caller_name: str
    dialed_number: str | None = None
    queue: str | None = None
    agent: str | None = None
    agent_interface: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    offers: tuple[Offer, ...] = ()
    outcome: CallOutcome = CallOutcome.FAILED
    rule_violations: tuple[str, ...] = ()
    callback_due_at: datetime | None = None
    # CRM-side fields, filled by IVR, console and services
    customer_id: int | None = None
    transferred_to: str | None = None
    recording: str | None = None
    disposition: str | None = None
    wrapup_notes: str | None = None
    ivr_path: tuple[IvrStep, ...] = ()
    campaign_id: int | None = None
    pbx: str = "default"

    def to_contract(self) -> dict[str, object]:
        """The JSON object of CONTRACTS.md (replay/watch lines, REST call object)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {
            "call_id": self.call_id,
            "direction": self.direction.value,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "dialed_number": self.dialed_number,
            "queue": self.queue,
            "agent": self.agent,
            "started_at": iso(self.started_at),
            "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "wait_seconds": round(self.wait_seconds, 3),
            "talk_seconds": round(self.talk_seconds, 3),
            "hold_seconds": round(self.hold_seconds, 3),
            "offers": [
                {
                    "agent": offer.agent,
                    "interface": offer.interface,
                    "ring_seconds": round(offer.ring_seconds, 3),
                    "result": offer.result.value,
                }
                for offer in self.offers
            ],
            "outcome": self.outcome.value,
            "rule_violations": list(self.rule_violations),
            "callback_due_at": iso(self.callback_due_at),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    id: int | None
    kind: ViolationKind
    at: datetime
    agent: str | None = None
    call_id: str | None = None
    ring_seconds: float | None = None
    queue: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackAttempt:
    at: datetime
    result: AttemptResult
    by_user_id: int | None = None
    call_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Callback:
    id: int
    phone_e164: str
    reason: CallbackReason
    status: CallbackStatus
    created_at: datetime
    due_at: datetime
    customer_id: int | None = None
    owner_user_id: int | None = None  # None: the queue's pool
    queue: str | None = None
    call_id: str | None = None  # the call that created it
    question: str = ""
    outcome: str | None = None
    closed_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: tuple[CallbackAttempt, ...] = ()
    merged_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvent:
    at: datetime
    status: CaseStatus
    by_user_id: int | None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    id: int
    kind: CaseKind
    status: CaseStatus
    subject: str
    created_at: datetime
    customer_id: int | None = None
    owner_user_id: int | None = None  # first contact owns it
    department: str | None = None
    call_id: str | None = None
    description: str = ""
    promised_reply_at: datetime | None = None
    closed_at: datetime | None = None
    history: tuple[CaseEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    id: int
    name: str
    kind: CampaignKind
    mode: DialMode
    status: CampaignStatus
    queue: str | None = None
    team_id: int | None = None
    script: str = ""
    caller_id: str = ""
    calling_hours_start: str = "09:00"  # local time of the contact
    calling_hours_end: str = "21:00"
    timezone: str = "Asia/Shanghai"
    max_attempts: int = 3
    retry_busy_minutes: int = 10
    retry_no_answer_minutes: int = 60
    retry_failed_minutes: int = 30
    dispositions: tuple[str, ...] = (
        "sale",
        "interested",
        "not_interested",
        "call_back_later",
        "wrong_number",
        "do_not_call",
    )
    amd_enabled: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignContact:
    id: int
    campaign_id: int
    phone_e164: str
    name: str = ""
    customer_id: int | None = None
    timezone: str | None = None
    status: ContactStatus = ContactStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_result: str | None = None
    disposition: str | None = None
    disposition_reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyAnswer:
    id: int | None
    call_id: str | None
    customer_id: int | None
    score: Satisfaction
    at: datetime
    campaign_id: int | None = None
    agent: str | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int | None
    at: datetime
    actor_user_id: int | None
    actor: str  # username at the time, kept even if the user is later renamed
    action: str  # e.g. "customer.read", "calls.export", "wrapup.save", "spy.listen"
    subject: str  # e.g. "customer:42", "call:1700000000.41"
    remote: str = ""
    detail: str = ""


def pbx_call_id(pbx: str, linkedid: str) -> str:
    """The call record's id: Asterisk's linkedid, prefixed by the PBX's name when the
    deployment serves several (linkedids of two PBXs can collide)."""
    return linkedid if pbx in ("", "default") else f"{pbx}:{linkedid}"
