"""A bus subscriber that must not slow the bus: queue the event, act in an owned task.

An event whose handling fails because the database is unreachable is tried again with
back-off for `retry_seconds`, then left to the effects sweep (docs/adr/0060), which
applies what a call still owes once the database is back. Any other failure is logged
and the event dropped: one bad event must not stop the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError

from crm_core.aio import cancel_and_wait
from crm_core.domain.events import DomainEvent

log = logging.getLogger(__name__)


def database_unreachable(exc: BaseException) -> bool:
    """The database (not the event) is the problem: trying again later may succeed."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or type(exc).__name__ in (
            "OperationalError",
            "InterfaceError",
        )
    return False


def first_line(exc: BaseException) -> str:
    """The error in one short line for a log message."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class EventWorker:
    """Subclasses call `enqueue` from their bus handler and implement `apply`."""

    worker_name = "event-worker"
    retry_seconds = 30.0  # how long a transient failure is retried before the sweep takes over
    first_backoff = 0.2
    max_backoff = 5.0

    def __init__(self) -> None:
        self._queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.retried = 0  # transient failures tried again
        self.abandoned = 0  # events given up on (left to the sweep)

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
            await cancel_and_wait(self._task)
            self._task = None

    async def apply(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def gave_up(self, event: DomainEvent, exc: Exception) -> None:
        """Say that `event` was not applied for `retry_seconds` (and who applies it)."""
        log.error(
            "%s: handling %s failed for %.0f s, database unreachable (%s); "
            "the effects sweep applies it once the database is back",
            self.worker_name,
            type(event).__name__,
            self.retry_seconds,
            first_line(exc),
        )

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._apply_with_retry(event)
            finally:
                self._queue.task_done()

    async def _apply_with_retry(self, event: DomainEvent) -> None:
        backoff = self.first_backoff
        give_up = time.monotonic() + self.retry_seconds
        while True:
            try:
                await self.apply(event)
                return
            except Exception as exc:  # one bad event must not stop the rules
                if not database_unreachable(exc):
                    log.exception("%s: handling %s failed", self.worker_name, type(event).__name__)
                    return
                if time.monotonic() + backoff > give_up:
                    self.abandoned += 1
                    self.gave_up(event, exc)
                    return
                self.retried += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
