"""Callbacks within 30 minutes (working rules 3 and 4).

A callback is owed when an agent promises one, when a caller abandons after more
than the threshold without being answered, and when a caller asks for one in the
IVR. Due = event time + window, or the earlier time the agent promised; a promise
later than the window is refused (`promise-too-late`): the rule is the rule, and
the agent must escalate instead (docs/adr/0014-callback-rules.md). One open
callback per number: a new abandon merges into it; an answered call with that
number before the due time satisfies it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from crm_core.domain.events import (
    CallbackClosed,
    CallbackRetryScheduled,
    CallbackScheduled,
    CallEnded,
    DomainEvent,
)
from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    Direction,
)
from crm_core.phones import InvalidPhoneNumber, normalize, try_normalize
from crm_core.ports.bus import EventBus
from crm_core.ports.clock import Clock
from crm_core.ports.telephony import OriginateRequest, TelephonyCommands
from crm_core.services.worker import EventWorker

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)
_OPEN = (CallbackStatus.OPEN, CallbackStatus.OVERDUE)


async def schedule_retry(db: Any, bus: EventBus, cb: Callback, now: datetime) -> Callback:
    """After a failed attempt: try again in RETRY_AFTER, inside the window (at once when it
    is already overdue); the deadline scheduler reminds the owner then."""
    retry = min(now + RETRY_AFTER, max(cb.due_at, now))
    updated: Callback = await db.callbacks.update(cb.id, next_attempt_at=retry)
    owner = None
    if cb.owner_user_id is not None:
        owner = (await db.users.get(cb.owner_user_id)).username
    await bus.publish(
        CallbackRetryScheduled(
            at=now,
            callback_id=cb.id,
            retry_at=retry,
            due_at=cb.due_at,
            owner=owner,
            queue=cb.queue,
        )
    )
    return updated


class RuleSettings(Protocol):
    """The settings the rules read (callcenter.settings.Settings satisfies it)."""

    @property
    def ring_limit_seconds(self) -> float: ...
    @property
    def callback_window_minutes(self) -> float: ...
    @property
    def callback_warning_minutes(self) -> float: ...
    @property
    def abandon_threshold_seconds(self) -> float: ...
    @property
    def phone_region(self) -> str: ...


class CallbackError(ValueError):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class CallbackService(EventWorker):
    worker_name = "callbacks"

    def __init__(
        self,
        *,
        db: Any,
        bus: EventBus,
        clock: Clock,
        settings: RuleSettings,
        commands: TelephonyCommands | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.commands = commands
        self.window = timedelta(minutes=settings.callback_window_minutes)
        super().__init__()

    # --- bus ------------------------------------------------------------------------------------
    def handle(self, event: DomainEvent) -> None:
        """Bus subscriber: queue the event; the worker does the database work."""
        if isinstance(event, CallEnded):
            self.enqueue(event)

    async def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            await self.on_call_ended(event)

    async def on_call_ended(self, event: CallEnded) -> Callback | None:
        record = event.record
        number = (
            record.dialed_number
            if record.direction == Direction.OUTBOUND
            else (record.caller_number)
        )
        phone = try_normalize(number, self.settings.phone_region)
        if phone is None:
            return None
        at = record.ended_at or event.at
        if record.campaign_id is not None and record.outcome == CallOutcome.ABANDONED:
            # the dialer reached the customer but had no agent for them: we owe the call
            return await self.request_callback(
                phone=phone,
                reason=CallbackReason.DIALER_ABANDON,
                at=at,
                customer_id=record.customer_id,
                queue=record.queue,
                call_id=record.call_id,
                owner_user_id=None,
                question=f"campaign {record.campaign_id}: answered, no agent free",
            )
        if record.outcome == CallOutcome.ANSWERED:
            return await self._satisfy(phone, at, record.call_id)
        if (
            record.direction == Direction.INBOUND
            and record.outcome == CallOutcome.ABANDONED
            and record.wait_seconds > self.settings.abandon_threshold_seconds
        ):
            owner = await self._first_contact(phone, record.customer_id)
            return await self.request_callback(
                phone=phone,
                reason=CallbackReason.ABANDONED,
                at=at,
                customer_id=record.customer_id,
                queue=record.queue,
                call_id=record.call_id,
                owner_user_id=owner,
                question=f"abandoned after {record.wait_seconds:.0f} s in {record.queue}",
            )
        return None

    async def _first_contact(self, phone: str, customer_id: int | None) -> int | None:
        """First contact owns it: the owner of an open case of this customer, if any."""
        if customer_id is None:
            return None
        cases = await self.db.cases.list(customer_id=customer_id, open_only=True, limit=1)
        return cases[0].owner_user_id if cases else None

    async def _satisfy(self, phone: str, at: datetime, call_id: str) -> Callback | None:
        open_cb: Callback | None = await self.db.callbacks.open_for_phone(phone)
        if open_cb is None or at < open_cb.created_at:
            return None
        in_time = at <= open_cb.due_at
        closed = await self.db.callbacks.update(
            open_cb.id,
            status=CallbackStatus.SATISFIED if in_time else CallbackStatus.DONE,
            outcome=f"customer reached on call {call_id}",
            closed_at=at,
        )
        await self.bus.publish(
            CallbackClosed(
                at=at,
                callback_id=closed.id,
                status=closed.status.value,
                outcome=closed.outcome,
                in_time=in_time,
            )
        )
        return closed  # type: ignore[no-any-return]

    # --- API -----------
    async def request_callback(
        self,
        *,
        phone: str,
        reason: CallbackReason,
        at: datetime | None = None,
        customer_id: int | None = None,
        queue: str | None = None,
        call_id: str | None = None,
        owner_user_id: int | None = None,
        due_at: datetime | None = None,
        question: str = "",
    ) -> Callback:
        try:
            e164 = normalize(phone, self.settings.phone_region)
        except InvalidPhoneNumber as exc:
            raise CallbackError("invalid-phone", str(exc)) from exc
        now = at or self.clock.now()
        latest = now + self.window
        if due_at is not None and due_at > latest + timedelta(seconds=1):
            raise CallbackError(
                "promise-too-late",
                f"a callback must be made within {self.settings.callback_window_minutes:g} "
                f"minutes (by {latest:%H:%M} UTC); escalate instead of promising later",
            )
        due = min(due_at, latest) if due_at is not None else latest
        existing: Callback | None = await self.db.callbacks.open_for_phone(e164)
        if existing is not None:
            merged = await self.db.callbacks.update(
                existing.id,
                merged_count=existing.merged_count + 1,
                due_at=min(existing.due_at, due),
                owner_user_id=existing.owner_user_id or owner_user_id,
                customer_id=existing.customer_id or customer_id,
            )
            await self._announce(merged, merged=True)
            return merged  # type: ignore[no-any-return]
        created = await self.db.callbacks.create(
            phone_e164=e164,
            reason=reason,
            due_at=due,
            created_at=now,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            queue=queue,
            call_id=call_id,
            question=question,
        )
        await self._announce(created, merged=False)
        return created  # type: ignore[no-any-return]

    async def _announce(self, cb: Callback, *, merged: bool) -> None:
        owner = None
        if cb.owner_user_id is not None:
            owner = (await self.db.users.get(cb.owner_user_id)).username
        await self.bus.publish(
            CallbackScheduled(
                at=self.clock.now(),
                callback_id=cb.id,
                phone=cb.phone_e164,
                reason=cb.reason,
                due_at=cb.due_at,
                owner=owner,
                queue=cb.queue,
                customer_id=cb.customer_id,
                merged=merged,
            )
        )

    async def record_attempt(
        self,
        callback_id: int,
        result: AttemptResult,
        *,
        by_user_id: int | None,
        call_id: str | None = None,
        note: str = "",
    ) -> Callback:
        cb: Callback = await self.db.callbacks.get(callback_id)
        if cb.status not in _OPEN:
            raise CallbackError("callback-closed", f"callback {callback_id} is already closed")
        now = self.clock.now()
        cb = await self.db.callbacks.add_attempt(
            callback_id, at=now, result=result, by_user_id=by_user_id, call_id=call_id, note=note
        )
        if result == AttemptResult.REACHED:
            return cb
        return await schedule_retry(self.db, self.bus, cb, now)

    async def complete(self, callback_id: int, outcome: str, *, by_user_id: int | None) -> Callback:
        if not outcome.strip():
            raise CallbackError("outcome-required", "say what came of the callback")
        cb: Callback = await self.db.callbacks.get(callback_id)
        if cb.status not in _OPEN:
            raise CallbackError("callback-closed", f"callback {callback_id} is already closed")
        now = self.clock.now()
        done: Callback = await self.db.callbacks.update(
            callback_id, status=CallbackStatus.DONE, outcome=outcome.strip(), closed_at=now
        )
        await self.bus.publish(
            CallbackClosed(
                at=now,
                callback_id=callback_id,
                status="done",
                outcome=done.outcome,
                in_time=now <= cb.due_at,
            )
        )
        return done

    async def start_callback(
        self,
        callback_id: int,
        *,
        agent_interface: str,
        caller_id: str = "",
        context: str = "callback",
    ) -> str:
        """One click: ring the agent's phone first, then dial the customer."""
        if self.commands is None:
            raise CallbackError("ami-unavailable", "no PBX connection")
        cb: Callback = await self.db.callbacks.get(callback_id)
        result = await self.commands.originate(
            OriginateRequest(
                channel=agent_interface,
                context=context,
                exten=cb.phone_e164.lstrip("+"),
                caller_id=caller_id or None,
                variables={"CC_CALLBACK_ID": str(cb.id)},
                request_id=f"callback-{cb.id}-{len(cb.attempts) + 1}",
            )
        )
        return result.call_id or ""
