"""Which agents a campaign may dial for, on a floor where agents also take inbound calls.

ADR 0044. An agent is *free for a campaign* when they are logged in and unpaused in the
campaign's queue, idle on their device (no queue reports them ringing or talking, no
call is being offered to them) and not held by another campaign. Such an agent is
*reserved* before any customer is dialed for them: paused, with reason
`RESERVE_REASON`, in every other queue they serve, so no inbound queue can offer them a
call while the customers ring. The pacer counts reserved idle agents only.

Inbound comes first: an agent is not reserved while one of their other queues has a
caller waiting, and a reserved idle agent is given back to those queues as soon as the
calls still ringing for the campaign no longer need them. A reservation ends when the
agent becomes busy (the campaign call reached them): the pause is lifted at once, which
is safe because a queue does not offer a call to a member in use (`ringinuse = no`).

Pure bookkeeping fed by domain events (`handle`); the dialer performs the AMI actions
the plan asks for and reports them back (`reserved`, `released`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_core.domain.events import (
    AgentRingEnded,
    AgentRingStarted,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallOffered,
    DomainEvent,
)
from crm_core.domain.models import AgentStatus, DialMode, OfferResult

RESERVE_REASON = "cc-campaign"  # pause reason in the inbound queues: "cc-campaign:<id>"
_BUSY = (AgentStatus.RINGING, AgentStatus.ON_CALL, AgentStatus.WRAP_UP)


def reserve_reason(campaign_id: int) -> str:
    return f"{RESERVE_REASON}:{campaign_id}"


@dataclass(frozen=True, slots=True)
class _Member:
    status: AgentStatus
    paused: bool
    reason: str


@dataclass(slots=True)
class Reservation:
    campaign_id: int
    queue: str  # the campaign's queue
    queues: tuple[str, ...]  # the other queues we paused the agent in


@dataclass(slots=True)
class Plan:
    reserve: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (iface, queues)
    release: list[str] = field(default_factory=list)


def agents_needed(mode: DialMode, in_flight: int, ratio: float, answer_rate: float) -> int:
    """The fewest reserved agents that justify `in_flight` calls still ringing or being
    connected: progressive dials one call per agent; predictive dials
    agents × ratio / answer rate, so it needs ceil(calls × answer rate / ratio)."""
    if in_flight <= 0:
        return 0
    if mode is DialMode.PREDICTIVE:
        return math.ceil(in_flight * answer_rate / max(ratio, 1e-6) - 1e-9)
    return in_flight


class Floor:
    """The agents as the dialer sees them: per-queue member states, offers in progress,
    callers waiting in each queue, and the campaign reservations."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], _Member] = {}  # (queue, interface) → state
        self._offers: dict[str, set[str]] = {}  # interface → call ids ringing it
        self._waiting: dict[str, set[str]] = {}  # queue → call ids waiting in it
        self.reservations: dict[str, Reservation] = {}  # interface → reservation

    # --- events ---------------------------------------------------------------------

    def handle(self, event: DomainEvent) -> None:
        if isinstance(event, AgentStateChanged) and event.queue:
            key = (event.queue, event.interface)
            if event.status is AgentStatus.LOGGED_OUT:
                self.members.pop(key, None)
            else:
                self.members[key] = _Member(event.status, event.paused, event.pause_reason)
        elif isinstance(event, CallOffered):
            self._waiting.setdefault(event.queue, set()).add(event.call_id)
        elif isinstance(event, AgentRingStarted):
            self._offers.setdefault(event.interface, set()).add(event.call_id)
            if event.queue:  # being offered: no longer waiting for an agent
                self._waiting.get(event.queue, set()).discard(event.call_id)
        elif isinstance(event, AgentRingEnded):
            self._offers.get(event.interface, set()).discard(event.call_id)
            if event.queue and event.result in (OfferResult.NO_ANSWER, OfferResult.REJECTED):
                # not taken: the caller waits for the next agent
                self._waiting.setdefault(event.queue, set()).add(event.call_id)
        elif isinstance(event, CallAnswered | CallAbandoned):
            self._forget_waiting(event.call_id)
        elif isinstance(event, CallEnded):
            call_id = event.record.call_id
            self._forget_waiting(call_id)
            for calls in self._offers.values():
                calls.discard(call_id)

    def _forget_waiting(self, call_id: str) -> None:
        for calls in self._waiting.values():
            calls.discard(call_id)

    # --- views ----------------------------------------------------------------------

    def interfaces(self, queue: str) -> list[str]:
        return sorted(i for (q, i) in self.members if q == queue)

    def queues_of(self, interface: str) -> list[str]:
        return sorted(q for (q, i) in self.members if i == interface)

    def waiting(self, queue: str) -> int:
        return len(self._waiting.get(queue, ()))

    def idle(self, interface: str) -> bool:
        """Not ringing, talking or in wrap-up in any queue, and no call offered to it."""
        if self._offers.get(interface):
            return False
        return not any(m.status in _BUSY for (_, i), m in self.members.items() if i == interface)

    def free_in(self, queue: str, interface: str) -> bool:
        """Logged in and not paused in `queue` (a campaign reservation elsewhere is fine)."""
        m = self.members.get((queue, interface))
        return m is not None and not m.paused and m.status is AgentStatus.AVAILABLE

    def eligible(self, campaign_id: int, queue: str) -> list[str]:
        """Agents free for this campaign now: free in its queue, idle on their device,
        not held by another campaign."""
        out = []
        for iface in self.interfaces(queue):
            held = self.reservations.get(iface)
            if held is not None and held.campaign_id != campaign_id:
                continue
            if self.free_in(queue, iface) and self.idle(iface):
                out.append(iface)
        return out

    def dedicated(self, queue: str, interface: str) -> bool:
        return self.queues_of(interface) == [queue]

    def ready(self, campaign_id: int, queue: str) -> list[str]:
        """The agents the campaign paces on: eligible and either serving only its queue
        or reserved for it (paused in their other queues)."""
        return [
            iface
            for iface in self.eligible(campaign_id, queue)
            if self.dedicated(queue, iface)
            or (
                (r := self.reservations.get(iface)) is not None
                and r.campaign_id == campaign_id
                and all(self.members.get((q, iface), _NOT_PAUSED).paused for q in r.queues)
            )
        ]

    def inbound_waiting_for(self, queue: str, interface: str) -> bool:
        return any(self.waiting(q) > 0 for q in self.queues_of(interface) if q != queue)

    # --- decisions ------------------------------------------------------------------

    def plan(self, campaign_id: int, queue: str, *, keep: int, active: bool) -> Plan:
        """What to reserve and release for one campaign.

        `keep`: reserved agents the calls in flight still need (`agents_needed`);
        `active`: the campaign is running and may dial (False: release what is not needed).
        """
        plan = Plan()
        # reservations that ended: the agent got busy (the campaign call reached them),
        # logged out of the campaign queue, or paused there (a break)
        for iface, r in self.reservations.items():
            if r.campaign_id != campaign_id:
                continue
            if not self.idle(iface) or not self.free_in(queue, iface):
                plan.release.append(iface)
        held = [
            i
            for i, r in self.reservations.items()
            if r.campaign_id == campaign_id and i not in plan.release
        ]
        # give idle reserved agents back to inbound callers (or when the campaign stops),
        # but never below what the calls in flight need
        spare = len(held) - keep
        for iface in sorted(held, key=lambda i: not self.inbound_waiting_for(queue, i)):
            if spare <= 0:
                break
            if not active or self.inbound_waiting_for(queue, iface):
                plan.release.append(iface)
                spare -= 1
        if not active:
            return plan
        for iface in self.eligible(campaign_id, queue):
            if iface in self.reservations or self.dedicated(queue, iface):
                continue
            if self.inbound_waiting_for(queue, iface):
                continue  # inbound first: that caller is about to be offered this agent
            others = tuple(
                q
                for q in self.queues_of(iface)
                if q != queue and not self.members[(q, iface)].paused
            )
            plan.reserve.append((iface, others))
        return plan

    def reserved(self, interface: str, campaign_id: int, queue: str, queues: Iterable[str]) -> None:
        self.reservations[interface] = Reservation(campaign_id, queue, tuple(queues))

    def released(self, interface: str) -> Reservation | None:
        return self.reservations.pop(interface, None)

    def stale_pauses(self) -> list[tuple[str, str]]:
        """(queue, interface) paused with our reason but not reserved by us: left by a
        dialer that crashed or restarted; they must be lifted."""
        out = []
        for (q, iface), m in self.members.items():
            if not (m.paused and m.reason.startswith(RESERVE_REASON)):
                continue
            r = self.reservations.get(iface)
            if r is None or q not in r.queues:
                out.append((q, iface))
        return out


_NOT_PAUSED = _Member(AgentStatus.AVAILABLE, False, "")
