"""The composition root: build every object once from Settings, start them in order,
stop them in reverse.

`Runtime.start()` brings up: database → bus → (demo: PBX simulator) → AMI client
→ ingest → call-log writer → rules, callbacks and deadlines → FastAGI → HTTP
console (+ lead and campaign views, `/sim/` in demo) → (demo: traffic). Each
part is a `Part` with its own stop; a failure during start stops what already
runs, in reverse. Other packages are imported inside the builders so one
missing optional piece names itself clearly instead of breaking `--help`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.domain.events import DomainEvent
from crm_core.domain.models import Callback, CallbackReason, Role
from crm_core.ports.bus import EventBus

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, demo database only
DEMO_QUEUES = ("support", "sales")
DEMO_AGENTS = 6


@dataclass(slots=True)
class Part:
    name: str
    stop: Callable[[], Awaitable[None]]


@dataclass(kw_only=True)
class DemoOptions:
    database_file: Path = Path("var/demo.db")
    calls_per_minute: float = 6.0
    answer_after_seconds: float = 4.0


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    demo: DemoOptions | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    parts: list[Part] = field(default_factory=list)
    objects: dict[str, Any] = field(default_factory=dict)
    url: str = ""

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
        self.objects["clock"] = clock

        db = await self._database()
        bus = await self._bus()
        if self.demo is not None:
            await self._simulator()
        commands = await self._ami(bus, db)
        await self._call_log(bus, db)
        self._task("reconcile", self._reconcile_every(db, interval=600.0))
        promiser = await self._rules(bus, db, commands)
        await self._fastagi(bus, db)
        await self._console(bus, db, commands, promiser)
        if self.demo is not None:
            await self._demo_traffic()
        log.info("callcenter running at %s (ring limit %.0f s)", self.url, s.ring_limit_seconds)

    # --- parts --------------------------------------------------------------------------

    async def _database(self) -> Any:
        from crm_core.db import open_database
        from crm_core.db.migrate import upgrade_async

        url = self.settings.database_url
        if self.demo is not None:
            self.demo.database_file.parent.mkdir(parents=True, exist_ok=True)
            await upgrade_async(url)
        db = await open_database(url, phone_region=self.settings.phone_region)
        self.objects["db"] = db
        self._own("database", _closer(db))
        if self.demo is not None:
            await create_demo_users(db)
            await create_demo_customers(db)
        return db

    async def _bus(self) -> EventBus:
        s = self.settings
        bus: EventBus
        if s.redis_url:
            from crm_core.bus_redis import RedisBus

            redis_bus = RedisBus(s.redis_url, instance_id=s.instance_id or None)
            await redis_bus.start()
            self._own("redis bus", redis_bus.stop)
            bus = redis_bus
        else:
            bus = InProcessBus()
        self.objects["bus"] = bus
        return bus

    async def _simulator(self) -> None:
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
                sim.add_member(queue, f"Agent 100{n}", f"Local/100{n}@agents/n")
        port = await sim.start("127.0.0.1", 0)
        self.objects["sim"] = sim
        self._own("simulator", sim.stop)
        self.objects["ami_endpoint"] = ("127.0.0.1", port, sim.username, secret)

    async def _ami(self, bus: EventBus, db: Any) -> Any:
        """One AMI client and tracker per PBX; commands routed by PBX (ADR 0038)."""
        from callcenter.settings import AmiEndpoint
        from crm_core.services.reconcile import pbx_calls_ended_since, pbx_legs
        from telephony.ami.client import AmiClient, Endpoint
        from telephony.commands import AmiCommands
        from telephony.pbx_router import Pbx, PbxRouter
        from telephony.tracker import CallTracker

        s = self.settings
        endpoints = s.ami_endpoint_list()
        if "ami_endpoint" in self.objects:  # the demo's own simulator
            host, port, user, secret = self.objects["ami_endpoint"]
            endpoints = [
                AmiEndpoint(name="default", host=host, port=port, username=user, secret=secret)
            ]

        async def publish(events: list[DomainEvent]) -> None:
            for event in events:
                await bus.publish(event)

        # agents' phones by interface, so calls of an agent in no queue (click-to-dial,
        # a transfer to their extension) still name them
        roster = {
            u.interface: u.member_name
            for u in await db.users.list()
            if u.interface and u.member_name
        }
        pbxs: list[Pbx] = []
        clients: list[Any] = []
        for ep in endpoints:
            tracker = CallTracker(
                s.ring_limit_seconds,
                abandon_threshold_seconds=s.abandon_threshold_seconds,
                callback_window=timedelta(minutes=s.callback_window_minutes),
                pbx=ep.name,
            )
            tracker.know_agents(roster)
            client = AmiClient(
                Endpoint(ep.host, ep.port, ep.username, ep.secret, name=ep.name),
                tracker=tracker,
                on_events=publish,
                events=not s.redis_url,  # with several instances the lease decides who reads
                clock=self.objects["clock"],
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
            pbxs.append(Pbx(ep.name, AmiCommands(client), tracker, ep.agents))
        commands: Any = pbxs[0].commands if len(pbxs) == 1 else PbxRouter(pbxs)
        # the dialer hears the resync after the connect: it learns who is logged in
        self._dialer(bus, db, commands)
        for client in clients:
            client.start()
            self._own(f"ami client {client.endpoint.name}", client.stop)
        if s.redis_url:
            for n, client in enumerate(clients):
                await self._ami_lease(client, runs_dialer=n == 0)
        else:
            self.objects["dialer_loop"].start()
        if self.demo is not None:
            await clients[0].wait_connected(timeout=10.0)
        self.objects.update(
            ami=clients[0],
            ami_clients=clients,
            tracker=pbxs[0].tracker,
            trackers={p.name: p.tracker for p in pbxs},
            commands=commands,
        )
        return commands

    def _dialer(self, bus: EventBus, db: Any, commands: Any) -> None:
        """Campaign dialer; with several instances only the AMI lease holder dials."""
        import os

        from crm_core.phones import carrier_digits
        from telephony.dialer import CampaignDialer, DialerConfig
        from telephony.dialer_task import SupervisedDialer

        s = self.settings
        dialer = CampaignDialer(
            campaigns=db.campaigns,
            dnc=db.dnc,
            commands=commands,
            clock=self.objects["clock"],
            config=DialerConfig(
                channel=s.dialer_channel,
                context=s.dialer_context,
                ring_seconds=s.dialer_ring_seconds,
                abandon_cap=s.abandon_rate_cap,
                instance=s.instance_id or f"{socket.gethostname()}-{os.getpid()}",
                # the customer's number as the carrier expects it (ADR 0047)
                dial_number=functools.partial(
                    carrier_digits, region=s.phone_region, form=s.carrier_number_format
                ),
            ),
        )
        bus.subscribe(dialer.handle)
        loop = SupervisedDialer(dialer.step, dialer.agents_available, self.objects["clock"])

        async def stop() -> None:
            await loop.stop()
            await dialer.close()

        self._own("dialer", stop)
        self.objects.update(dialer=dialer, dialer_loop=loop)

    async def _reconcile_every(self, db: Any, *, interval: float) -> None:
        """Compare Asterisk's CDRs with our records and repair gaps (docs/adr/0030)."""
        from sqlalchemy.exc import SQLAlchemyError

        from crm_core.services.reconcile import reconcile

        clock = self.objects["clock"]
        while True:
            await clock.sleep(interval)
            now = clock.now()
            try:
                report = await reconcile(
                    db, now - timedelta(hours=2), now - timedelta(minutes=1), repair=True
                )
            except (SQLAlchemyError, OSError) as exc:
                log.error("reconcile: skipped, database unreachable: %s", exc)
                continue
            if report.missing:
                log.error(
                    "reconcile: repaired %d call records missing from the CRM: %s",
                    report.repaired,
                    ", ".join(report.missing[:20]),
                )

    def _lead_config(self) -> Any:
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

    async def _ami_lease(self, client: Any, *, runs_dialer: bool) -> None:
        """One active AMI reader per PBX across instances (docs/adr/0028)."""
        import os

        from crm_core.lease import RedisLease

        s = self.settings
        instance = s.instance_id or f"{socket.gethostname()}-{os.getpid()}"

        async def acquired(token: int) -> None:
            roles[name] = f"active (lease token {token})"
            await client.set_events(True)
            if runs_dialer:  # the first PBX's reader also paces the campaigns
                self.objects["dialer_loop"].start()

        async def lost(token: int) -> None:
            roles[name] = "standby"
            await client.set_events(False)
            if runs_dialer:
                await self.objects["dialer_loop"].stop()

        name = client.endpoint.name
        roles: dict[str, str] = self.objects.setdefault("ami_roles", {})  # per PBX, for operators
        roles[name] = "standby"
        lease = RedisLease(s.redis_url, f"ami:{name}", instance, on_acquired=acquired, on_lost=lost)
        lease.start()
        self._own(f"ami lease {name}", lease.stop)
        self.objects.setdefault("leases", {})[name] = lease

    async def _call_log(self, bus: EventBus, db: Any) -> None:
        from crm_core.services.call_log import CallLogWriter

        writer = CallLogWriter(
            db.calls, outbox_path=self.settings.outbox_path, bus=bus, clock=self.objects["clock"]
        )
        await writer.start()
        bus.subscribe(writer.handle)
        self._own("call log writer", writer.stop)
        self.objects["call_log"] = writer

    async def _rules(self, bus: EventBus, db: Any, commands: Any) -> Any:
        from crm_core.services.callbacks import CallbackService, RuleSettings
        from crm_core.services.deadlines import DeadlineScheduler
        from crm_core.services.effects import EffectSweeper
        from crm_core.services.rules import QueueTimeoutCheck, RingRuleService

        s = cast(RuleSettings, self.settings)
        clock = self.objects["clock"]
        callbacks = CallbackService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
        rules = RingRuleService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
        callbacks.retry_seconds = rules.retry_seconds = self.settings.event_retry_seconds
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
        db.effects.instance = self.settings.instance_id or db.effects.instance
        sweeper = EffectSweeper.for_services(
            callbacks=callbacks,
            rules=rules,
            db=db,
            clock=clock,
            interval=self.settings.effects_sweep_seconds,
            lookback=timedelta(minutes=self.settings.effects_lookback_minutes),
        )
        sweeper.start()
        self._own("effects sweep", sweeper.stop)
        self.objects.update(
            callbacks=callbacks,
            rules=rules,
            deadlines=deadlines,
            effects_sweep=sweeper,
            queue_timeouts=queue_timeouts,
        )
        return CallbackPromiserAdapter(callbacks)

    async def _fastagi(self, bus: EventBus, db: Any) -> None:
        from ivr_scripts.routes import routes
        from telephony.fastagi import FastAgiServer

        s = self.settings
        server = FastAgiServer(
            routes(db=db, bus=bus, settings=s, callbacks=self.objects.get("callbacks")),
            header_timeout=s.agi_header_timeout_seconds,
            command_timeout=s.agi_command_timeout_seconds,
            allowed_networks=s.agi_allowed_networks,
            secret=s.agi_secret,
        )
        await server.start(s.agi_host, s.agi_port)
        self._own("fastagi", server.stop)
        self.objects["fastagi"] = server
        sim = self.objects.get("sim")
        if sim is not None:  # simulated calls may pass through the IVR too
            sim.agi_address = (s.agi_host, server.port)
            sim.agi_secret = s.agi_secret

    async def _console(self, bus: EventBus, db: Any, commands: Any, promiser: Any) -> None:
        from agent_console.app import create_app
        from agent_console.web.deps import ConsoleConfig, ConsoleDeps
        from callcenter.ops import setup_ops_routes
        from crm_core.health import HealthRegistry
        from crm_core.phones import normalize

        s = self.settings
        extra: list[Callable[[web.Application], None]] = []
        for module, func in (
            ("agent_console.api", "setup_lead_routes"),
            ("agent_console.campaigns.routes", "setup_campaign_routes"),
        ):
            try:
                setup = getattr(importlib.import_module(module), func)
                if module == "agent_console.api":
                    setup = functools.partial(setup, config=self._lead_config())
                else:
                    dialer = self.objects.get("dialer")
                    setup = functools.partial(
                        setup,
                        dialer_stats=dialer.stats if dialer is not None else None,
                        phone_region=s.phone_region,
                    )
                extra.append(setup)
            except (ImportError, AttributeError) as exc:
                log.warning("%s not available (%s); the console runs without it", module, exc)
        components = ("ami", "database", "redis") if s.redis_url else ("ami", "database")
        health = HealthRegistry(components)
        bus.subscribe(health.handle)
        for ami in self.objects.get("ami_clients", []):
            # it (dis)connected, or had its login refused, before the registry listened
            name = ami.endpoint.name
            healthy, detail = ami.health()
            if healthy or ami.refused:
                health.set("ami" if name == "default" else f"ami:{name}", healthy, detail)
        if s.redis_url:  # the bus probes Redis from now on; start from what it knows
            up = bool(getattr(bus, "healthy", True))
            health.set("redis", up, "event bus started" if up else "unreachable at start")
        self.objects["health"] = health
        extra.append(
            lambda app: setup_ops_routes(
                app, health, db_ping=db.ping, metrics_token=s.metrics_token
            )
        )
        sim = self.objects.get("sim")
        if sim is not None:
            control = importlib.import_module("telephony.sim").create_control_app(sim)

            def mount_sim(app: web.Application) -> None:
                app.add_subapp("/sim/", control)

            extra.append(mount_sim)

        region = s.phone_region
        services = ConsoleDeps(
            db=db,
            bus=bus,
            commands=commands,
            clock=self.objects["clock"],
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
                allowed_origins=allowed_origins(s),
                phone_region=s.phone_region,
                carrier_number_format=s.carrier_number_format,
            ),
            callbacks=promiser,
            normalize_phone=lambda raw: normalize(raw, region),
            extra_setup=extra,
            **self._shared_console_state(),
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
        self.objects.update(app=app, runner=runner)

    def _shared_console_state(self) -> dict[str, Any]:
        """With Redis: logouts and the login throttle shared by every instance
        (ADR 0054, 0055); without, the console keeps them in this process."""
        s = self.settings
        if not s.redis_url:
            return {}
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
            self.objects["clock"],
            max_failures=s.login_max_failures,
            max_failures_per_address=s.login_max_failures_per_address,
            window_seconds=s.login_window_seconds,
        )
        return {
            "revocations": revocations,
            "login_limiter": RedisLoginThrottle(client, local),
        }

    async def _demo_traffic(self) -> None:
        from telephony.sim import DemoTraffic

        assert self.demo is not None
        traffic = DemoTraffic(self.objects["sim"], calls_per_minute=self.demo.calls_per_minute)
        traffic.start()
        self._own("demo traffic", traffic.stop)
        self.objects["traffic"] = traffic


class CallbackPromiserAdapter:
    """The console's `CallbackPromiser` port over the rules' `CallbackService`."""

    def __init__(self, service: Any) -> None:
        self._service = service

    async def promise(
        self,
        *,
        phone: str,
        due_at: Any,
        customer_id: int | None,
        owner_user_id: int | None,
        call_id: str | None,
        question: str,
        queue: str | None,
    ) -> Callback:
        result: Callback = await self._service.request_callback(
            phone=phone,
            reason=CallbackReason.PROMISED,
            due_at=due_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            call_id=call_id,
            question=question,
            queue=queue,
        )
        return result


def _closer(obj: Any) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        for name in ("stop", "close", "aclose", "dispose"):
            method = getattr(obj, name, None)
            if method is not None:
                result = method()
                if asyncio.iscoroutine(result):
                    await result
                return

    return close


def allowed_origins(s: Settings) -> tuple[str, ...]:
    """`allowed_origins` and the origin of `public_url`, in the form browsers send."""
    from urllib.parse import urlsplit

    origins = {o.strip().lower().rstrip("/") for o in s.allowed_origins if o.strip()}
    if s.public_url:
        parts = urlsplit(s.public_url)
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(sorted(origins))


async def create_demo_users(db: Any) -> None:
    """The demo logins of CONTRACTS.md (demo database only; `serve` never calls this)."""
    from crm_core.passwords import hash_password

    users = db.users
    if await users.get_by_username("agent1") is not None:
        return
    hashed = hash_password(DEMO_PASSWORD)
    team = await users.get_or_create_team("Team A")
    for n in range(1, DEMO_AGENTS + 1):
        await users.create(
            username=f"agent{n}",
            display_name=f"Agent 100{n}",
            role=Role.AGENT,
            password_hash=hashed,
            team_id=team.id,
            member_name=f"Agent 100{n}",
            interface=f"Local/100{n}@agents/n",
            queues=DEMO_QUEUES,
        )
    lead = await users.create(
        username="lead1",
        display_name="Team Lead 1",
        role=Role.LEAD,
        password_hash=hashed,
        team_id=team.id,
        # the lead's own phone, so listen / whisper / barge can be tried in the demo
        interface="Local/9001@phone-sim/n",
    )
    await users.set_team_lead(team.id, lead.id)
    await users.create(
        username="manager1", display_name="Manager 1", role=Role.MANAGER, password_hash=hashed
    )
    await users.create(
        username="admin", display_name="Administrator", role=Role.ADMIN, password_hash=hashed
    )


DEMO_CUSTOMERS = (
    # number, name, company, title, VIP level, notes (numbers the demo traffic calls from)
    ("13800138000", "张三", "北京星河贸易有限公司", "采购经理", 2, "偏好下午来电"),
    ("13912345678", "李娜", "上海云帆电子", "行政主管", 0, ""),
    ("18612340000", "刘洋", "", "", 0, "上次咨询退货流程"),
    ("13722223333", "杨帆", "杭州远景物流", "运营总监", 3, "大客户，合同季度续签"),
    ("15899990000", "Emily Chen", "Pacific Trading Ltd", "Buyer", 1, "Prefers English"),
    ("02166668888", "上海华东物流有限公司", "上海华东物流有限公司", "", 2, "企业总机"),
)


async def create_demo_customers(db: Any) -> None:
    """A few known callers so the demo's pops show customer cards (demo database only)."""
    if await db.customers.find_by_phone(DEMO_CUSTOMERS[0][0]) is not None:
        return
    for number, name, company, title, vip, notes in DEMO_CUSTOMERS:
        await db.customers.create(
            name=name, phones=[number], company=company, title=title, vip_level=vip, notes=notes
        )


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
