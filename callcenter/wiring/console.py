"""The HTTP console: the agents' app with the lead, campaign and ops routes (and the
simulator's `/sim/` in the demo), the state shared by instances through Redis, and the
demo's traffic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from callcenter.settings import Settings
from callcenter.wiring.owner import Owner
from callcenter.wiring.telephony import Telephony, health_registry
from crm_core.clock import SystemClock
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from agent_console.api import LeadConfig
    from agent_console.web.auth import Revocations
    from agent_console.web.throttle import LoginLimiter
    from crm_core.db import Database
    from crm_core.health import HealthRegistry
    from crm_core.ports.callbacks import CallbackPromiser
    from telephony.sim import DemoTraffic, Simulator

__all__ = ["Console", "served_at", "start_console", "start_demo_traffic"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Console:
    app: web.Application
    runner: web.AppRunner
    health: HealthRegistry


async def start_console(
    owner: Owner,
    settings: Settings,
    *,
    bus: EventBus,
    db: Database,
    clock: SystemClock,
    telephony: Telephony,
    promiser: CallbackPromiser,
    sim: Simulator | None,
    host: str,
    port: int,
) -> Console:
    from agent_console.api import setup_lead_routes
    from agent_console.app import create_app
    from agent_console.campaigns.routes import setup_campaign_routes
    from agent_console.web.deps import ConsoleConfig, ConsoleDeps
    from callcenter.ops import setup_ops_routes
    from crm_core.phones import normalize
    from telephony.sim import create_control_app

    s = settings
    health = health_registry(s, bus, telephony.clients)
    config = lead_config(s)

    def mount_lead(app: web.Application) -> None:
        setup_lead_routes(app, config=config)

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
    revocations, login_limiter = _shared_console_state(owner, s, clock)
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
    site = web.TCPSite(runner, host, port)
    await site.start()
    owner.own("http console", runner.cleanup)
    return Console(app=app, runner=runner, health=health)


def served_at(console: Console, settings: Settings, host: str, port: int) -> tuple[str, int]:
    """The console's URL (the public one if set) and the port it is bound to (the
    system's pick when `port` was 0)."""
    runner = console.runner
    bound = runner.addresses[0] if runner.addresses else (host, port)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    return settings.public_url or f"http://{shown}:{bound[1]}/", int(bound[1])


def lead_config(settings: Settings) -> LeadConfig:
    """The wallboard and reports read the same rule settings as everything else."""
    from agent_console.api import LeadConfig
    from crm_core.services.live import LiveBoardConfig
    from crm_core.services.reports import ReportConfig

    s = settings
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


def _shared_console_state(
    owner: Owner, s: Settings, clock: SystemClock
) -> tuple[Revocations | None, LoginLimiter | None]:
    """With Redis: logouts and the login throttle shared by every instance
    (ADR 0054, 0055); without, the console keeps them in this process."""
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

    owner.own("console redis state", stop)
    local = LoginThrottle(
        clock,
        max_failures=s.login_max_failures,
        max_failures_per_address=s.login_max_failures_per_address,
        window_seconds=s.login_window_seconds,
    )
    return revocations, RedisLoginThrottle(client, local)


def start_demo_traffic(owner: Owner, sim: Simulator, *, calls_per_minute: float) -> DemoTraffic:
    from telephony.sim import DemoTraffic

    traffic = DemoTraffic(sim, calls_per_minute=calls_per_minute)
    traffic.start()
    owner.own("demo traffic", traffic.stop)
    return traffic
