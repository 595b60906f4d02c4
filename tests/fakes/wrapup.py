"""In-memory fakes of the ports the wrap-up service uses (crm_core.services.wrapup):
the call, callback and case repositories, the callback promiser, a bus that records,
and a task spawner the test can drain. They implement the Protocols, nothing more."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import itertools
from collections.abc import Coroutine, Iterable, Sequence
from datetime import datetime

from crm_core.domain.events import DomainEvent
from crm_core.domain.models import (
    AttemptResult,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallRecord,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
)
from crm_core.ports.bus import EventBus, EventHandler, Subscription
from crm_core.ports.callbacks import CallbackPromiser
from crm_core.ports.repositories import (
    CallbackRepository,
    CallFilter,
    CallRepository,
    CaseRepository,
    NotFound,
)
from crm_core.services.wrapup import TaskSpawner, WrapUpRepositories


class DatabaseDown(OSError):
    """What a fake repository raises while the test says the database is out."""


class FakeCalls:
    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}
        self.down = False  # True: every call raises DatabaseDown
        self.wrapup_writes = 0

    async def save_many(self, records: Iterable[CallRecord]) -> int:
        n = 0
        for record in records:
            self.records[record.call_id] = record
            n += 1
        return n

    async def get(self, call_id: str) -> CallRecord:
        self._check()
        try:
            return self.records[call_id]
        except KeyError as exc:
            raise NotFound(f"no call {call_id}") from exc

    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]:
        self._check()
        return list(self.records.values())[flt.offset : flt.offset + flt.limit]

    async def save_wrapup(
        self,
        call_id: str,
        *,
        disposition: str | None,
        notes: str | None,
        customer_id: int | None = None,
    ) -> CallRecord:
        record = await self.get(call_id)
        updated = dataclasses.replace(
            record,
            disposition=disposition,
            wrapup_notes=notes,
            customer_id=customer_id if customer_id is not None else record.customer_id,
        )
        self.records[call_id] = updated
        self.wrapup_writes += 1
        return updated

    async def count(self) -> int:
        return len(self.records)

    async def check_reachable(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise DatabaseDown("database unreachable")


class FakeCallbacks:
    def __init__(self) -> None:
        self.rows: dict[int, Callback] = {}
        self._ids = itertools.count(1)

    async def create(
        self,
        *,
        phone_e164: str,
        reason: CallbackReason,
        due_at: datetime,
        created_at: datetime,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        queue: str | None = None,
        call_id: str | None = None,
        question: str = "",
    ) -> Callback:
        cb = Callback(
            id=next(self._ids),
            phone_e164=phone_e164,
            reason=reason,
            status=CallbackStatus.OPEN,
            created_at=created_at,
            due_at=due_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            queue=queue,
            call_id=call_id,
            question=question,
        )
        self.rows[cb.id] = cb
        return cb

    async def get(self, callback_id: int) -> Callback:
        try:
            return self.rows[callback_id]
        except KeyError as exc:
            raise NotFound(f"no callback {callback_id}") from exc

    async def open_for_phone(self, phone_e164: str) -> Callback | None:
        for cb in self.rows.values():
            if cb.phone_e164 == phone_e164 and cb.status in (
                CallbackStatus.OPEN,
                CallbackStatus.OVERDUE,
            ):
                return cb
        return None

    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> builtins.list[Callback]:
        found = [
            cb
            for cb in self.rows.values()
            if (status is None or cb.status in status)
            and (owner_user_id is None or cb.owner_user_id == owner_user_id)
            and (customer_id is None or cb.customer_id == customer_id)
            and (call_id is None or cb.call_id == call_id)
        ]
        return found[:limit]

    async def update(self, callback_id: int, **fields: object) -> Callback:
        cb = dataclasses.replace(await self.get(callback_id), **fields)  # type: ignore[arg-type]
        self.rows[callback_id] = cb
        return cb

    async def add_attempt(
        self,
        callback_id: int,
        *,
        at: datetime,
        result: AttemptResult,
        by_user_id: int | None = None,
        call_id: str | None = None,
        note: str = "",
    ) -> Callback:
        return await self.get(callback_id)

    async def pending_deadlines(self) -> builtins.list[Callback]:
        return []


class FakeCases:
    def __init__(self) -> None:
        self.rows: dict[int, Case] = {}
        self._ids = itertools.count(1)

    async def closed_matters(
        self, *, until: datetime, limit: int = 100_000
    ) -> builtins.list[tuple[int, int, datetime]]:
        return []

    async def create(
        self,
        *,
        kind: CaseKind,
        subject: str,
        created_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        department: str | None = None,
        call_id: str | None = None,
        description: str = "",
        promised_reply_at: datetime | None = None,
    ) -> Case:
        case = Case(
            id=next(self._ids),
            kind=kind,
            status=CaseStatus.OPEN,
            subject=subject,
            created_at=created_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            department=department,
            call_id=call_id,
            description=description,
            promised_reply_at=promised_reply_at,
        )
        self.rows[case.id] = case
        return case

    async def get(self, case_id: int) -> Case:
        try:
            return self.rows[case_id]
        except KeyError as exc:
            raise NotFound(f"no case {case_id}") from exc

    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]:
        return [
            c
            for c in self.rows.values()
            if (customer_id is None or c.customer_id == customer_id)
            and (owner_user_id is None or c.owner_user_id == owner_user_id)
        ][:limit]

    async def set_status(
        self,
        case_id: int,
        status: CaseStatus,
        *,
        at: datetime,
        by_user_id: int | None,
        note: str = "",
    ) -> Case:
        case = await self.get(case_id)
        event = CaseEvent(at=at, status=status, by_user_id=by_user_id, note=note)
        case = dataclasses.replace(case, status=status, history=(*case.history, event))
        self.rows[case_id] = case
        return case

    async def reassign(
        self, case_id: int, owner_user_id: int, *, at: datetime, by_user_id: int | None
    ) -> Case:
        case = dataclasses.replace(await self.get(case_id), owner_user_id=owner_user_id)
        self.rows[case_id] = case
        return case


class FakeWrapUpRepos:
    """The repositories of a wrap-up (`WrapUpRepositories`), in memory."""

    def __init__(self) -> None:
        self._calls = FakeCalls()
        self._callbacks = FakeCallbacks()
        self._cases = FakeCases()

    @property
    def calls(self) -> FakeCalls:
        return self._calls

    @property
    def callbacks(self) -> FakeCallbacks:
        return self._callbacks

    @property
    def cases(self) -> FakeCases:
        return self._cases


class FakePromiser:
    """The rules' side of a promise, reduced to what the wrap-up relies on: a callback
    row with reason `promised`, owned by the agent (the rules' merge and window are
    tested with the real `CallbackService`)."""

    def __init__(self, callbacks: FakeCallbacks, now: datetime) -> None:
        self._callbacks = callbacks
        self._now = now
        self.promises = 0

    async def promise(
        self,
        *,
        phone: str,
        due_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        call_id: str | None,
        question: str,
        queue: str | None,
    ) -> Callback:
        self.promises += 1
        await asyncio.sleep(0)  # a real promise awaits the database: let others run
        return await self._callbacks.create(
            phone_e164=phone,
            reason=CallbackReason.PROMISED,
            due_at=due_at,
            created_at=self._now,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            queue=queue,
            call_id=call_id,
            question=question,
        )


class _Sub:
    def __init__(self, bus: RecordingBus, handler: EventHandler) -> None:
        self._bus, self.handler = bus, handler

    def close(self) -> None:
        self._bus.subs.remove(self)


class RecordingBus:
    """Keeps every published event; delivers to subscribers like the in-process bus."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.subs: list[_Sub] = []

    async def publish(self, event: DomainEvent) -> None:
        self.events.append(event)
        for sub in tuple(self.subs):
            result = sub.handler(event)
            if result is not None:
                await result

    def subscribe(self, handler: EventHandler) -> Subscription:
        sub = _Sub(self, handler)
        self.subs.append(sub)
        return sub


class Tasks:
    """A `TaskSpawner` whose tasks the test can await."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def spawn(self, coro: Coroutine[object, None, None], name: str, /) -> None:
        self.tasks[name] = asyncio.ensure_future(coro)

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def _implements() -> None:
    """Checked by mypy (`mypy tests/fakes_wrapup.py`): each fake satisfies its port."""
    repos = FakeWrapUpRepos()
    _r: WrapUpRepositories = repos
    _c: CallRepository = repos.calls
    _b: CallbackRepository = repos.callbacks
    _k: CaseRepository = repos.cases
    _p: CallbackPromiser = FakePromiser(repos.callbacks, datetime.now())
    _e: EventBus = RecordingBus()
    _t: TaskSpawner = Tasks()
