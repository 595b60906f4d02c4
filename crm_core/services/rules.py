"""Answer within three rings (working rule 2).

For every offer of a call to an agent: answered inside `rings × cycle` is
compliant; answered after it is a late answer; rung out without an answer is a
missed call, and the agent is paused in the queue with reason "missed call" so the
next caller is not sent to an empty seat. Every violation is stored and published;
the agent's team lead gets a live alert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingEnded,
    AlertRaised,
    CallEnded,
    DomainEvent,
    QueueParamsRead,
    RuleViolated,
)
from crm_core.domain.models import CallRecord, Offer, OfferResult, Violation, ViolationKind
from crm_core.domain.rules import offer_violation, ring_violation
from crm_core.ports.bus import EventBus
from crm_core.ports.clock import Clock
from crm_core.ports.stores import RingRuleDb
from crm_core.ports.telephony import QueuePauser, TelephonyError
from crm_core.services.callbacks import RuleSettings
from crm_core.services.worker import EventWorker

log = logging.getLogger(__name__)

MISSED_CALL_REASON = "missed call"
RING_RULE_EFFECT = "ring-rule"  # the key of the pass over a finished call's offers


def violation_key(kind: ViolationKind, interface: str, ring_ended_at: datetime) -> str:
    """One violation of one ring: the same from the live event (its `at` is the ring's
    end) and from the stored offer, so either path finds what the other recorded. An
    agent rung twice in one call (the queue tries them again) has two keys."""
    end = ring_ended_at.astimezone(UTC).isoformat(timespec="milliseconds")
    return f"violation:{kind.value}:{interface}:{end}"


def check_queue_ring_timeouts(timeouts: dict[str, float], limit: float) -> list[str]:
    """Warnings for queues whose member ring timeout is longer than the ring limit."""
    return [
        f"queue {queue!r} rings each agent for {seconds:g} s, longer than the "
        f"{limit:g} s three-ring limit: set its member timeout to {limit:g} s or less"
        for queue, seconds in sorted(timeouts.items())
        if seconds > limit
    ]


class QueueTimeoutCheck:
    """Bus subscriber: warns once per change about a queue that rings agents too long.

    The PBX's queue settings reach us as `QueueParamsRead` (the AMI client's resync asks
    QueueStatus; the ingest translates the answer); the rule is decided here, not in the
    transport (docs/adr/0066).
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._timeouts: dict[str, dict[str, float]] = {}  # pbx -> queue -> seconds
        self.warnings: dict[str, list[str]] = {}  # pbx -> current warnings

    def handle(self, event: DomainEvent) -> None:
        if not isinstance(event, QueueParamsRead):
            return
        queues = self._timeouts.setdefault(event.pbx, {})
        if queues.get(event.queue) == event.member_timeout_seconds:
            return
        queues[event.queue] = event.member_timeout_seconds
        before = self.warnings.get(event.pbx, [])
        self.warnings[event.pbx] = now = check_queue_ring_timeouts(queues, self.limit)
        for warning in now:
            if warning not in before:
                log.warning("PBX %s: %s", event.pbx, warning)


class RingRuleService(EventWorker):
    worker_name = "ring-rule"

    def __init__(
        self,
        *,
        db: RingRuleDb,
        bus: EventBus,
        clock: Clock,
        settings: RuleSettings,
        commands: QueuePauser | None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.limit = settings.ring_limit_seconds
        self.commands = commands
        super().__init__()
        self.offers = 0
        self.compliant = 0

    def handle(self, event: DomainEvent) -> None:
        """Bus subscriber: classify at once (pure, `crm_core.domain.rules`), act in the
        worker (DB, AMI)."""
        if isinstance(event, AgentRingEnded) and event.result == OfferResult.ANSWERED:
            kind = ring_violation(event.result, event.ring_seconds, self.limit)
        elif isinstance(event, AgentMissedCall):
            kind = ring_violation(OfferResult.NO_ANSWER, event.ring_seconds, self.limit)
        elif isinstance(event, CallEnded):
            self.enqueue(event)
            return
        else:
            return
        self.offers += 1
        if kind is None:
            self.compliant += 1
            return
        self.enqueue(event)

    async def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            await self.apply_call(event.record)
            return
        if isinstance(event, AgentMissedCall):
            kind, ring = ViolationKind.MISSED_CALL, event.ring_seconds
        elif isinstance(event, AgentRingEnded):
            kind, ring = ViolationKind.LATE_ANSWER, event.ring_seconds
        else:
            return
        violation = Violation(
            id=None,
            kind=kind,
            at=event.at,
            agent=event.agent,
            call_id=event.call_id,
            ring_seconds=ring,
            queue=event.queue,
            detail=f"rang {ring:.1f} s, limit {self.limit:g} s",
        )
        async with self.db.effects.transaction(self.clock.now()) as tx:
            if not await tx.claim(event.call_id, violation_key(kind, event.interface, event.at)):
                return  # another instance recorded it (and paused the agent)
            await tx.violations.add(violation)
        # the instance whose claim won tells the lead and pauses the agent: once
        await self._announce(violation, pbx=event.pbx, interface=event.interface, live=True)

    async def apply_call(self, record: CallRecord) -> list[Violation]:
        """Every ring-limit violation of a finished call, from its offers, once: what the
        live events recorded is found by its key; what they could not (the database was
        away, the instance died) is recorded now, without pausing anyone (the call is
        over). The effects sweep runs this for calls that have not had it."""
        return (await self.claim_call(record))[1]

    async def claim_call(self, record: CallRecord) -> tuple[bool, list[Violation]]:
        """`apply_call`, and whether this instance was the one that applied it."""
        added: list[Violation] = []
        async with self.db.effects.transaction(self.clock.now()) as tx:
            if not await tx.claim(record.call_id, RING_RULE_EFFECT):
                return False, []
            for offer in record.offers:
                kind = self.classify(offer)
                if kind is None or offer.ring_ended_at is None:
                    continue
                key = violation_key(kind, offer.interface, offer.ring_ended_at)
                if not await tx.claim(record.call_id, key):
                    continue
                violation = Violation(
                    id=None,
                    kind=kind,
                    at=offer.ring_ended_at,
                    agent=offer.agent,
                    call_id=record.call_id,
                    ring_seconds=offer.ring_seconds,
                    queue=offer.queue or record.queue,
                    detail=f"rang {offer.ring_seconds:.1f} s, limit {self.limit:g} s",
                )
                await tx.violations.add(violation)
                added.append(violation)
        for violation in added:
            log.warning(
                "ring rule: %s of %s on call %s recorded after the call (not seen live)",
                violation.kind.value,
                violation.agent,
                violation.call_id,
            )
            await self._announce(violation, pbx=record.pbx, interface="", live=False)
        return True, added

    def classify(self, offer: Offer) -> ViolationKind | None:
        """The one rule (`crm_core.domain.rules`), as the tracker flags the record."""
        return offer_violation(offer, self.limit)

    async def _announce(self, v: Violation, *, pbx: str, interface: str, live: bool) -> None:
        agent, call_id, queue, kind = v.agent, v.call_id, v.queue, v.kind
        ring = v.ring_seconds or 0.0
        user = await self.db.users.get_by_member_name(agent) if agent else None
        team_id = user.team_id if user else None
        await self.bus.publish(
            RuleViolated(
                at=v.at,
                pbx=pbx,
                kind=kind,
                agent=agent,
                call_id=call_id,
                queue=queue,
                ring_seconds=ring,
            )
        )
        if kind == ViolationKind.MISSED_CALL:
            paused = live and await self._pause(interface, agent)
            message = f"{agent} let a call ring {ring:.0f} s without answering" + (
                "; paused in the queue (missed call)" if paused else ""
            )
            alert_kind = "missed_ring"
        else:
            message = f"{agent} answered after {ring:.0f} s (limit {self.limit:g} s)"
            alert_kind = "late_answer"
        await self.bus.publish(
            AlertRaised(
                at=v.at,
                pbx=pbx,
                kind=alert_kind,
                message=message,
                agent=agent,
                team_id=team_id,
                call_id=call_id,
                queue=queue,
            )
        )

    async def _pause(self, interface: str, agent: str | None) -> bool:
        if self.commands is None or not interface:
            return False
        try:
            await self.commands.queue_pause(interface, True, MISSED_CALL_REASON)
        except TelephonyError as exc:
            log.error("ring rule: could not pause %s after a missed call: %s", agent, exc)
            return False
        return True
