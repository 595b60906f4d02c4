"""The dialer's background task: one pacing step per tick, supervised.

A crash inside a step (database outage, bad contact row, AMI error) is logged and the
loop restarts after a back-off; it never propagates to the service. The owner calls
`start()` and `stop()`, and `stop()` cancels and awaits the task (no fire-and-forget).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from crm_core.aio import cancel_and_wait
from crm_core.ports.clock import Clock

log = logging.getLogger(__name__)

DialStep = Callable[[], Awaitable[int]]  # places calls, returns how many


class SupervisedDialer:
    def __init__(
        self,
        step: DialStep,
        agents_available: Callable[[], Awaitable[int]],
        clock: Clock,
        *,
        tick_seconds: float = 1.0,
        restart_backoff: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0),
    ) -> None:
        self._step = step
        self._agents_available = agents_available
        self._clock = clock
        self._tick = tick_seconds
        self._backoff = restart_backoff
        self._task: asyncio.Task[None] | None = None
        self.crashes = 0
        self.calls_placed = 0
        self.ticks = 0  # loop turns completed (tests wait on it instead of sleeping)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="dialer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                # never dial into an empty room: no available agent, no call this tick
                if await self._agents_available() > 0:
                    self.calls_placed += await self._step()
                failures = 0
                self.ticks += 1
                await self._clock.sleep(self._tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.crashes += 1
                delay = self._backoff[min(failures, len(self._backoff) - 1)]
                failures += 1
                log.exception("dialer step crashed; restarting in %.0f s", delay)
                await self._clock.sleep(delay)
