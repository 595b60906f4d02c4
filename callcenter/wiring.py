"""The composition root: build every object once from Settings, start them in order,
stop them in reverse. It composes only: what it builds lives in other modules
(seed data in `callcenter.demo_seed`, the reconcile loop in
`callcenter.reconcile_loop`, adapters in `callcenter.adapters`).

`Runtime.start()` brings up: database → bus → (demo: PBX simulator) → AMI client
→ ingest → call-log writer → rules, callbacks and deadlines → FastAGI → HTTP
console (+ lead and campaign views, `/sim/` in demo) → (demo: traffic). Each
part is a `Part` with its own stop; a failure during start stops what already
runs, in reverse. What was built is then `Runtime.components`, one typed object
(docs/adr/0073).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from callcenter.adapters import CallbackPromiserAdapter
from callcenter.demo_seed import (
    DEMO_AGENTS,
    DEMO_QUEUES,
    create_demo_customers,
    create_demo_users,
    demo_interface,
    demo_member,
)
from callcenter.reconcile_loop import reconcile_every
from callcenter.settings import AmiEndpoint, Settings
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from agent_console.api import LeadConfig
    from agent_console.web.auth import Revocations
    from agent_console.web.throttle import LoginLimiter
    from crm_core.db import Database
    from crm_core.health import HealthRegistry
    from crm_core.lease import RedisLease
    from crm_core.ports.callbacks import CallbackPromiser
    from crm_core.ports.telephony import TelephonyCommands
    from crm_core.services.call_log import CallLogWriter
    from crm_core.services.callbacks import CallbackService
    from crm_core.services.deadlines import DeadlineScheduler
    from crm_core.services.effects import EffectSweeper
    from crm_core.services.rules import QueueTimeoutCheck, RingRuleService
    from telephony.ami.client import AmiClient
    from telephony.dialer import CampaignDialer
    from telephony.dialer_task import SupervisedDialer
    from telephony.fastagi import FastAgiServer
    from telephony.sim import DemoTraffic, Simulator

log = logging.getLogger(__name__)

__all__ = ["Components", "DemoOptions", "Part", "Runtime"]


@dataclass(slots=True)
class Part:
    name: str
    stop: Callable[[], Awaitable[None]]


@dataclass(kw_only=True)
class DemoOptions:
    database_file: Path = Path("var/demo.db")
    calls_per_minute: float = 6.0
    answer_after_seconds: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Telephony:
    """The AMI side: one client per PBX, the commands (routed by PBX), the dialer."""

    clients: list[AmiClient]
    commands: TelephonyCommands
    dialer: CampaignDialer
    dialer_loop: SupervisedDialer
    leases: dict[str, RedisLease]  # per PBX, with Redis only


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    callbacks: CallbackService
    rules: RingRuleService
    deadlines: DeadlineScheduler
    effects_sweep: EffectSweeper
    queue_timeouts: QueueTimeoutCheck


@dataclass(frozen=True, slots=True, kw_only=True)
class Console:
    app: web.Application
    runner: web.AppRunner
    health: HealthRegistry


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

    def _own(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        self.parts.append(Part(name, stop))

    def _task(self, name: str, coro: Awaitable[None]) -> asyncio.Task[None]:
        """A background task owned by the runtime: cancelled and awaited on stop."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._own(name, stop)
        return task

    async def _start(self) -> None:
        s = self.settings
        clock = SystemClock()
        db = await self._database()
        bus = await self._bus()
        sim: Simulator | None = None
        endpoints = s.ami_endpoint_list()
        if self.demo is not None:
            sim, endpoint = await self._simulator()
            endpoints = [endpoint]  # the demo's own simulator
        telephony = await self._ami(bus, db, clock, endpoints)
        call_log = await self._call_log(bus, db, clock)
        self._task("reconcile", reconcile_every(db, clock, interval=600.0))
        rules = await self._rules(bus, db, clock, telephony.commands)
        fastagi = await self._fastagi(bus, db, rules.callbacks, sim)
        console = await self._console(
            bus, db, clock, telephony, CallbackPromiserAdapter(rules.callbacks), sim
        )
        traffic = await self._demo_traffic(sim) if sim is not None else None
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

    # --- parts --------------------------------------------------------------------------

    async def _database(self) -> Database:
        from crm_core.db import open_database
        from crm_core.db.migrate import upgrade_async

        url = self.settings.database_url
        if self.demo is not None:
            self.demo.database_file.parent.mkdir(parents=True, exist_ok=True)
            await upgrade_async(url)
        db = await open_database(url, phone_region=self.settings.phone_region)
        self._own("database", db.close)
        if self.demo is not None:
            await create_demo_users(db)
            await create_demo_customers(db)
        return db

    async def _bus(self) -> EventBus:
        s = self.settings
        if not s.redis_url:
            return InProcessBus()
        from crm_core.bus_redis import RedisBus

        redis_bus = RedisBus(s.redis_url, instance_id=s.instance_id or None)
        await redis_bus.start()
        self._own("redis bus", redis_bus.stop)
        return redis_bus

    async def _simulator(self) -> tuple[Simulator, AmiEndpoint]:
        from telephony.sim import demo_simulator

        assert self.demo is not None
        secret = self.settings.ami_secret
        sim = demo_simulator(
            ami_secret=secret,
            answer_after=self.demo.answer_after_seconds,
            ring_limit_seconds=self.settings.ring_limit_seconds,
        )
        # agents 2..6 are already at work so calls flow; agent1 is yours to sign in
        for n in range(2, DEMO_AGENTS + 1):
            for queue in DEMO_QUEUES:
                sim.add_member(queue, demo_member(n), demo_interface(n))
        port = await sim.start("127.0.0.1", 0)
        self._own("simulator", sim.stop)
        endpoint = AmiEndpoint(
            name="default", host="127.0.0.1", port=port, username=sim.username, secret=secret
        )
        return sim, endpoint

    async def _ami(
        self, bus: EventBus, db: Database, clock: SystemClock, endpoints: list[AmiEndpoint]
    ) -> Telephony:
        """One AMI client and tracker per PBX; commands routed by PBX (ADR 0038)."""
        from crm_core.services.reconcile import pbx_calls_ended_since, pbx_legs
        from telephony.ami.client import Endpoint
        from telephony.commands import AmiCommands
        from telephony.pbx_reader import pbx_reader
        from telephony.pbx_router import Pbx, PbxRouter
        from telephony.tracker import CallTracker

        s = self.settings

        # agents' phones by interface, so calls of an agent in no queue (click-to-dial,
        # a transfer to their extension) still name them
        roster = {
            u.interface: u.member_name
            for u in await db.users.list()
            if u.interface and u.member_name
        }
        pbxs: list[Pbx] = []
        clients: list[AmiClient] = []
        for ep in endpoints:
            tracker = CallTracker(
                s.ring_limit_seconds,
                abandon_threshold_seconds=s.abandon_threshold_seconds,
                callback_window=timedelta(minutes=s.callback_window_minutes),
                pbx=ep.name,
            )
            tracker.know_agents(roster)
            client = pbx_reader(
                Endpoint(ep.host, ep.port, ep.username, ep.secret, name=ep.name),
                tracker=tracker,
                on_events=bus.publish_all,
                events=not s.redis_url,  # with several instances the lease decides who reads
                clock=clock,
                action_timeout=s.ami_action_timeout_seconds,
                ping_interval=s.ami_ping_interval_seconds,
                watchdog=s.ami_watchdog_seconds,
                # calls that ended while the link was down are finished from Asterisk's
                # CDRs, read at the reconnect (docs/adr/0043)
                recover=functools.partial(pbx_legs, db),
                # calls that began and ended while nobody read this PBX (a gap, a
                # failover): from the CDRs, at the reconnect or takeover (docs/adr/0058)
                recover_since=functools.partial(pbx_calls_ended_since, db, pbx=ep.name),
            )
            clients.append(client)
            pbxs.append(Pbx(ep.name, AmiCommands(client, tracker), tracker, ep.agents))
        commands: TelephonyCommands = pbxs[0].commands if len(pbxs) == 1 else PbxRouter(pbxs)
        # the dialer hears the resync after the connect: it learns who is logged in
        dialer, dialer_loop = self._dialer(bus, db, clock, commands)
        for client in clients:
            client.start()
            self._own(f"ami client {client.endpoint.name}", client.stop)
        leases: dict[str, RedisLease] = {}
        if s.redis_url:
            for n, client in enumerate(clients):
                leases[client.endpoint.name] = self._ami_lease(
                    client, dialer_loop if n == 0 else None
                )
        else:
            dialer_loop.start()
        if self.demo is not None:
            await clients[0].wait_connected(timeout=10.0)
        return Telephony(
            clients=clients,
            commands=commands,
            dialer=dialer,
            dialer_loop=dialer_loop,
            leases=leases,
        )

    def _dialer(
        self, bus: EventBus, db: Database, clock: SystemClock, commands: TelephonyCommands
    ) -> tuple[CampaignDialer, SupervisedDialer]:
        """Campaign dialer; with several instances only the AMI lease holder dials."""
        from crm_core.phones import carrier_digits
        from telephony.dialer import CampaignDialer, DialerConfig
        from telephony.dialer_task import SupervisedDialer

        s = self.settings
        dialer = CampaignDialer(
            campaigns=db.campaigns,
            dnc=db.dnc,
            commands=commands,
            clock=clock,
            config=DialerConfig(
                channel=s.dialer_channel,
                context=s.dialer_context,
                ring_seconds=s.dialer_ring_seconds,
                abandon_cap=s.abandon_rate_cap,
                instance=_instance_name(s),
                # the customer's number as the carrier expects it (ADR 0047)
                dial_number=functools.partial(
                    carrier_digits, region=s.phone_region, form=s.carrier_number_format
                ),
            ),
        )
        bus.subscribe(dialer.handle)
        loop = SupervisedDialer(dialer.step, dialer.agents_available, clock)

        async def stop() -> None:
            await loop.stop()
            await dialer.close()

        self._own("dialer", stop)
        return dialer, loop

    def _lead_config(self) -> LeadConfig:
        """The wallboard and reports read the same rule settings as everything else."""
        from agent_console.api import LeadConfig
        from crm_core.services.live import LiveBoardConfig
        from crm_core.services.reports import ReportConfig

        s = self.settings
        return LeadConfig(
            board=LiveBoardConfig(
                service_level_seconds=s.service_level_seconds,
                ring_limit_seconds=s.ring_limit_seconds,
                short_abandon_seconds=s.abandon_threshold_seconds,
                long_wait_alert_seconds=s.long_wait_alert_seconds,
                after_call_work_alert_seconds=s.after_call_work_alert_seconds,
                timezone=s.timezone,
            ),
            reports=ReportConfig(
                service_level_seconds=s.service_level_seconds,
                ring_limit_seconds=s.ring_limit_seconds,
                short_abandon_seconds=s.abandon_threshold_seconds,
                timezone=s.timezone,
            ),
        )

    def _ami_lease(self, client: AmiClient, dialer_loop: SupervisedDialer | None) -> RedisLease:
        """One active AMI reader per PBX across instances (docs/adr/0028); the first
        PBX's reader also paces the campaigns (`dialer_loop`)."""
        from crm_core.lease import RedisLease

        s = self.settings

        async def acquired(token: int) -> None:
            await client.set_events(True)
            if dialer_loop is not None:
                dialer_loop.start()

        async def lost(token: int) -> None:
            await client.set_events(False)
            if dialer_loop is not None:
                await dialer_loop.stop()

        name = client.endpoint.name
        lease = RedisLease(
            s.redis_url, f"ami:{name}", _instance_name(s), on_acquired=acquired, on_lost=lost
        )
        lease.start()
        self._own(f"ami lease {name}", lease.stop)
        return lease

    async def _call_log(self, bus: EventBus, db: Database, clock: SystemClock) -> CallLogWriter:
        from crm_core.services.call_log import CallLogWriter

        writer = CallLogWriter(
            db.calls, outbox_path=self.settings.outbox_path, bus=bus, clock=clock
        )
        await writer.start()
        bus.subscribe(writer.handle)
        self._own("call log writer", writer.stop)
        return writer

    async def _rules(
        self, bus: EventBus, db: Database, clock: SystemClock, commands: TelephonyCommands
    ) -> Rules:
        from crm_core.services.callbacks import CallbackService
        from crm_core.services.deadlines import DeadlineScheduler
        from crm_core.services.effects import EffectSweeper
        from crm_core.services.rules import QueueTimeoutCheck, RingRuleService

        s = self.settings
        callbacks = CallbackService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
        rules = RingRuleService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
        callbacks.retry_seconds = rules.retry_seconds = s.event_retry_seconds
        deadlines = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=callbacks)
        bus.subscribe(callbacks.handle)
        bus.subscribe(rules.handle)
        # queues that ring an agent longer than the limit, from the PBX's QueueStatus
        queue_timeouts = QueueTimeoutCheck(s.ring_limit_seconds)
        bus.subscribe(queue_timeouts.handle)
        self._own("callbacks", callbacks.stop)
        self._own("ring rules", rules.stop)
        await deadlines.start()
        self._own("deadlines", deadlines.stop)
        # what calls owe and nobody applied (an outage, a crash): docs/adr/0060
        db.effects.instance = s.instance_id or db.effects.instance
        sweeper = EffectSweeper.for_services(
            callbacks=callbacks,
            rules=rules,
            db=db,
            clock=clock,
            interval=s.effects_sweep_seconds,
            lookback=timedelta(minutes=s.effects_lookback_minutes),
        )
        sweeper.start()
        self._own("effects sweep", sweeper.stop)
        return Rules(
            callbacks=callbacks,
            rules=rules,
            deadlines=deadlines,
            effects_sweep=sweeper,
            queue_timeouts=queue_timeouts,
        )

    async def _fastagi(
        self, bus: EventBus, db: Database, callbacks: CallbackService, sim: Simulator | None
    ) -> FastAgiServer:
        from ivr_scripts.routes import routes
        from telephony.fastagi import FastAgiServer

        s = self.settings
        server = FastAgiServer(
            routes(db=db, bus=bus, settings=s, callbacks=callbacks),
            header_timeout=s.agi_header_timeout_seconds,
            command_timeout=s.agi_command_timeout_seconds,
            allowed_networks=s.agi_allowed_networks,
            secret=s.agi_secret,
        )
        await server.start(s.agi_host, s.agi_port)
        self._own("fastagi", server.stop)
        if sim is not None:  # simulated calls may pass through the IVR too
            sim.agi_address = (s.agi_host, server.port)
            sim.agi_secret = s.agi_secret
        return server

    def _health(self, bus: EventBus, clients: list[AmiClient]) -> HealthRegistry:
        from crm_core.bus_redis import RedisBus
        from crm_core.health import HealthRegistry

        components = (
            ("ami", "database", "redis") if self.settings.redis_url else ("ami", "database")
        )
        health = HealthRegistry(components)
        bus.subscribe(health.handle)
        for ami in clients:
            # it (dis)connected, or had its login refused, before the registry listened
            name = ami.endpoint.name
            healthy, detail = ami.health()
            if healthy or ami.refused:
                health.set("ami" if name == "default" else f"ami:{name}", healthy, detail)
        if isinstance(bus, RedisBus):  # the bus probes Redis from now on; start from what it knows
            up = bus.healthy
            health.set("redis", up, "event bus started" if up else "unreachable at start")
        return health

    async def _console(
        self,
        bus: EventBus,
        db: Database,
        clock: SystemClock,
        telephony: Telephony,
        promiser: CallbackPromiser,
        sim: Simulator | None,
    ) -> Console:
        from agent_console.api import setup_lead_routes
        from agent_console.app import create_app
        from agent_console.campaigns.routes import setup_campaign_routes
        from agent_console.web.deps import ConsoleConfig, ConsoleDeps
        from callcenter.ops import setup_ops_routes
        from crm_core.phones import normalize
        from telephony.sim import create_control_app

        s = self.settings
        health = self._health(bus, telephony.clients)
        lead_config = self._lead_config()

        def mount_lead(app: web.Application) -> None:
            setup_lead_routes(app, config=lead_config)

        mount_campaigns = setup_campaign_routes(
            campaigns=db.campaigns,
            customers=db.customers,
            dnc=db.dnc,
            surveys=db.surveys,
            cases=db.cases,
            effects=db.effects,
            dialer_stats=telephony.dialer.stats,
            phone_region=s.phone_region,
        )

        def mount_ops(app: web.Application) -> None:
            setup_ops_routes(app, health, db_ping=db.ping, metrics_token=s.metrics_token)

        extra: list[Callable[[web.Application], None]] = [mount_lead, mount_campaigns, mount_ops]
        if sim is not None:
            control = create_control_app(sim)

            def mount_sim(app: web.Application) -> None:
                app.add_subapp("/sim/", control)

            extra.append(mount_sim)

        region = s.phone_region
        revocations, login_limiter = self._shared_console_state(clock)
        services = ConsoleDeps(
            db=db,
            engine=db.engine,
            bus=bus,
            commands=telephony.commands,
            clock=clock,
            config=ConsoleConfig(
                company_name=s.company_name,
                secret_key=s.secret_key,
                ring_limit_seconds=s.ring_limit_seconds,
                callback_window_minutes=s.callback_window_minutes,
                pause_reasons=s.pause_reasons,
                trust_forwarded_headers=s.trust_forwarded_headers,
                login_max_failures=s.login_max_failures,
                login_max_failures_per_address=s.login_max_failures_per_address,
                login_window_seconds=s.login_window_seconds,
                default_language=s.default_language,
                allowed_origins=s.browser_origins(),
                phone_region=s.phone_region,
                carrier_number_format=s.carrier_number_format,
            ),
            callbacks=promiser,
            normalize_phone=lambda raw: normalize(raw, region),
            extra_setup=extra,
            revocations=revocations,
            login_limiter=login_limiter,
        )
        app = create_app(services)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._own("http console", runner.cleanup)
        bound = runner.addresses[0] if runner.addresses else (self.host, self.port)
        shown = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        self.url = s.public_url or f"http://{shown}:{bound[1]}/"
        self.port = int(bound[1])
        return Console(app=app, runner=runner, health=health)

    def _shared_console_state(
        self, clock: SystemClock
    ) -> tuple[Revocations | None, LoginLimiter | None]:
        """With Redis: logouts and the login throttle shared by every instance
        (ADR 0054, 0055); without, the console keeps them in this process."""
        s = self.settings
        if not s.redis_url:
            return None, None
        from agent_console.web.redis_state import RedisLoginThrottle, RedisRevocations, connect
        from agent_console.web.throttle import LoginThrottle

        client = connect(s.redis_url)
        revocations = RedisRevocations(client)
        revocations.start()

        async def stop() -> None:
            await revocations.stop()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(client.aclose(), 3.0)

        self._own("console redis state", stop)
        local = LoginThrottle(
            clock,
            max_failures=s.login_max_failures,
            max_failures_per_address=s.login_max_failures_per_address,
            window_seconds=s.login_window_seconds,
        )
        return revocations, RedisLoginThrottle(client, local)

    async def _demo_traffic(self, sim: Simulator) -> DemoTraffic:
        from telephony.sim import DemoTraffic

        assert self.demo is not None
        traffic = DemoTraffic(sim, calls_per_minute=self.demo.calls_per_minute)
        traffic.start()
        self._own("demo traffic", traffic.stop)
        return traffic


def _instance_name(s: Settings) -> str:
    """This process among the instances: the setting, or host and pid."""
    return s.instance_id or f"{socket.gethostname()}-{os.getpid()}"
