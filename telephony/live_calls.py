"""The tracker's state of calls in progress: each call and the offers to its agents.

Plain mutable records, written only by `telephony.tracker.CallTracker` (the reducer) and
read by it to build domain events and the finished `CallRecord`; `AnsweredLegs` is what
the commands adapter asks of a live answered call (ADR 0072).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from crm_core.domain.models import IvrStep, Offer, OfferResult


class LiveOffer:
    """An agent being rung for a call (AgentCalled .. connect / no answer / gone)."""

    __slots__ = ("agent", "channel", "ended", "interface", "queue", "result", "ring", "started")

    def __init__(
        self, agent: str | None, interface: str, queue: str | None, channel: str, at: datetime
    ) -> None:
        self.agent = agent
        self.interface = interface
        self.queue = queue
        self.channel = channel
        self.started = at
        self.ended: datetime | None = None
        self.ring = 0.0
        self.result = OfferResult.NO_ANSWER

    def close(self, at: datetime, result: OfferResult, floor: float = 0.0) -> None:
        self.ended = at
        self.ring = max((at - self.started).total_seconds(), floor)
        self.result = result

    def domain(self) -> Offer:
        return Offer(
            agent=self.agent,
            interface=self.interface,
            queue=self.queue,
            ring_started_at=self.started,
            ring_ended_at=self.ended,
            ring_seconds=round(self.ring, 3),
            result=self.result,
        )


class LiveCall:
    """What the tracker knows of one call in progress, keyed by its Linkedid."""

    __slots__ = (
        "abandoned",
        "agent",
        "agent_interface",
        "answered_at",
        "call_id",
        "caller_cause",
        "caller_channel",
        "caller_name",
        "caller_number",
        "campaign_id",
        "channels",
        "customer_id",
        "dialed_number",
        "dialer_abandoned",
        "hold_seconds",
        "hold_started",
        "inbound_ctx",
        "internal",
        "ivr_path",
        "legs",
        "linkedid",
        "offers",
        "originate_failure",
        "originated",
        "queue",
        "queue_joined",
        "queued",
        "recording",
        "started_at",
        "talk_ended_at",
        "transfer_pending",
        "transferred_to",
        "up",
        "wait_seconds",
        "waiting_channel",
        "waiting_in",
    )

    def __init__(self, linkedid: str, at: datetime, call_id: str) -> None:
        self.linkedid = linkedid
        self.call_id = call_id  # the record's id (pbx_call_id)
        self.started_at = at
        self.channels: dict[str, str] = {}  # uniqueid -> channel name
        self.caller_channel: str | None = None
        self.caller_number = ""
        self.caller_name = ""
        self.dialed_number: str | None = None
        self.queue: str | None = None
        self.queue_joined: datetime | None = None
        self.queued = False
        self.offers: list[LiveOffer] = []
        self.answered_at: datetime | None = None
        self.talk_ended_at: datetime | None = None  # the agent hung up, the caller stayed
        self.caller_cause: int | None = None  # Q.850 cause of the first channel's Hangup
        self.agent: str | None = None
        self.agent_interface: str | None = None
        self.wait_seconds = 0.0
        self.abandoned = False
        self.hold_started: datetime | None = None
        self.hold_seconds = 0.0
        self.transferred_to: str | None = None
        # a BlindTransfer was seen: the next queue join or agent dial is its target
        self.transfer_pending = False
        self.recording: str | None = None
        self.customer_id: int | None = None
        self.campaign_id: int | None = None
        self.dialer_abandoned = False  # a campaign call answered with no agent to take it
        self.ivr_path: list[IvrStep] = []
        self.originated = False
        self.originate_failure: int | None = None
        # every channel dialled (not queue offers): channel -> [exten, status, answered at]
        self.legs: dict[str, list[object]] = {}
        self.up = False  # the first channel was answered (by IVR, queue or far end)
        self.inbound_ctx = False
        self.internal = False  # a supervisor's spy call: not a customer call
        # the queue the call waits in right now (QueueCallerJoin .. QueueCallerLeave)
        self.waiting_in: str | None = None
        self.waiting_channel: str | None = None

    def open_offer(
        self, channel: str | None = None, interface: str | None = None
    ) -> LiveOffer | None:
        for offer in reversed(self.offers):
            if offer.ended is None and (
                (channel and offer.channel == channel)
                or (interface and offer.interface == interface)
            ):
                return offer
        return None


class AnsweredLegs(NamedTuple):
    customer: str  # the customer's channel
    agent_leg: str  # the answering agent's channel (the queue side of a Local pair)
    agent_interface: str  # what the queue rang: 'Local/1001@agents/n', 'PJSIP/1001'
