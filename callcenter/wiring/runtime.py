"""The composition root's lifecycle: build every part once from Settings, start them
in order, stop them in reverse. It composes only: each part is built by its own
module of this package (`storage`, `telephony`, `rules`, `console`), which hands
what it started to the runtime as its `Owner`.

`Runtime.start()` brings up: database → bus → (demo: PBX simulator) → AMI client
→ ingest → call-log writer → rules, callbacks and deadlines → FastAGI → HTTP
console (+ lead and campaign views, `/sim/` in demo) → (demo: traffic). Each
part is a `Part` with its own stop; a failure during start stops what already
runs, in reverse. What was built is then `Runtime.components`, one typed object
(docs/adr/0073).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.adapters import CallbackPromiserAdapter
from callcenter.reconcile_loop import reconcile_every
from callcenter.settings import Settings
from callcenter.wiring.console import Console, served_at, start_console, start_demo_traffic
from callcenter.wiring.owner import Part
from callcenter.wiring.rules import Rules, start_call_log, start_fastagi, start_rules
from callcenter.wiring.storage import open_database, start_bus
from callcenter.wiring.telephony import Telephony, start_simulator, start_telephony
from crm_core.aio import cancel_and_wait
from crm_core.clock import SystemClock
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from crm_core.db import Database
    from crm_core.services.call_log import CallLogWriter
    from telephony.fastagi import FastAgiServer
    from telephony.sim import DemoTraffic, Simulator

log = logging.getLogger(__name__)

__all__ = ["Components", "DemoOptions", "Runtime"]


@dataclass(kw_only=True)
class DemoOptions:
    database_file: Path = Path("var/demo.db")
    calls_per_minute: float = 6.0
    answer_after_seconds: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Components:
    """Everything a started `Runtime` built (for the commands' banners and for tests)."""

    clock: SystemClock
    db: Database
    bus: EventBus
    sim: Simulator | None  # demo only
    telephony: Telephony
    call_log: CallLogWriter
    rules: Rules
    fastagi: FastAgiServer
    console: Console
    traffic: DemoTraffic | None  # demo only


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    demo: DemoOptions | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    parts: list[Part] = field(default_factory=list)
    url: str = ""
    _components: Components | None = None

    @property
    def components(self) -> Components:
        if self._components is None:
            raise RuntimeError("the runtime is not started")
        return self._components

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self.parts:
            part = self.parts.pop()
            try:
                await asyncio.wait_for(part.stop(), timeout=10.0)
            except TimeoutError:
                log.error("stopping %s took longer than 10 s; moving on", part.name)
            except Exception:
                log.exception("stopping %s failed", part.name)
        self._components = None

    # --- ownership (the `Owner` the part builders hand their stops to) ------------------

    def own(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        self.parts.append(Part(name, stop))

    def task(self, name: str, coro: Awaitable[None]) -> asyncio.Task[None]:
        """A background task owned by the runtime: cancelled and awaited on stop."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self.own(name, functools.partial(cancel_and_wait, task))
        return task

    # --- the start order ----------------------------------------------------------------

    async def _start(self) -> None:
        s = self.settings
        demo = self.demo
        clock = SystemClock()
        db = await open_database(self, s, demo.database_file if demo is not None else None)
        bus = await start_bus(self, s)
        sim: Simulator | None = None
        endpoints = s.ami_endpoint_list()
        if demo is not None:
            sim, endpoint = await start_simulator(self, s, answer_after=demo.answer_after_seconds)
            endpoints = [endpoint]  # the demo's own simulator
        telephony = await start_telephony(
            self,
            s,
            bus=bus,
            db=db,
            clock=clock,
            endpoints=endpoints,
            wait_connected=demo is not None,
        )
        call_log = await start_call_log(self, s, bus=bus, db=db, clock=clock)
        self.task("reconcile", reconcile_every(db, clock, interval=600.0))
        rules = await start_rules(self, s, bus=bus, db=db, clock=clock, commands=telephony.commands)
        fastagi = await start_fastagi(self, s, bus=bus, db=db, callbacks=rules.callbacks, sim=sim)
        console = await start_console(
            self,
            s,
            bus=bus,
            db=db,
            clock=clock,
            telephony=telephony,
            promiser=CallbackPromiserAdapter(rules.callbacks),
            sim=sim,
            host=self.host,
            port=self.port,
        )
        self.url, self.port = served_at(console, s, self.host, self.port)
        traffic: DemoTraffic | None = None
        if sim is not None and demo is not None:
            traffic = start_demo_traffic(self, sim, calls_per_minute=demo.calls_per_minute)
        self._components = Components(
            clock=clock,
            db=db,
            bus=bus,
            sim=sim,
            telephony=telephony,
            call_log=call_log,
            rules=rules,
            fastagi=fastagi,
            console=console,
            traffic=traffic,
        )
        log.info("callcenter running at %s (ring limit %.0f s)", self.url, s.ring_limit_seconds)
