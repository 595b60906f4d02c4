"""Seats: who sits at which phone, what each agent is doing, and the screen pop.

Bus handler, run synchronously inside `publish`: the pop for an
`AgentRingStarted` is numbered and queued to the agent's sockets before the
handler returns, with the caller's number and name and, when we have it in
memory, the customer's name. The full customer card (history, cases,
callbacks) needs the database, so it follows as `screen_pop_customer` from an
owned background task (ADR 0019; `cards.py`, `tasks.py`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from agent_console.live.agent_states import AgentState, AgentStates
from agent_console.live.cards import CustomerCards
from agent_console.live.hub import Hub
from agent_console.live.notices import CallbackNotices
from agent_console.live.tasks import BackgroundTasks
from agent_console.web.deps import ConsoleDeps
from agent_console.web.serializers import customer_json, iso
from crm_core.domain.channels import device_of, interface_device
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
from crm_core.domain.models import OfferResult, User
from crm_core.ports.bus import Subscription

log = logging.getLogger(__name__)

MAX_CARDS = 5  # current call, a waiting one, and a few in wrap-up


@dataclass(slots=True)
class Seat:
    user: User
    state: AgentState = field(default_factory=AgentState)
    cards: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)


class SeatBoard(AgentStates):
    """The projection: events in, seats and call cards out (to the hub). The customer
    cards come from `cards`, the database work runs as `tasks`."""

    def __init__(self, deps: ConsoleDeps, hub: Hub) -> None:
        self._s = deps
        self._clock = deps.clock
        self._hub = hub
        self._seats: dict[str, Seat] = {}
        self._by_member: dict[str, str] = {}
        self._by_interface: dict[str, str] = {}
        self._call_users: dict[str, set[str]] = {}
        self.cards = CustomerCards(deps)
        self.tasks = BackgroundTasks()
        self._notices = CallbackNotices(hub)
        self._commands: set[str] = set()  # users whose own state command is running
        self._sub: Subscription | None = None
        self.pops = 0

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload_users()
        self._sub = self._s.bus.subscribe(self.handle)

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        await self.tasks.stop()

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
            self._by_interface[interface_device(user.interface)] = user.username
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
            return self._by_interface.get(interface) or self._by_interface.get(device_of(interface))
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
            self._notices.changed(event)
        elif isinstance(event, CallbackReminderDue):
            self._notices.reminder(event)

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
        known = self.cards.known(event.caller_number)
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
        self._hub.send_to_user(username, {"type": "screen_pop", **card})
        self.pops += 1
        self.tasks.spawn(
            self._send_customer_card(
                seat.user, event.call_id, event.caller_number, event.customer_id
            ),
            f"card:{event.call_id}",
        )

    async def _send_customer_card(
        self, user: User, call_id: str, phone: str, customer_id: int | None
    ) -> None:
        payload = await self.cards.customer_card(
            user, phone=phone, customer_id=customer_id, call_id=call_id
        )
        card = self.card(user.username, call_id)
        campaign_id = (card or {}).get("campaign_id")
        if campaign_id is not None:
            await self.cards.add_campaign(payload, int(campaign_id), phone)
        if card is not None:
            card["customer"] = payload["customer"]
            card["customer_id"] = payload["customer"]["id"] if payload["customer"] else None
            card["details"] = payload
        self._hub.send_to_user(
            user.username, {"type": "screen_pop_customer", "call_id": call_id, **payload}
        )

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
