"""The call-log writer: every finished call lands in the CRM, whatever happens.

The bus handler only appends the record to the durable outbox (tens of µs) and
wakes the writer task; the writer drains the outbox to the CRM in batches with
the idempotent upsert. While the database is down, records stay in the outbox,
the operator is told (log + `ServiceHealthChanged`), and the writer retries with
backoff; nothing is lost and nothing written twice (docs/adr/0029).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from crm_core import metrics
from crm_core.clock import SystemClock
from crm_core.domain.events import CallEnded, DomainEvent, ServiceHealthChanged
from crm_core.outbox import Outbox
from crm_core.ports.bus import EventBus, Subscription
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import CallRepository

log = logging.getLogger(__name__)


class CallLogWriter:
    def __init__(
        self,
        calls: CallRepository,
        *,
        outbox_path: str | Path = ":memory:",
        bus: EventBus | None = None,
        clock: Clock | None = None,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        self.calls = calls
        self.outbox = Outbox(outbox_path)
        self.bus = bus
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.healthy = True
        self.written = 0
        self.last_error = ""
        metrics.watch_outbox_depth(lambda: float(self.outbox.depth))

    @property
    def pending(self) -> int:
        return self.outbox.depth

    def subscribe(self, bus: EventBus) -> Subscription:
        """Listen for `CallEnded` on `bus` (same as `bus.subscribe(writer.handle)`)."""
        return bus.subscribe(self.handle)

    def handle(self, event: DomainEvent) -> None:
        """Bus subscriber: durable append, no waiting for the database."""
        if isinstance(event, CallEnded):
            self.outbox.put(event.record, event)
            metrics.CALLS_ENDED.inc()
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="call-log-writer")
            if self.outbox.depth:
                log.warning(
                    "call log: %d records from before the restart are being written",
                    self.outbox.depth,
                )
                self._wake.set()

    async def stop(self, *, drain_timeout: float = 5.0) -> None:
        """Finish writes (up to `drain_timeout`), then stop; what is left stays durable."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain_once_healthy(), drain_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self.outbox.depth:
            log.error(
                "call log: %d records kept in the outbox for the next start", self.outbox.depth
            )
        self.outbox.close()

    async def _drain_once_healthy(self) -> None:
        while self.outbox.depth and self.healthy:
            await self.flush()

    async def flush(self) -> int:
        """Write one batch now; returns how many records reached the CRM."""
        batch = self.outbox.peek(self.batch_size)
        if not batch:
            return 0
        await self.calls.save_many([record for _, record in batch])
        self.outbox.ack([row_id for row_id, _ in batch])
        self.written += len(batch)
        metrics.RECORDS_WRITTEN.inc(len(batch))
        return len(batch)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self.outbox.depth:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                await asyncio.sleep(self.flush_interval)  # let a burst gather into one batch
            try:
                while await self.flush():
                    pass
            except (SQLAlchemyError, OSError, ConnectionError) as exc:
                self.last_error = str(exc).splitlines()[0][:200]
                await self._health(
                    False,
                    f"CRM database unreachable: {self.last_error}; "
                    f"{self.outbox.depth} call records buffered",
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.1
            await self._health(True, "writing call records")

    async def _health(self, healthy: bool, detail: str) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if healthy:
            log.warning("call log: CRM database reachable again; buffered records written")
        else:
            log.error("call log: %s", detail)
        if self.bus is not None:
            await self.bus.publish(
                ServiceHealthChanged(
                    at=self.clock.now(), component="database", healthy=healthy, detail=detail
                )
            )
