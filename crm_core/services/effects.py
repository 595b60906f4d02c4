"""The effects sweep: what a finished call owes is applied even when nobody could at the
time (docs/adr/0060).

Every call record reaches the CRM through the durable outbox, whatever happened to the
events. At start and every `interval` seconds each instance looks for recent calls
(started within `lookback`, ended at least `grace` ago, so the live path goes first)
that lack the key of an effect, and applies it with the same service method the live
path uses. The key makes it idempotent: an instance that loses the race finds the key
and does nothing, and a call whose live handling died mid-way (database outage, crash)
is simply applied again, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_core.aio import cancel_and_wait
from crm_core.domain.models import CallRecord
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import NotFound
from crm_core.ports.stores import SweepDb
from crm_core.services.callbacks import CALLBACK_EFFECT, CallbackService
from crm_core.services.rules import RING_RULE_EFFECT, RingRuleService
from crm_core.services.worker import database_unreachable

log = logging.getLogger(__name__)

# applies an effect of a call; returns its first item True when this instance did
Apply = Callable[[CallRecord], Awaitable[tuple[bool, object]]]


@dataclass(frozen=True, slots=True)
class SweepResult:
    applied: dict[str, int]  # effect -> calls it was applied to by this sweep

    @property
    def total(self) -> int:
        return sum(self.applied.values())


class EffectSweeper:
    def __init__(
        self,
        *,
        db: SweepDb,
        clock: Clock,
        effects: dict[str, Apply],
        interval: float = 30.0,
        lookback: timedelta = timedelta(hours=2),
        grace: float | None = None,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.clock = clock
        self.effects = effects
        self.interval = interval
        self.lookback = lookback
        self.grace = timedelta(seconds=min(interval, 30.0) if grace is None else grace)
        self.batch = batch
        self.sweeps = 0
        self.applied = 0
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None

    @classmethod
    def for_services(
        cls,
        *,
        callbacks: CallbackService,
        rules: RingRuleService,
        db: SweepDb,
        clock: Clock,
        interval: float = 30.0,
        lookback: timedelta = timedelta(hours=2),
        grace: float | None = None,
        batch: int = 500,
    ) -> EffectSweeper:
        """The effects of a call: its callback (CallbackService) and its ring-rule
        violations (RingRuleService)."""
        return cls(
            db=db,
            clock=clock,
            effects={CALLBACK_EFFECT: callbacks.claim_call, RING_RULE_EFFECT: rules.claim_call},
            interval=interval,
            lookback=lookback,
            grace=grace,
            batch=batch,
        )

    async def sweep(self) -> SweepResult:
        """One pass; raises when the database is unreachable."""
        now = self.clock.now()
        applied: dict[str, int] = {}
        for effect, apply in self.effects.items():
            ids = await self.db.effects.calls_without(
                effect, since=now - self.lookback, until=now - self.grace, limit=self.batch
            )
            for call_id in ids:
                try:
                    record = await self.db.calls.get(call_id)
                except NotFound:
                    continue
                try:
                    claimed, _ = await apply(record)
                except Exception as exc:
                    if database_unreachable(exc):
                        raise
                    # one call that cannot be applied must not hold up the others
                    log.exception("effects sweep: %s of call %s failed", effect, call_id)
                    continue
                if claimed:
                    applied[effect] = applied.get(effect, 0) + 1
        self.sweeps += 1
        result = SweepResult(applied)
        self.applied += result.total
        if result.total:
            log.warning(
                "effects sweep: applied what %s owed and nobody had applied (%s)",
                "calls" if result.total > 1 else "a call",
                ", ".join(f"{effect}: {n}" for effect, n in sorted(applied.items())),
            )
        await self._prune(now)
        return result

    async def _prune(self, now: datetime) -> None:
        """Keys older than the lookback guard no call the sweep still looks at."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        self._pruned_at = now
        keep = max(self.lookback * 2, timedelta(days=1))
        await self.db.effects.forget_older_than(now - keep)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="effects-sweep")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:
                if not database_unreachable(exc):
                    log.exception("effects sweep failed")
                else:
                    log.info("effects sweep: database unreachable; trying again later")
            await self.clock.sleep(self.interval)
