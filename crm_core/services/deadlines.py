"""Durable timers for callbacks: the reminder before due and the escalation at due.

Deadlines live in the database (`callbacks.due_at`, `reminded_at`, `escalated_at`);
this scheduler only keeps a heap of them in memory, loaded at start-up. When one
comes due it is claimed with a conditional UPDATE (`... WHERE escalated_at IS NULL`):
across restarts and across instances exactly one claimer wins and publishes, so a
deadline is never lost and never fired twice (docs/adr/0015-durable-deadlines.md).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from datetime import datetime, timedelta

from crm_core.aio import cancel_and_wait
from crm_core.domain.events import (
    AlertRaised,
    CallbackDue,
    CallbackReminderDue,
    CallbackRetryScheduled,
    CallbackScheduled,
    DomainEvent,
    RuleViolated,
)
from crm_core.domain.models import Callback, CallbackStatus, Violation, ViolationKind
from crm_core.ports.bus import EventBus, Subscription
from crm_core.ports.clock import Clock
from crm_core.ports.stores import DeadlineDb
from crm_core.services.callbacks import CallbackService

log = logging.getLogger(__name__)

REMIND, ESCALATE, RETRY = "remind", "escalate", "retry"


class DeadlineScheduler:
    def __init__(
        self,
        *,
        db: DeadlineDb,
        bus: EventBus,
        clock: Clock,
        callbacks: CallbackService,
        tick_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.warning = timedelta(minutes=callbacks.settings.callback_warning_minutes)
        self.tick = tick_seconds
        self._heap: list[tuple[datetime, str, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self.fired = 0
        self.loaded = 0

    async def start(self) -> None:
        rows = await self.db.callbacks.deadline_rows()
        heap = self._heap
        for callback_id, due, remind, escalate in rows:
            if remind and self.warning:
                heap.append((due - self.warning, REMIND, callback_id))
            if escalate:
                heap.append((due, ESCALATE, callback_id))
        for callback_id, retry_at in await self.db.callbacks.retry_rows():
            heap.append((retry_at, RETRY, callback_id))
        heapq.heapify(heap)
        self.loaded = len(rows)
        self._sub = self.bus.subscribe(self.handle)
        self._task = asyncio.create_task(self._run(), name="deadlines")
        log.info("deadlines: %d open callbacks scheduled", self.loaded)

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
        await cancel_and_wait(self._task)
        self._task = None

    def handle(self, event: DomainEvent) -> None:
        if isinstance(event, CallbackScheduled):
            self._schedule(event.callback_id, event.due_at, True, True)
        elif isinstance(event, CallbackRetryScheduled):
            heapq.heappush(self._heap, (event.retry_at, RETRY, event.callback_id))

    def _schedule(self, callback_id: int, due: datetime, remind: bool, escalate: bool) -> None:
        if remind and self.warning:
            heapq.heappush(self._heap, (due - self.warning, REMIND, callback_id))
        if escalate:
            heapq.heappush(self._heap, (due, ESCALATE, callback_id))

    @property
    def scheduled(self) -> int:
        return len(self._heap)

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                when, kind, callback_id = heapq.heappop(self._heap)
                try:
                    if kind == RETRY:
                        await self._fire_retry(callback_id, when, now)
                    else:
                        await self._fire(kind, callback_id, now)
                except Exception:
                    log.exception(
                        "deadlines: firing %s for callback %d failed; retrying", kind, callback_id
                    )
                    if kind == RETRY:  # the claim needs the time as scheduled
                        heapq.heappush(self._heap, (when, kind, callback_id))
                        await self.clock.sleep(5)
                    else:
                        heapq.heappush(self._heap, (now + timedelta(seconds=5), kind, callback_id))
                    break
            wait = self.tick
            if self._heap:
                wait = min(wait, max((self._heap[0][0] - now).total_seconds(), 0.0))
            await self.clock.sleep(wait if wait > 0 else 0.01)

    async def _fire_retry(self, callback_id: int, retry_at: datetime, now: datetime) -> None:
        if await self.db.callbacks.claim_retry(callback_id, retry_at):
            await self._remind(callback_id, now, retry=True)
        # else: closed, rescheduled, or another instance reminded already

    async def _remind(self, callback_id: int, now: datetime, *, retry: bool) -> None:
        cb = await self.db.callbacks.get(callback_id)
        self.fired += 1
        await self.bus.publish(
            CallbackReminderDue(
                at=now,
                callback_id=cb.id,
                due_at=cb.due_at,
                owner=await self._owner(cb),
                retry=retry,
                queue=cb.queue,
            )
        )

    async def _fire(self, kind: str, callback_id: int, now: datetime) -> None:
        if kind == REMIND:
            if await self.db.callbacks.claim(callback_id, "reminded_at", now):
                await self._remind(callback_id, now, retry=False)
            return  # else: closed already, or another instance fired it
        if not await self.db.callbacks.claim(
            callback_id, "escalated_at", now, status=CallbackStatus.OVERDUE
        ):
            return
        cb = await self.db.callbacks.get(callback_id)
        self.fired += 1
        owner = await self._owner(cb)
        team_id = None
        if cb.owner_user_id is not None:
            team_id = (await self.db.users.get(cb.owner_user_id)).team_id
        await self.db.violations.add(
            Violation(
                id=None,
                kind=ViolationKind.CALLBACK_OVERDUE,
                at=now,
                agent=owner,
                queue=cb.queue,
                detail=f"callback {cb.id} to {cb.phone_e164} overdue",
            )
        )
        await self.bus.publish(
            CallbackDue(at=now, callback_id=cb.id, due_at=cb.due_at, owner=owner, queue=cb.queue)
        )
        await self.bus.publish(
            RuleViolated(
                at=now,
                kind=ViolationKind.CALLBACK_OVERDUE,
                agent=owner,
                call_id=cb.call_id,
                queue=cb.queue,
                detail=f"callback {cb.id} overdue",
            )
        )
        await self.bus.publish(
            AlertRaised(
                at=now,
                kind="callback_overdue",
                team_id=team_id,
                queue=cb.queue,
                agent=owner,
                call_id=cb.call_id,
                message=f"callback to {cb.phone_e164} is overdue "
                f"(due {cb.due_at:%H:%M} UTC, owner {owner or cb.queue})",
            )
        )

    async def _owner(self, cb: Callback) -> str | None:
        if cb.owner_user_id is None:
            return None
        user = await self.db.users.get(cb.owner_user_id)
        return user.username
