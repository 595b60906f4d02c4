"""A steady stream of realistic inbound calls for the demo."""

from __future__ import annotations

import asyncio
import logging
import random

from crm_core.aio import cancel_and_wait
from telephony.sim.pbx import Simulator

log = logging.getLogger(__name__)

CALLERS = [
    ("13800138000", "张三"),
    ("13912345678", "李娜"),
    ("13600001111", "王伟"),
    ("18612340000", "刘洋"),
    ("15011112222", "陈静"),
    ("13722223333", "杨帆"),
    ("18800001234", "赵敏"),
    ("13511114444", "黄磊"),
    ("17722225555", "周杰"),
    ("13366667777", "吴芳"),
    ("15899990000", "Emily Chen"),
    ("13244445555", "David Li"),
    ("18955556666", "孙悦"),
    ("13677778888", "马超"),
    ("02166668888", "上海华东物流有限公司"),
    ("01088889999", "北京远航科技"),
]


class DemoTraffic:
    """Places a call every ~60/calls_per_minute seconds; some callers give up."""

    def __init__(
        self, sim: Simulator, calls_per_minute: float = 6.0, seed: int | None = None
    ) -> None:
        self.sim = sim
        self.rate = calls_per_minute
        self.random = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self.placed = 0

    def start(self) -> None:
        if self.rate > 0:
            self._task = asyncio.create_task(self._run(), name="demo-traffic")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def place_one(self) -> str:
        number, name = self._caller()
        queue = "support" if self.random.random() < 0.7 else "sales"
        abandon = self.random.uniform(8, 40) if self.random.random() < 0.2 else None
        self.placed += 1
        return self.sim.place_call(
            number, name, queue, abandon_after=abandon, talk_seconds=self.random.uniform(20, 90)
        )

    def _caller(self) -> tuple[str, str]:
        """A known caller who is not on the line already (the same customer talking to
        three agents at once looked like a bug on the wallboard); when every one is,
        a number the CRM has never seen."""
        busy = {call.caller_number for call in self.sim.calls.values()}
        free = [caller for caller in CALLERS if caller[0] not in busy]
        if free:
            return self.random.choice(free)
        return f"1{self.random.choice('3456789')}{self.random.randrange(10**9):09d}", ""

    async def _run(self) -> None:
        while True:
            try:
                self.place_one()
            except Exception:
                log.exception("demo traffic could not place a call")
            await self.sim.clock.sleep(self.random.expovariate(self.rate / 60.0))
