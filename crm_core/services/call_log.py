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

from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError, StatementError

from crm_core import metrics
from crm_core.aio import cancel_and_wait
from crm_core.clock import SystemClock
from crm_core.domain.events import CallEnded, DomainEvent, ServiceHealthChanged
from crm_core.domain.models import CallRecord
from crm_core.outbox import Outbox
from crm_core.ports.bus import EventBus, Subscription
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import CallRepository

log = logging.getLogger(__name__)

# errors of a record itself (bad value, constraint, a number out of range): retrying the
# same record can never succeed
_RECORD_ERRORS = (StatementError, ValueError, TypeError, OverflowError, KeyError)


def is_transient(exc: BaseException) -> bool:
    """True when the database, not the record, is the problem: retry later."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        # IntegrityError, DataError, ProgrammingError: the statement's values
        return type(exc).__name__ in ("OperationalError", "InterfaceError", "InternalError")
    return not isinstance(exc, _RECORD_ERRORS)


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
        metrics.watch_set_aside(lambda: float(self.outbox.set_aside_count))

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
            if self.outbox.set_aside_count:
                await self._set_aside_alert()
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
        await cancel_and_wait(self._task)
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
        try:
            await self.calls.save_many([record for _, record in batch])
        except Exception as exc:
            if is_transient(exc):
                raise
            # one record the CRM refuses must not hold up the others: write one by one
            return await self._flush_one_by_one(batch)
        self.outbox.ack([row_id for row_id, _ in batch])
        self.written += len(batch)
        metrics.RECORDS_WRITTEN.inc(len(batch))
        return len(batch)

    async def _flush_one_by_one(self, batch: list[tuple[int, CallRecord]]) -> int:
        written = 0
        refused: list[tuple[int, CallRecord, str]] = []
        for row_id, record in batch:
            try:
                await self.calls.save_many([record])
            except Exception as exc:
                if is_transient(exc):
                    raise
                refused.append((row_id, record, _reason(exc)))
                continue
            self.outbox.ack([row_id])
            written += 1
        if refused and not written:
            # every record refused: make sure the database itself is fine before
            # calling any of them bad (a write that fails for everyone is an outage)
            await self.calls.check_reachable()
        for row_id, record, reason in refused:
            self.outbox.set_aside(row_id, reason)
            log.error(
                "call log: the CRM refused call %s for good (%s); set aside in the outbox "
                "file's dead letters, the calls behind it go on",
                record.call_id,
                reason,
            )
        if refused:
            await self._set_aside_alert()
        self.written += written
        metrics.RECORDS_WRITTEN.inc(written)
        return written + len(refused)

    async def _set_aside_alert(self) -> None:
        count = self.outbox.set_aside_count
        latest = self.outbox.set_aside_records()[-1]
        detail = (
            f"{count} call record(s) refused by the CRM and set aside "
            f"(last: call {latest[0]}: {latest[1]}); see the outbox file's dead letters"
        )
        if self.bus is not None:
            await self.bus.publish(
                ServiceHealthChanged(
                    at=self.clock.now(), component="call-log", healthy=False, detail=detail
                )
            )

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


def _reason(exc: BaseException) -> str:
    """The first line of the error, without the statement's values (personal data)."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else repr(exc)
    return f"{type(exc).__name__}: {text}"[:300]
