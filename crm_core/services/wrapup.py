"""The wrap-up of a call: disposition and notes on the record, then a promised callback
or an escalation case, and a `WrapUpSaved` event for whoever books more on it (a
campaign's contact). docs/adr/0083.

Rules kept from the console's handler (now its only implementation):

- the record may land a moment after the hang-up: a wrap-up that finds no record is
  answered at once (`saved=False`) and written by a retry every 0.5 s for two minutes;
- one promised callback per call: a second save of the same wrap-up (a double click
  without an Idempotency-Key, a retry) finds the first one's callback instead of
  promising another; saves of one call are serialised on this instance to make that so;
- callbacks go through the rules (`CallbackPromiser`): the window, one open callback per
  number, the `promise-too-late` refusal;
- the first contact owns the escalation case; it is escalated at once to the team lead or
  to a department.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from crm_core.domain.events import WrapUpSaved
from crm_core.domain.models import (
    Callback,
    CallbackReason,
    Case,
    CaseKind,
    CaseStatus,
    Direction,
    User,
)
from crm_core.ports.bus import EventBus
from crm_core.ports.callbacks import CallbackPromiser
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import (
    CallbackRepository,
    CallRepository,
    CaseRepository,
    NotFound,
)

log = logging.getLogger(__name__)

RETRY_INTERVAL = 0.5  # seconds between tries to write a wrap-up whose record is not there
RETRY_TRIES = 240  # two minutes
NOTES_MAX = 10_000
QUESTION_MAX = 2000
SUBJECT_MAX = 200


class WrapUpResult(enum.StrEnum):
    RESOLVED = "resolved"
    CALLBACK = "callback"
    ESCALATE = "escalate"


class WrapUpError(ValueError):
    """A wrap-up the rules refuse; `error_id` is the API's (no-phone, bad-department)."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class WrapUpRepositories(Protocol):
    """The repositories a wrap-up writes."""

    @property
    def calls(self) -> CallRepository: ...
    @property
    def callbacks(self) -> CallbackRepository: ...
    @property
    def cases(self) -> CaseRepository: ...


class TaskSpawner(Protocol):
    """Runs a coroutine in the background, owned by someone who stops it at shutdown."""

    def spawn(self, coro: Coroutine[object, None, None], name: str, /) -> None: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the console knows of the call from the agent's card (None: the card is gone
    and the record tells)."""

    phone: str = ""
    queue: str | None = None
    customer_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUp:
    """A wrap-up as the agent saved it, already validated at the edge."""

    call_id: str
    agent: User
    result: WrapUpResult = WrapUpResult.RESOLVED
    disposition: str | None = None
    disposition_reason: str = ""
    notes: str = ""
    customer_id: int | None = None
    phone: str = ""  # the callback's number; default the card's caller
    callback_at: datetime | None = None  # default now + the callback window
    question: str = ""  # the callback's question; default the notes
    escalate_to_department: bool = False  # else the team lead
    department: str | None = None
    subject: str = ""
    complaint: bool = False
    reply_by: datetime | None = None
    satisfaction: int | None = None


@dataclass(frozen=True, slots=True)
class WrapUpOutcome:
    saved: bool  # False: the record is not there yet; a retry writes it
    callback: Callback | None = None
    case: Case | None = None


class CallLocks:
    """Serialises the wrap-ups of one call on this instance (a double click)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, call_id: str) -> asyncio.Lock:
        lock = self._locks.get(call_id)
        if lock is None:
            if len(self._locks) > 1000:  # forget the idle ones
                for key in [k for k, v in self._locks.items() if not v.locked()]:
                    del self._locks[key]
            lock = self._locks[call_id] = asyncio.Lock()
        return lock


class WrapUpService:
    def __init__(
        self,
        *,
        repos: WrapUpRepositories,
        promiser: CallbackPromiser,
        bus: EventBus,
        clock: Clock,
        tasks: TaskSpawner,
        callback_window_minutes: float,
        departments: tuple[str, ...],
    ) -> None:
        self._repos = repos
        self._promiser = promiser
        self._bus = bus
        self._clock = clock
        self._tasks = tasks
        self._window = timedelta(minutes=callback_window_minutes)
        self._departments = departments
        self.locks = CallLocks()

    async def save(self, wrapup: WrapUp, context: CallContext | None) -> WrapUpOutcome:
        """Write the wrap-up, keep its promise or escalate it, and publish `WrapUpSaved`.
        Refusals (`WrapUpError`, the rules' `CallbackError`) come before any write but
        the record's."""
        call_id = wrapup.call_id
        customer_id = wrapup.customer_id
        if customer_id is None and context is not None:
            customer_id = context.customer_id
        notes = wrapup.notes[:NOTES_MAX]
        if (
            wrapup.result is WrapUpResult.ESCALATE
            and wrapup.escalate_to_department
            and wrapup.department not in self._departments
        ):
            raise WrapUpError(
                "bad-department", f"department must be one of {list(self._departments)}"
            )
        now = self._clock.now()
        saved = await self._write(call_id, wrapup.disposition, notes, customer_id)
        if not saved:
            # the call record lands a moment after the hang-up: finish the write then
            self._tasks.spawn(
                self._retry(call_id, wrapup.disposition, notes, customer_id), f"wrapup:{call_id}"
            )
        if context is None:
            context = await self._context_of_record(call_id)
        callback: Callback | None = None
        case: Case | None = None
        if wrapup.result is WrapUpResult.CALLBACK:
            phone = wrapup.phone or context.phone
            if not phone:
                raise WrapUpError("no-phone", "a callback needs the customer's phone number")
            async with self.locks.lock(call_id):
                callback = await self._promise_once(
                    wrapup,
                    phone=phone,
                    due=wrapup.callback_at or now + self._window,
                    customer_id=customer_id,
                    question=(wrapup.question or notes)[:QUESTION_MAX],
                    queue=context.queue,
                )
        elif wrapup.result is WrapUpResult.ESCALATE:
            case = await self._escalate(wrapup, notes, customer_id, now)
        agent = wrapup.agent
        await self._bus.publish(
            WrapUpSaved(
                at=now,
                wrapup_id=uuid.uuid4().hex,
                call_id=call_id,
                agent_user_id=agent.id,
                agent=agent.member_name or agent.username,
                result=wrapup.result.value,
                disposition=wrapup.disposition,
                disposition_reason=wrapup.disposition_reason,
                notes=wrapup.notes,
                satisfaction=wrapup.satisfaction,
                customer_id=customer_id if customer_id is not None else context.customer_id,
                campaign_id=context.campaign_id,
                phone=context.phone,
                callback_id=callback.id if callback is not None else None,
                case_id=case.id if case is not None else None,
            )
        )
        return WrapUpOutcome(saved=saved, callback=callback, case=case)

    async def _promise_once(
        self,
        wrapup: WrapUp,
        *,
        phone: str,
        due: datetime,
        customer_id: int | None,
        question: str,
        queue: str | None,
    ) -> Callback:
        """The callback this call's wrap-up promises: the one promised already, else a new
        one (through the rules)."""
        for earlier in await self._repos.callbacks.list(call_id=wrapup.call_id):
            if earlier.reason is CallbackReason.PROMISED:
                return earlier
        return await self._promiser.promise(
            phone=phone,
            due_at=due,
            customer_id=customer_id,
            owner_user_id=wrapup.agent.id,
            call_id=wrapup.call_id,
            question=question,
            queue=queue,
        )

    async def _escalate(
        self, wrapup: WrapUp, notes: str, customer_id: int | None, now: datetime
    ) -> Case:
        agent = wrapup.agent
        department = wrapup.department if wrapup.escalate_to_department else None
        case = await self._repos.cases.create(
            kind=CaseKind.COMPLAINT if wrapup.complaint else CaseKind.ESCALATION,
            subject=(wrapup.subject or notes[:80] or wrapup.call_id)[:SUBJECT_MAX],
            created_at=now,
            customer_id=customer_id,
            owner_user_id=agent.id,  # first contact owns it
            department=department or "team_lead",
            call_id=wrapup.call_id,
            description=notes,
            promised_reply_at=wrapup.reply_by,
        )
        return await self._repos.cases.set_status(
            case.id,
            CaseStatus.ESCALATED,
            at=now,
            by_user_id=agent.id,
            note=f"escalated to {wrapup.department or 'team lead'}",
        )

    async def _context_of_record(self, call_id: str) -> CallContext:
        """What the card would have said, from the stored record (the card is gone)."""
        try:
            record = await self._repos.calls.get(call_id)
        except NotFound:
            return CallContext()
        number = record.dialed_number if record.direction is Direction.OUTBOUND else None
        return CallContext(
            phone=number or record.caller_number or "",
            queue=record.queue,
            customer_id=record.customer_id,
            campaign_id=record.campaign_id,
        )

    async def _write(
        self, call_id: str, disposition: str | None, notes: str, customer_id: int | None
    ) -> bool:
        try:
            await self._repos.calls.save_wrapup(
                call_id, disposition=disposition, notes=notes, customer_id=customer_id
            )
        except NotFound:
            return False
        return True

    async def _retry(
        self, call_id: str, disposition: str | None, notes: str, customer_id: int | None
    ) -> None:
        for _ in range(RETRY_TRIES):
            await self._clock.sleep(RETRY_INTERVAL)
            if await self._write(call_id, disposition, notes, customer_id):
                return
        raise RuntimeError(f"wrap-up for call {call_id} found no call record after 2 minutes")
