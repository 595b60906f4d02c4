"""In-memory fakes of the ports the wrap-up service uses (crm_core.services.wrapup):
its repositories (the fakes of `tests.fakes.repos` and `tests.fakes.callbacks`), the callback
promiser, a bus that records, and a task spawner the test can drain."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_core.domain.events import DomainEvent
from crm_core.domain.models import Callback, CallbackReason
from crm_core.ports.bus import EventBus, EventHandler, Subscription
from crm_core.ports.callbacks import CallbackPromiser
from crm_core.services.wrapup import TaskSpawner, WrapUpRepositories
from tests.fakes.callbacks import FakeCallbacks
from tests.fakes.repos import FakeCalls, FakeCases


@dataclass
class FakeWrapUpRepos:
    """The repositories of a wrap-up (`WrapUpRepositories`), in memory."""

    calls: FakeCalls = field(default_factory=FakeCalls)
    callbacks: FakeCallbacks = field(default_factory=FakeCallbacks)
    cases: FakeCases = field(default_factory=FakeCases)


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

    async def publish_all(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            await self.publish(event)

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
    """Checked by mypy (tests.fakes is in its packages): each fake satisfies its port."""
    repos = FakeWrapUpRepos()
    _r: WrapUpRepositories = repos
    _p: CallbackPromiser = FakePromiser(repos.callbacks, datetime.now())
    _e: EventBus = RecordingBus()
    _t: TaskSpawner = Tasks()
