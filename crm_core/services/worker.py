"""A bus subscriber that must not slow the bus: queue the event, act in an owned task."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from crm_core.domain.events import DomainEvent

log = logging.getLogger(__name__)


class EventWorker:
    """Subclasses call `enqueue` from their bus handler and implement `apply`."""

    worker_name = "event-worker"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, event: DomainEvent) -> None:
        if self._task is None:
            self.start()
        self._queue.put_nowait(event)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name=self.worker_name)

    async def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Finish what is queued (up to `drain_seconds`), then stop; say what was left."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_seconds)
            if self._queue.qsize():
                log.error(
                    "%s: stopping with %d events not applied (shutdown too slow)",
                    self.worker_name,
                    self._queue.qsize(),
                )
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def apply(self, event: DomainEvent) -> None:
        raise NotImplementedError

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.apply(event)
            except Exception:  # one bad event must not stop the rules
                log.exception("%s: handling %s failed", self.worker_name, type(event).__name__)
            finally:
                self._queue.task_done()
