"""Seats: who sits at which phone, what each agent is doing, and the screen pop.

Bus handler, run synchronously inside `publish`: the pop for an
`AgentRingStarted` is numbered and queued to the agent's sockets before the
handler returns, with the caller's number and name and, when we have it in
memory, the customer's name. The full customer card (history, cases,
callbacks) needs the database, so it follows as `screen_pop_customer` from an
owned background task (ADR 0019).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent_console.hub import Hub
from agent_console.services import ConsoleServices
from agent_console.views import callback_json, case_json, customer_json, iso
from crm_core.domain.events import (
    AgentRingEnded,
    AgentRingStarted,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackClosed,
    CallbackDue,
    CallbackReminderDue,
    CallbackRetryScheduled,
    CallbackScheduled,
    CallEnded,
    CallHeld,
    CallResumed,
    CallTransferred,
    DomainEvent,
)
from crm_core.domain.models import (
    AgentStatus,
    AuditEntry,
    CallbackStatus,
    Customer,
    OfferResult,
    Role,
    User,
)
from crm_core.ports.bus import Subscription
from crm_core.ports.repositories import CallFilter

log = logging.getLogger(__name__)

MAX_CARDS = 5  # current call, a waiting one, and a few in wrap-up


@dataclass(slots=True)
class AgentState:
    status: AgentStatus = AgentStatus.LOGGED_OUT
    paused: bool = False
    reason: str = ""
    queues: set[str] = field(default_factory=set)
    since: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "paused": self.paused,
            "reason": self.reason,
            "queues": sorted(self.queues),
            "since": iso(self.since),
        }


@dataclass(slots=True)
class Seat:
    user: User
    state: AgentState = field(default_factory=AgentState)
    cards: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)


def _base_interface(interface: str) -> str:
    """'Local/1001@agents-0000002a;1' -> 'Local/1001@agents' (channel -> device)."""
    head = interface.split(";", 1)[0]
    if "@" in head:
        user_part, context = head.split("@", 1)
        return f"{user_part}@{context.split('-', 1)[0].split('/', 1)[0]}"
    return head.rsplit("-", 1)[0] if "/" in head else head


# (campaign id, customer's number) → what the agent's card shows of the campaign
CampaignCard = Callable[[int, str], Awaitable[dict[str, Any] | None]]
# (the call's card, the wrap-up request body, the agent) after the wrap-up was saved
WrapupHook = Callable[[dict[str, Any], dict[str, Any], User], Awaitable[None]]


class SeatBoard:
    def __init__(self, services: ConsoleServices, hub: Hub) -> None:
        self._s = services
        self._hub = hub
        self._seats: dict[str, Seat] = {}
        self._by_member: dict[str, str] = {}
        self._by_interface: dict[str, str] = {}
        self._call_users: dict[str, set[str]] = {}
        self._channels: dict[str, dict[str, str]] = {}  # call_id -> {"caller": ch, user: ch}
        self._customers: OrderedDict[str, Customer | None] = OrderedDict()  # phone -> customer
        self._tasks: set[asyncio.Task[None]] = set()
        self._wrapup_locks: dict[str, asyncio.Lock] = {}
        self._commands: set[str] = set()  # users whose own state command is running
        self._sub: Subscription | None = None
        self.pops = 0
        # set by the campaign routes: what a campaign call's card shows (name, script,
        # dispositions, the contact's attempts), and what a saved wrap-up does to the contact
        self.campaign_card: CampaignCard | None = None
        self.wrapup_hooks: list[WrapupHook] = []

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload_users()
        self._sub = self._s.bus.subscribe(self.handle)

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def wrapup_lock(self, call_id: str) -> asyncio.Lock:
        """Serialises the wrap-ups of one call on this instance (a double-click)."""
        lock = self._wrapup_locks.get(call_id)
        if lock is None:
            if len(self._wrapup_locks) > 1000:  # forget the idle ones
                for key in [k for k, v in self._wrapup_locks.items() if not v.locked()]:
                    del self._wrapup_locks[key]
            lock = self._wrapup_locks[call_id] = asyncio.Lock()
        return lock

    def spawn(self, coro: Any, what: str) -> None:
        """Run `coro` as a task this board owns (cancelled and awaited on stop)."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("console task %s failed", task.get_name(), exc_info=task.exception())

    async def reload_users(self) -> None:
        for user in await self._s.db.users.list():
            self.add_user(user)

    def add_user(self, user: User) -> Seat:
        seat = self._seats.get(user.username)
        if seat is None:
            seat = Seat(user=user)
            self._seats[user.username] = seat
        else:
            seat.user = user
        if user.member_name:
            self._by_member[user.member_name] = user.username
        if user.interface:
            self._by_interface[user.interface] = user.username
            self._by_interface[_base_interface(user.interface)] = user.username
        return seat

    # --- reading ----------------------------------------------------------------------

    def seat(self, username: str) -> Seat | None:
        return self._seats.get(username)

    def seats(self) -> list[Seat]:
        return list(self._seats.values())

    def username_for(self, agent: str | None, interface: str | None) -> str | None:
        if agent and agent in self._by_member:
            return self._by_member[agent]
        if interface:
            return self._by_interface.get(interface) or self._by_interface.get(
                _base_interface(interface)
            )
        return None

    def snapshot_for(self, user: User) -> dict[str, Any]:
        seat = self._seats.get(user.username) or self.add_user(user)
        return {
            "agent_state": seat.state.to_json(),
            "calls": list(seat.cards.values()),
        }

    def card(self, username: str, call_id: str) -> dict[str, Any] | None:
        seat = self._seats.get(username)
        return seat.cards.get(call_id) if seat else None

    def channel_of(self, call_id: str, who: str = "caller") -> str | None:
        return self._channels.get(call_id, {}).get(who)

    def remember_customer(self, phone: str, customer: Customer | None) -> None:
        self._customers[phone] = customer
        self._customers.move_to_end(phone)
        while len(self._customers) > 5000:
            self._customers.popitem(last=False)

    # --- agent state (set by the console right after a command; AMI confirms) -----------

    def set_state(
        self,
        username: str,
        *,
        status: AgentStatus,
        paused: bool = False,
        reason: str = "",
        queues: set[str] | None = None,
    ) -> None:
        seat = self._seats.get(username)
        if seat is None:
            return
        state = seat.state
        before = state.to_json()
        state.status, state.paused, state.reason = status, paused, reason
        if queues is not None:
            state.queues = set(queues)
        self._state_changed(username, state, before, self._s.clock.now())

    def _state_changed(
        self, username: str, state: AgentState, before: dict[str, Any], at: datetime
    ) -> None:
        """One `agent_state` message per change: the console's own command sets the
        state, and the PBX confirms it with an event per queue (QueueMemberAdded,
        QueueMemberPause ...) that says the same again."""
        now = state.to_json()
        if {**now, "since": None} == {**before, "since": None}:
            return
        state.since = at
        if username not in self._commands:
            self._hub.send_to_user(username, {"type": "agent_state", **state.to_json()})

    @contextlib.contextmanager
    def command(self, username: str) -> Iterator[None]:
        """A state command of the agent's own (sign in to each queue, pause ...): the
        PBX's events while it runs describe its steps; the console hears the outcome,
        once, when it is done."""
        seat = self._seats.get(username)
        if seat is None or username in self._commands:
            yield
            return
        before = seat.state.to_json()
        self._commands.add(username)
        try:
            yield
        finally:
            self._commands.discard(username)
            state = seat.state
            if {**state.to_json(), "since": None} != {**before, "since": None}:
                self._hub.send_to_user(username, {"type": "agent_state", **state.to_json()})

    # --- the bus ----------------------------------------------------------------------

    def handle(self, event: DomainEvent) -> None:
        if isinstance(event, AgentRingStarted):
            self._ring_started(event)
        elif isinstance(event, AgentRingEnded):
            self._ring_ended(event)
        elif isinstance(event, CallAnswered):
            self._answered(event)
        elif isinstance(event, CallHeld):
            self._update_all(event.call_id, {"state": "held"})
        elif isinstance(event, CallResumed):
            self._update_all(event.call_id, {"state": "talking"})
        elif isinstance(event, CallTransferred):
            self._transferred(event)
        elif isinstance(event, CallAbandoned):
            self._finish(event.call_id, {"state": "abandoned"}, keep_for=None)
        elif isinstance(event, CallEnded):
            self._ended(event)
        elif isinstance(event, AgentStateChanged):
            self._agent_state(event)
        elif isinstance(
            event, CallbackScheduled | CallbackDue | CallbackClosed | CallbackRetryScheduled
        ):
            self._callbacks_changed(event)
        elif isinstance(event, CallbackReminderDue):
            self._callback_reminder(event)

    def pop_outbound(
        self,
        user: User,
        call_id: str,
        number: str,
        *,
        customer_id: int | None = None,
        campaign_id: int | None = None,
    ) -> None:
        """The card of a call the agent placed (click-to-dial, a callback, a preview
        contact): their phone is up and the customer is being rung, so there is no queue
        offer to pop on; the card opens when Asterisk confirms the agent's leg."""
        if user.username not in self._seats:
            return
        self._ring_started(
            AgentRingStarted(
                at=self._s.clock.now(),
                call_id=call_id,
                queue=None,
                agent=user.member_name,
                interface=user.interface or "",
                caller_number=number,
                caller_name="",
                customer_id=customer_id,
                campaign_id=campaign_id,
            ),
            username=user.username,
            state="talking",
        )

    def _ring_started(
        self, event: AgentRingStarted, *, username: str | None = None, state: str = "ringing"
    ) -> None:
        username = username or self.username_for(event.agent, event.interface)
        if username is None:
            log.debug("ring for %s/%s: no console user", event.agent, event.interface)
            return
        seat = self._seats[username]
        known = self._customers.get(event.caller_number)
        card: dict[str, Any] = {
            "call_id": event.call_id,
            "caller_number": event.caller_number,
            "caller_name": event.caller_name,
            "queue": event.queue,
            "campaign_id": event.campaign_id,
            "customer_id": event.customer_id or (known.id if known else None),
            "customer": customer_json(known) if known else None,
            "state": state,
            "direction": "outbound" if state != "ringing" else "inbound",
            "ring_started_at": iso(event.at),
            "answered_at": iso(event.at) if state == "talking" else None,
            "waiting": any(
                c["state"] in ("ringing", "talking", "held") for c in seat.cards.values()
            ),
        }
        seat.cards[event.call_id] = card
        seat.cards.move_to_end(event.call_id)
        while len(seat.cards) > MAX_CARDS:
            seat.cards.popitem(last=False)
        self._call_users.setdefault(event.call_id, set()).add(username)
        channels = self._channels.setdefault(event.call_id, {})
        if event.caller_channel:
            channels["caller"] = event.caller_channel
        if event.agent_channel:
            channels[username] = event.agent_channel
        self._hub.send_to_user(username, {"type": "screen_pop", **card})
        self.pops += 1
        self.spawn(
            self._send_customer_card(
                seat.user, event.call_id, event.caller_number, event.customer_id
            ),
            f"card:{event.call_id}",
        )

    async def _send_customer_card(
        self, user: User, call_id: str, phone: str, customer_id: int | None
    ) -> None:
        payload = await self.customer_card(
            user, phone=phone, customer_id=customer_id, call_id=call_id
        )
        card = self.card(user.username, call_id)
        campaign_id = (card or {}).get("campaign_id")
        if campaign_id is not None and self.campaign_card is not None:
            payload["campaign"] = await self.campaign_card(int(campaign_id), phone)
        if card is not None:
            card["customer"] = payload["customer"]
            card["customer_id"] = payload["customer"]["id"] if payload["customer"] else None
            card["details"] = payload
        self._hub.send_to_user(
            user.username, {"type": "screen_pop_customer", "call_id": call_id, **payload}
        )

    async def customer_card(
        self,
        user: User,
        *,
        phone: str | None = None,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> dict[str, Any]:
        """Customer, last calls, open cases, open callbacks; the read is audited."""
        db = self._s.db
        customer: Customer | None = None
        if customer_id is not None:
            customer = await db.customers.get(customer_id)
        elif phone:
            customer = await db.customers.find_by_phone(phone)
        if phone:
            self.remember_customer(phone, customer)
        calls: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        callbacks: list[dict[str, Any]] = []
        if customer is not None:
            recent = await db.calls.list(CallFilter(customer_id=customer.id, limit=6))
            calls = [
                {
                    "call_id": r.call_id,
                    "started_at": iso(r.started_at),
                    "agent": r.agent,
                    "outcome": r.outcome.value,
                    "disposition": r.disposition,
                    # wrap-up notes are the handling agent's own; leads and managers
                    # read every note, an agent only the notes of their own calls
                    "notes": r.wrapup_notes
                    if user.role is not Role.AGENT or r.agent == user.member_name
                    else None,
                }
                for r in recent
                if r.call_id != call_id
            ][:5]
            cases = [
                case_json(c) for c in await db.cases.list(customer_id=customer.id, open_only=True)
            ]
            await db.audit.record(
                AuditEntry(
                    id=None,
                    at=self._s.clock.now(),
                    actor_user_id=user.id,
                    actor=user.username,
                    action="customer.read",
                    subject=f"customer:{customer.id}",
                    detail=f"screen pop for call {call_id}" if call_id else "customer card",
                )
            )
        phones = {p.e164 for p in customer.phones} if customer else set()
        if phone:
            phones.add(self.normalize(phone))
        for e164 in phones:
            cb = await db.callbacks.open_for_phone(e164)
            if cb is not None and cb.status in (CallbackStatus.OPEN, CallbackStatus.OVERDUE):
                callbacks.append(callback_json(cb))
        return {
            "customer": customer_json(customer) if customer else None,
            "known": customer is not None,
            "recent_calls": calls,
            "open_cases": cases,
            "open_callbacks": callbacks,
        }

    def normalize(self, phone: str) -> str:
        if self._s.normalize_phone is None:
            return phone
        try:
            return self._s.normalize_phone(phone)
        except ValueError:
            return phone

    def _ring_ended(self, event: AgentRingEnded) -> None:
        if event.result is OfferResult.ANSWERED:
            return
        username = self.username_for(event.agent, event.interface)
        if username is None:
            return
        state = "missed" if event.result is OfferResult.NO_ANSWER else event.result.value
        self._drop(username, event.call_id, {"state": state, "ring_seconds": event.ring_seconds})

    def _answered(self, event: CallAnswered) -> None:
        who = self.username_for(event.agent, event.interface)
        users = self._call_users.get(event.call_id, set())
        if event.caller_channel:
            self._channels.setdefault(event.call_id, {})["caller"] = event.caller_channel
        if who and event.agent_channel:
            self._channels.setdefault(event.call_id, {})[who] = event.agent_channel
        for username in tuple(users):
            if username == who:
                self._update(
                    username, event.call_id, {"state": "talking", "answered_at": iso(event.at)}
                )
            elif (self.card(username, event.call_id) or {}).get("state") != "transferred":
                # (the agent who transferred the call keeps its card for the wrap-up)
                self._drop(username, event.call_id, {"state": "answered_elsewhere"})

    def _transferred(self, event: CallTransferred) -> None:
        who = self.username_for(event.from_agent, None)
        for username in tuple(self._call_users.get(event.call_id, set())):
            if who is None or username == who:
                self._update(
                    username,
                    event.call_id,
                    {"state": "transferred", "transferred_to": event.target},
                )

    def _ended(self, event: CallEnded) -> None:
        record = event.record
        self._finish(
            record.call_id,
            {
                "state": "ended",
                "ended_at": iso(record.ended_at),
                "outcome": record.outcome.value,
                "talk_seconds": round(record.talk_seconds, 1),
                "hold_seconds": round(record.hold_seconds, 1),
            },
            keep_for=self.username_for(record.agent, record.agent_interface),
        )

    def _finish(self, call_id: str, change: dict[str, Any], *, keep_for: str | None) -> None:
        for username in tuple(self._call_users.get(call_id, set())):
            card = self.card(username, call_id)
            if username == keep_for or (
                card is not None and card["state"] in ("talking", "held", "transferred")
            ):
                self._update(username, call_id, change)  # stays for wrap-up
            else:
                self._drop(username, call_id, change)
        self._call_users.pop(call_id, None)
        self._channels.pop(call_id, None)

    def _update_all(self, call_id: str, change: dict[str, Any]) -> None:
        for username in tuple(self._call_users.get(call_id, set())):
            self._update(username, call_id, change)

    def _update(self, username: str, call_id: str, change: dict[str, Any]) -> None:
        card = self.card(username, call_id)
        if card is not None:
            card.update(change)
            card["waiting"] = False
        self._hub.send_to_user(username, {"type": "call_update", "call_id": call_id, **change})

    def _drop(self, username: str, call_id: str, change: dict[str, Any]) -> None:
        seat = self._seats.get(username)
        if seat is not None:
            seat.cards.pop(call_id, None)
        users = self._call_users.get(call_id)
        if users is not None:
            users.discard(username)
        self._hub.send_to_user(
            username, {"type": "call_update", "call_id": call_id, "removed": True, **change}
        )

    def dismiss(self, username: str, call_id: str) -> bool:
        seat = self._seats.get(username)
        if seat is None or call_id not in seat.cards:
            return False
        if seat.cards[call_id]["state"] in ("ringing", "talking", "held"):
            return False
        seat.cards.pop(call_id)
        self._hub.send_to_user(
            username,
            {"type": "call_update", "call_id": call_id, "removed": True, "state": "closed"},
        )
        return True

    def _agent_state(self, event: AgentStateChanged) -> None:
        username = self.username_for(event.agent, event.interface)
        if username is None:
            return
        state = self._seats[username].state
        before = state.to_json()
        out = event.status is AgentStatus.LOGGED_OUT
        if out:
            if event.queue is None:
                state.queues.clear()
            else:
                state.queues.discard(event.queue)
            if state.queues:  # still a member elsewhere: keep the current status
                self._state_changed(username, state, before, event.at)
                return
        elif event.queue:
            state.queues.add(event.queue)
        state.status = event.status
        # a member removed while paused is reported Paused: 1; out is out
        state.paused = event.paused and not out
        state.reason = event.pause_reason if state.paused else ""
        self._state_changed(username, state, before, event.at)

    def _callback_reminder(self, event: CallbackReminderDue) -> None:
        """Time to call back (the warning before due, or the retry after a failed attempt):
        the owner's console says so; a pool callback reminds the agents and leads."""
        msg = {
            "type": "callback_reminder",
            "callback_id": event.callback_id,
            "due_at": event.due_at.isoformat(),
            "retry": event.retry,
            "queue": event.queue,
        }
        if event.owner:
            self._hub.send_to_user(event.owner, msg)
        else:
            self._hub.send_to_role(msg, Role.AGENT, Role.LEAD)

    def _callbacks_changed(
        self, event: CallbackScheduled | CallbackDue | CallbackClosed | CallbackRetryScheduled
    ) -> None:
        msg = {"type": "callbacks_changed", "callback_id": event.callback_id}
        owner = getattr(event, "owner", None)
        if owner:
            self._hub.send_to_user(owner, msg)
        else:
            self._hub.send_to_role(msg, Role.AGENT, Role.LEAD)
