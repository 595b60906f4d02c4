"""The outbound dialer: places the calls of running progressive and predictive campaigns
through AMI, bridges answered calls to the campaign's queue, and books every result.

- Each tick, per running campaign: agents free for it are reserved (paused in their
  inbound queues, `telephony.reservation`, ADR 0044) → how many calls for the reserved
  idle agents (`telephony.pacing`) → that many due contacts, each checked against DNC
  and calling hours right before the dial (`crm_core.services.campaigns`).
- The customer is rung first (`Originate`, ≥ 15 s before "no answer"); on answer the
  dialplan context puts the call in the campaign's queue with `CC_QUEUE_TIMEOUT`
  seconds to reach an agent (2 s). No agent in time: the dialplan sets
  `CC_DIALER_ABANDON`, plays the apology and hangs up; the call is recorded abandoned
  and owed a callback (`CallbackReason.DIALER_ABANDON`).
- Busy / no answer / failed come from Asterisk's originate reason and are retried per
  the campaign's rules inside calling hours.
- No reserved idle agent: nothing is dialed (no dialing into an empty room). An agent
  shared with inbound queues is reserved only while no inbound caller waits for them,
  and given back as soon as the calls in flight no longer need them.
- The loop runs under `SupervisedDialer`: a crash is logged and restarted, never raised
  into the service. Contacts a crashed or restarted dialer left "dialing" are released.

The pure rules (`may_dial`, `after_attempt`, …) live in `crm_core.services.dial_rules`
because the console's preview dialing applies them too; they are re-exported here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm_core.domain.events import AgentRingStarted, CallEnded, DomainEvent
from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignStatus,
    DialMode,
)
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import CampaignRepository
from crm_core.ports.telephony import OriginateRequest, TelephonyCommands, TelephonyError
from crm_core.services.campaigns import DncNumbers, pick_contacts, record_attempt
from crm_core.services.dial_rules import (
    MIN_RING_SECONDS,
    AttemptResult,
    DialDecision,
    after_attempt,
    classify_originate,
    may_dial,
    next_calling_window,
    originate_timeout_ms,
    within_calling_hours,
)
from telephony.pacing import ABANDON_GRACE_SECONDS, PacingState, PredictivePacer, calls_to_place
from telephony.reservation import RESERVE_REASON, Floor, Plan, agents_needed, reserve_reason

log = logging.getLogger(__name__)

__all__ = [
    "MIN_RING_SECONDS",
    "AttemptResult",
    "CampaignDialer",
    "DialDecision",
    "DialerConfig",
    "after_attempt",
    "classify_originate",
    "may_dial",
    "next_calling_window",
    "originate_timeout_ms",
    "within_calling_hours",
]

ABANDONED = "abandoned"  # contact result: answered, but no agent within the grace time
# waits between tries to store an attempt's result while the database is away (~15 min)
BOOKING_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, *([60.0] * 14))


def _cid_name(name: str) -> str:
    """A contact's name made safe inside an AMI CallerID header (no quotes, no breaks)."""
    return "".join(ch for ch in name if ch not in '"<>\\\r\n' and ch.isprintable())[:60]


def e164_digits(e164: str) -> str:
    """'+8613900139001' → '8613900139001': the country code stays, so the dialplan (or a
    `dial_number` given to the dialer) can rewrite it to the carrier's national form."""
    return e164.lstrip("+")


@dataclass(frozen=True, slots=True, kw_only=True)
class DialerConfig:
    # the customer leg; {number} is `dial_number(contact.phone_e164)`
    channel: str = "Local/{number}@outbound"
    dial_number: Callable[[str], str] = e164_digits
    context: str = "campaign-dial"  # dialplan context: queue the answered call (exten = queue)
    ring_seconds: int = 30  # before "no answer"; never under MIN_RING_SECONDS
    grace_seconds: float = ABANDON_GRACE_SECONDS
    abandon_cap: float = 0.03
    instance: str = "local"  # who claimed a contact (released after a crash)


@dataclass(slots=True)
class _Run:
    """What the dialer knows about one campaign while it runs."""

    pacer: PredictivePacer
    dialing: set[int] = field(default_factory=set)  # contact ids being rung now
    connecting: set[str] = field(default_factory=set)  # answered calls looking for an agent
    placed: int = 0
    answered: int = 0
    reached: int = 0
    abandoned: int = 0
    # agent-seconds sampled each tick: (logged in, busy on any call)
    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=3600))


class CampaignDialer:
    """Bus subscriber (`handle`) + the step that `SupervisedDialer` runs every tick."""

    def __init__(
        self,
        *,
        campaigns: CampaignRepository,
        dnc: DncNumbers,
        commands: TelephonyCommands,
        clock: Clock,
        config: DialerConfig | None = None,
    ) -> None:
        self.campaigns = campaigns
        self.dnc = dnc
        self.commands = commands
        self.clock = clock
        self.config = config or DialerConfig()
        self.floor = Floor()  # member states, offers, waiting callers, reservations
        self._runs: dict[int, _Run] = {}
        self._ringing_agents: OrderedDict[str, None] = OrderedDict()  # call ids, bounded
        self._waiters: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._released: set[int] = set()
        self._running: dict[int, str] = {}  # running campaign id → its queue

    # --- what Asterisk tells us -----------------------------------------------------------

    def handle(self, event: DomainEvent) -> None:
        self.floor.handle(event)
        if isinstance(event, AgentRingStarted):
            self._ringing_agents[event.call_id] = None
            while len(self._ringing_agents) > 5000:
                self._ringing_agents.popitem(last=False)
            if (waiter := self._waiters.get(event.call_id)) is not None:
                waiter.set()
        elif isinstance(event, CallEnded) and event.record.call_id in self._waiters:
            self._waiters[event.record.call_id].set()

    def free_agents(self, queue: str) -> int:
        """Members of `queue` free in it and idle on their device (whatever other queues
        or reservations say)."""
        return sum(
            1
            for iface in self.floor.interfaces(queue)
            if self.floor.free_in(queue, iface) and self.floor.idle(iface)
        )

    def _agents_in(self, queue: str) -> tuple[int, int]:
        """(logged in, busy on a call) members of `queue`."""
        ifaces = self.floor.interfaces(queue)
        return len(ifaces), sum(1 for i in ifaces if not self.floor.idle(i))

    async def agents_available(self) -> int:
        """Agents the loop has to look after: those free for a running campaign, plus
        the ones it holds or must give back (0: the loop skips the step)."""
        await self.refresh()  # a campaign started since the last tick counts at once
        free = sum(len(self.floor.eligible(cid, q)) for cid, q in self._running.items())
        return free + len(self.floor.reservations) + len(self.floor.stale_pauses())

    # --- the step -------------------------------------------------------------------------

    async def step(self) -> int:
        running = [
            c
            for c in await self.campaigns.list()
            if c.status is CampaignStatus.RUNNING and c.mode is not DialMode.PREVIEW and c.queue
        ]
        self._running = {c.id: c.queue for c in running if c.queue}
        await self._lift_stale_pauses()
        # campaigns paused or stopped since: give their agents back (calls in flight keep
        # the agents they need)
        for cid in {r.campaign_id for r in self.floor.reservations.values()} - set(self._running):
            queue = next(r.queue for r in self.floor.reservations.values() if r.campaign_id == cid)
            run = self._runs.get(cid)
            keep = len(run.dialing) if run is not None else 0
            await self._apply(cid, queue, self.floor.plan(cid, queue, keep=keep, active=False))
        placed = 0
        for campaign in running:
            placed += await self._pace(campaign)
        return placed

    async def refresh(self) -> None:
        """Learn which campaigns run (before the first step)."""
        self._running = {
            c.id: c.queue
            for c in await self.campaigns.list()
            if c.status is CampaignStatus.RUNNING and c.mode is not DialMode.PREVIEW and c.queue
        }

    # --- reservations (ADR 0044) -----------------------------------------------------------

    async def _apply(self, campaign_id: int, queue: str, plan: Plan) -> None:
        for iface in plan.release:
            await self._release(iface)
        for iface, others in plan.reserve:
            # booked before the pause so its own QueueMemberPause is not taken for stale
            self.floor.reserved(iface, campaign_id, queue, others)
            try:
                for q in others:
                    await self.commands.queue_pause(
                        iface, True, reason=reserve_reason(campaign_id), queue=q
                    )
            except TelephonyError as exc:
                log.warning("campaign %s: cannot reserve %s (%s)", campaign_id, iface, exc)
                await self._release(iface)
            else:
                log.info("campaign %s: %s reserved (paused in %s)", campaign_id, iface, others)

    async def _release(self, iface: str) -> None:
        """Lift the reservation's pauses, except where the agent has since paused
        for a reason of their own (a break stays a break)."""
        reservation = self.floor.released(iface)
        if reservation is None:
            return
        for q in reservation.queues:
            m = self.floor.members.get((q, iface))
            if m is not None and not (m.paused and m.reason.startswith(RESERVE_REASON)):
                continue
            try:
                await self.commands.queue_pause(iface, False, queue=q)
            except TelephonyError as exc:
                log.warning("cannot give %s back to queue %s (%s)", iface, q, exc)

    async def _lift_stale_pauses(self) -> None:
        for q, iface in self.floor.stale_pauses():
            log.warning("%s still paused in %s for a campaign; lifting it", iface, q)
            try:
                await self.commands.queue_pause(iface, False, queue=q)
            except TelephonyError as exc:
                log.warning("cannot unpause %s in %s (%s)", iface, q, exc)

    def _run(self, campaign: Campaign) -> _Run:
        run = self._runs.get(campaign.id)
        if run is None:
            run = self._runs[campaign.id] = _Run(pacer=PredictivePacer(cap=self.config.abandon_cap))
        return run

    async def _pace(self, campaign: Campaign) -> int:
        assert campaign.queue is not None
        run = self._run(campaign)
        if campaign.id not in self._released:
            # contacts a previous run of this instance left mid-dial go back to the list
            self._released.add(campaign.id)
            freed = await self.campaigns.release_dialing(campaign.id, by=self.config.instance)
            if freed:
                log.warning("campaign %s: %d contacts left mid-dial released", campaign.id, freed)
        run.samples.append(self._agents_in(campaign.queue))
        in_flight = len(run.dialing)  # ringing, or answered and being connected
        keep = agents_needed(campaign.mode, in_flight, run.pacer.ratio, run.pacer.answer_rate())
        # nobody due (list worked through, retries later): hold no agent from inbound
        due = await self.campaigns.due_contacts(campaign.id, self.clock.now(), limit=1)
        plan = self.floor.plan(campaign.id, campaign.queue, keep=keep, active=bool(due))
        await self._apply(campaign.id, campaign.queue, plan)
        if not due:
            return 0
        # pace on agents held for the campaign only: reserved (their pauses confirmed by
        # Asterisk) or serving no other queue; an agent being offered a call never counts
        free = len(self.floor.ready(campaign.id, campaign.queue))
        if free <= 0:
            return 0  # never dial into an empty room
        state = PacingState(free_agents=free, agents_finishing_soon=0, calls_ringing=in_flight)
        want = calls_to_place(campaign.mode, state, run.pacer)
        if want <= 0:
            return 0
        contacts = await pick_contacts(
            campaign,
            want=want,
            now=self.clock.now(),
            by=self.config.instance,
            campaigns=self.campaigns,
            dnc=self.dnc,
        )
        for contact in contacts:
            run.dialing.add(contact.id)
            run.placed += 1
            task = asyncio.create_task(
                self._dial(campaign, contact, run), name=f"dial:{contact.id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(contacts)

    async def _dial(self, campaign: Campaign, contact: CampaignContact, run: _Run) -> None:
        number = self.config.dial_number(contact.phone_e164)
        variables = {
            "CC_CAMPAIGN_ID": str(campaign.id),
            "CC_CONTACT_ID": str(contact.id),
            "CC_QUEUE_TIMEOUT": f"{self.config.grace_seconds:g}",
            # the record's dialed_number: the contact as the CRM stores it, whatever form
            # the carrier is dialled in (ADR 0047)
            "CC_DIALED": contact.phone_e164,
        }
        if contact.customer_id is not None:
            variables["CC_CUSTOMER_ID"] = str(contact.customer_id)
        if campaign.amd_enabled:
            variables["CC_AMD"] = "1"
        # [outbound]'s Dial rings a little longer than the Originate waits, so the
        # Originate's own timeout (reason 3, no answer) always ends an unanswered call:
        # a Dial timing out first hangs up and the Originate says reason 0 (ADR 0056)
        variables["_CC_RING_SECONDS"] = str(max(MIN_RING_SECONDS, self.config.ring_seconds) + 5)
        if campaign.caller_id:  # the number the customer sees ([outbound] reads it)
            variables["_CC_CALLER_ID"] = campaign.caller_id
        request = OriginateRequest(
            channel=self.config.channel.format(number=number),
            context=self.config.context,
            exten=campaign.queue,
            # what the agent's phone and the screen pop show: the customer
            caller_id=f'"{_cid_name(contact.name)}" <{contact.phone_e164}>',
            timeout_seconds=max(MIN_RING_SECONDS, self.config.ring_seconds),
            variables=variables,
            # one attempt, one originate: a retried step never rings the contact twice
            request_id=f"cmp{campaign.id}-c{contact.id}-a{contact.attempts + 1}",
        )
        call_id: str | None = None
        outcome = "failed"
        try:
            try:
                result = await self.commands.originate(request)
                call_id = result.call_id
                attempt = AttemptResult.ANSWERED
            except TelephonyError as exc:
                attempt = classify_originate(exc.reason or 0)
            run.pacer.record_attempt(attempt is AttemptResult.ANSWERED)
            outcome = attempt.value
            if attempt is AttemptResult.ANSWERED:
                run.answered += 1
                run.connecting.add(call_id or request.request_id or "")
                reached = await self._reached_agent(call_id)
                run.connecting.discard(call_id or request.request_id or "")
                run.pacer.record_answer(reached)
                if reached:
                    run.reached += 1
                else:
                    run.abandoned += 1
                    outcome = ABANDONED
            await self._book(campaign, contact, attempt, outcome, call_id)
        except Exception:
            log.exception("campaign %s contact %s: dial failed", campaign.id, contact.id)
        finally:
            run.dialing.discard(contact.id)

    async def _book(
        self,
        campaign: Campaign,
        contact: CampaignContact,
        attempt: AttemptResult,
        outcome: str,
        call_id: str | None,
    ) -> None:
        """Store the attempt's result; while the database is away, keep trying (the call
        happened: forgetting it would let the contact be dialed again as if it had not)."""
        for n, delay in enumerate(BOOKING_RETRY_SECONDS):
            try:
                booked = await record_attempt(
                    campaign,
                    contact,
                    attempt,
                    now=self.clock.now(),
                    campaigns=self.campaigns,
                    call_id=call_id,
                    last_result=outcome,
                )
            except Exception as exc:
                if n == 0:
                    log.error(
                        "campaign %s contact %s: cannot store the result %s (%s); retrying",
                        campaign.id,
                        contact.id,
                        outcome,
                        exc,
                    )
                await self.clock.sleep(delay)
                continue
            log.info(
                "campaign %s contact %s: %s (attempt %d)",
                campaign.id,
                contact.id,
                outcome,
                booked.attempts,
            )
            return
        log.error(
            "campaign %s contact %s: result %s (call %s) not stored after %.0f s; "
            "the contact stays claimed until the dialer restarts",
            campaign.id,
            contact.id,
            outcome,
            call_id,
            sum(BOOKING_RETRY_SECONDS),
        )

    async def _reached_agent(self, call_id: str | None) -> bool:
        """Did the answered call reach an agent (ring started) before the grace ran out?

        The dialplan enforces the grace; here we wait for its verdict: an agent's
        phone ringing (reached) or the call ending without one (abandoned).
        """
        if call_id is None:
            return False
        if call_id in self._ringing_agents:
            return True
        waiter = self._waiters.setdefault(call_id, asyncio.Event())
        try:
            async with asyncio.timeout(self.config.grace_seconds + 30.0):
                await waiter.wait()
        except TimeoutError:
            log.warning("call %s: neither an agent nor a hang-up 30 s after answer", call_id)
        finally:
            self._waiters.pop(call_id, None)
        return call_id in self._ringing_agents

    # --- figures ----------------------------------------------------------------------------

    def stats(self, campaign_id: int) -> dict[str, Any] | None:
        """Live figures of a campaign this dialer runs (None: not running here)."""
        run = self._runs.get(campaign_id)
        if run is None:
            return None
        logged = sum(n for n, _ in run.samples)
        busy = sum(b for _, b in run.samples)
        return {
            "placed": run.placed,
            "ringing": len(run.dialing),
            "answered": run.answered,
            "reached": run.reached,
            "abandoned": run.abandoned,
            "abandon_rate_rolling": round(run.pacer.abandon_rate(), 4),
            "answer_rate": round(run.pacer.answer_rate(), 4),
            "dial_ratio": round(run.pacer.ratio, 3),
            "occupancy": round(busy / logged, 4) if logged else None,
        }

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for iface in list(self.floor.reservations):  # agents go back to their queues
            try:
                await asyncio.wait_for(self._release(iface), 5.0)
            except (TimeoutError, ConnectionError) as exc:
                log.warning("cannot release %s on close (%s)", iface, exc)
