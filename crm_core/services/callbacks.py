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
import re
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

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
    CallRecord,
    Direction,
)
from crm_core.domain.rules import callback_due, callback_in_time, callback_owed
from crm_core.phones import InvalidPhoneNumber, normalize, try_normalize
from crm_core.ports.bus import EventBus
from crm_core.ports.clock import Clock
from crm_core.ports.effects import UnitOfWork
from crm_core.ports.stores import CallbackDb, RetryDb
from crm_core.ports.telephony import OriginateRequest, TelephonyCommands
from crm_core.services.worker import EventWorker

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=5)
CALLBACK_EFFECT = "callback"  # the key of what a finished call did to callbacks
_OPEN = (CallbackStatus.OPEN, CallbackStatus.OVERDUE)


# The question of a callback the rules owe is stored as English text (the column the
# agent's own question uses); its message code and parameters are read back from it, so
# the console shows it in the agent's language (agent_console i18n/problems.*.json).
_ABANDONED = re.compile(r"abandoned after (\d+) s in (.*)")
_NO_AGENT = re.compile(r"campaign (\d+|None): answered, no agent free")


def abandoned_question(wait_seconds: float, queue: str | None) -> str:
    return f"abandoned after {wait_seconds:.0f} s in {queue}"


def campaign_no_agent_question(campaign_id: int | None) -> str:
    return f"campaign {campaign_id}: answered, no agent free"


def question_problem(question: str) -> tuple[str, dict[str, str | int]] | None:
    """The message code and parameters of a question the rules wrote (None: a person's)."""
    found = _ABANDONED.fullmatch(question)
    if found is not None:
        return "callback.abandoned_after", {"seconds": int(found[1]), "queue": found[2]}
    found = _NO_AGENT.fullmatch(question)
    if found is not None:
        return "callback.campaign_no_agent", {"campaign_id": found[1]}
    return None


async def schedule_retry(db: RetryDb, bus: EventBus, cb: Callback, now: datetime) -> Callback:
    """After a failed attempt: try again in RETRY_AFTER, inside the window (at once when it
    is already overdue); the deadline scheduler reminds the owner then."""
    retry = min(now + RETRY_AFTER, max(cb.due_at, now))
    updated = await db.callbacks.update(cb.id, next_attempt_at=retry)
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


class _Owed(TypedDict):
    """What a finished call owes: the callback's reason, owner and question."""

    reason: CallbackReason
    owner_user_id: int | None
    question: str


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
        db: CallbackDb,
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
        return await self.apply_call(event.record, event.at)

    async def apply_call(self, record: CallRecord, at: datetime | None = None) -> Callback | None:
        """What a finished call does to callbacks, once across instances: owe one (an
        abandon, a dialer abandon), satisfy the open one (answered), or nothing. The
        key (call, "callback") is claimed in the transaction that writes the callback;
        an instance that finds it claimed does nothing (docs/adr/0060)."""
        return (await self.claim_call(record, at))[1]

    async def claim_call(
        self, record: CallRecord, at: datetime | None = None
    ) -> tuple[bool, Callback | None]:
        """`apply_call`, and whether this instance was the one that applied it."""
        number = (
            record.dialed_number
            if record.direction == Direction.OUTBOUND
            else (record.caller_number)
        )
        phone = try_normalize(number, self.settings.phone_region)
        at = record.ended_at or at or self.clock.now()
        owed: _Owed | None = None
        answered = record.outcome == CallOutcome.ANSWERED
        if phone is None:
            answered = False
        else:
            # the one decider of rules 3 and 4, as the tracker flags the record
            reason = callback_owed(record, self.settings.abandon_threshold_seconds)
            if reason == CallbackReason.DIALER_ABANDON:
                # the dialer reached the customer but had no agent for them: we owe the call
                owed = {
                    "reason": reason,
                    "owner_user_id": None,
                    "question": campaign_no_agent_question(record.campaign_id),
                }
            elif reason is not None:
                owed = {
                    "reason": reason,
                    "owner_user_id": await self._first_contact(phone, record.customer_id),
                    "question": abandoned_question(record.wait_seconds, record.queue),
                }
        async with self.db.effects.transaction(self.clock.now()) as tx:
            if not await tx.claim(record.call_id, CALLBACK_EFFECT):
                return False, None  # another instance (or an earlier try) applied it
            if phone is None:
                return True, None
            if owed is not None:
                cb, merged = await self._request_in(
                    tx,
                    phone=phone,
                    now=at,
                    due=callback_due(at, self.window),
                    customer_id=record.customer_id,
                    queue=record.queue,
                    call_id=record.call_id,
                    **owed,
                )
            elif answered:
                closed = await self._satisfy_in(tx, phone, at, record.call_id)
            else:
                return True, None
        if owed is not None:
            await self._announce(cb, merged=merged)
            return True, cb
        if closed is None:
            return True, None
        await self.bus.publish(
            CallbackClosed(
                at=at,
                callback_id=closed.id,
                status=closed.status.value,
                outcome=closed.outcome,
                in_time=closed.status == CallbackStatus.SATISFIED,
            )
        )
        return True, closed

    async def _first_contact(self, phone: str, customer_id: int | None) -> int | None:
        """First contact owns it: the owner of an open case of this customer, if any."""
        if customer_id is None:
            return None
        cases = await self.db.cases.list(customer_id=customer_id, open_only=True, limit=1)
        return cases[0].owner_user_id if cases else None

    async def _satisfy_in(
        self, tx: UnitOfWork, phone: str, at: datetime, call_id: str
    ) -> Callback | None:
        await tx.lock(f"callback:{phone}")
        open_cb = await tx.callbacks.open_for_phone(phone)
        if open_cb is None or at < open_cb.created_at:
            return None
        in_time = callback_in_time(at, open_cb.due_at)
        closed = await tx.callbacks.update(
            open_cb.id,
            status=CallbackStatus.SATISFIED if in_time else CallbackStatus.DONE,
            outcome=f"customer reached on call {call_id}",
            closed_at=at,
        )
        return closed

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
        async with self.db.effects.transaction(self.clock.now()) as tx:
            cb, merged = await self._request_in(
                tx,
                phone=e164,
                reason=reason,
                now=now,
                due=due,
                customer_id=customer_id,
                queue=queue,
                call_id=call_id,
                owner_user_id=owner_user_id,
                question=question,
            )
        await self._announce(cb, merged=merged)
        return cb

    async def _request_in(
        self,
        tx: UnitOfWork,
        *,
        phone: str,
        reason: CallbackReason,
        now: datetime,
        due: datetime,
        customer_id: int | None,
        queue: str | None,
        call_id: str | None,
        owner_user_id: int | None,
        question: str,
    ) -> tuple[Callback, bool]:
        """One open callback per number: merge into it, or open one (in `tx`). The
        number is locked first, so two calls of one number handled at once by two
        instances cannot both open one."""
        await tx.lock(f"callback:{phone}")
        existing = await tx.callbacks.open_for_phone(phone)
        if existing is not None:
            merged = await tx.callbacks.update(
                existing.id,
                merged_count=existing.merged_count + 1,
                due_at=min(existing.due_at, due),
                owner_user_id=existing.owner_user_id or owner_user_id,
                customer_id=existing.customer_id or customer_id,
            )
            return merged, True
        created = await tx.callbacks.create(
            phone_e164=phone,
            reason=reason,
            due_at=due,
            created_at=now,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            queue=queue,
            call_id=call_id,
            question=question,
        )
        return created, False

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
        cb = await self.db.callbacks.get(callback_id)
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
        cb = await self.db.callbacks.get(callback_id)
        if cb.status not in _OPEN:
            raise CallbackError("callback-closed", f"callback {callback_id} is already closed")
        now = self.clock.now()
        done = await self.db.callbacks.update(
            callback_id, status=CallbackStatus.DONE, outcome=outcome.strip(), closed_at=now
        )
        await self.bus.publish(
            CallbackClosed(
                at=now,
                callback_id=callback_id,
                status="done",
                outcome=done.outcome,
                in_time=callback_in_time(now, cb.due_at),
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
        cb = await self.db.callbacks.get(callback_id)
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
