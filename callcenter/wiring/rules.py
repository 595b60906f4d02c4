"""What calls owe, applied: the call-log writer, the ring rules, callbacks and their
deadlines, the sweeper of effects nobody applied, and the FastAGI server (the IVR)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from callcenter.settings import Settings
from callcenter.wiring.owner import Owner
from crm_core.clock import SystemClock
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from crm_core.db import Database
    from crm_core.ports.telephony import TelephonyCommands
    from crm_core.services.call_log import CallLogWriter
    from crm_core.services.callbacks import CallbackService
    from crm_core.services.deadlines import DeadlineScheduler
    from crm_core.services.effects import EffectSweeper
    from crm_core.services.rules import QueueTimeoutCheck, RingRuleService
    from telephony.fastagi import FastAgiServer
    from telephony.sim import Simulator

__all__ = ["Rules", "start_call_log", "start_fastagi", "start_rules"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    callbacks: CallbackService
    rules: RingRuleService
    deadlines: DeadlineScheduler
    effects_sweep: EffectSweeper
    queue_timeouts: QueueTimeoutCheck


async def start_call_log(
    owner: Owner, settings: Settings, *, bus: EventBus, db: Database, clock: SystemClock
) -> CallLogWriter:
    from crm_core.services.call_log import CallLogWriter

    writer = CallLogWriter(db.calls, outbox_path=settings.outbox_path, bus=bus, clock=clock)
    await writer.start()
    bus.subscribe(writer.handle)
    owner.own("call log writer", writer.stop)
    return writer


async def start_rules(
    owner: Owner,
    settings: Settings,
    *,
    bus: EventBus,
    db: Database,
    clock: SystemClock,
    commands: TelephonyCommands,
) -> Rules:
    from crm_core.services.callbacks import CallbackService
    from crm_core.services.deadlines import DeadlineScheduler
    from crm_core.services.effects import EffectSweeper
    from crm_core.services.rules import QueueTimeoutCheck, RingRuleService

    s = settings
    callbacks = CallbackService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
    rules = RingRuleService(db=db, bus=bus, clock=clock, settings=s, commands=commands)
    callbacks.retry_seconds = rules.retry_seconds = s.event_retry_seconds
    deadlines = DeadlineScheduler(db=db, bus=bus, clock=clock, callbacks=callbacks)
    bus.subscribe(callbacks.handle)
    bus.subscribe(rules.handle)
    # queues that ring an agent longer than the limit, from the PBX's QueueStatus
    queue_timeouts = QueueTimeoutCheck(s.ring_limit_seconds)
    bus.subscribe(queue_timeouts.handle)
    owner.own("callbacks", callbacks.stop)
    owner.own("ring rules", rules.stop)
    await deadlines.start()
    owner.own("deadlines", deadlines.stop)
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
    owner.own("effects sweep", sweeper.stop)
    return Rules(
        callbacks=callbacks,
        rules=rules,
        deadlines=deadlines,
        effects_sweep=sweeper,
        queue_timeouts=queue_timeouts,
    )


async def start_fastagi(
    owner: Owner,
    settings: Settings,
    *,
    bus: EventBus,
    db: Database,
    callbacks: CallbackService,
    sim: Simulator | None,
) -> FastAgiServer:
    from ivr_scripts.routes import routes
    from telephony.fastagi import FastAgiServer

    s = settings
    server = FastAgiServer(
        routes(db=db, bus=bus, settings=s, callbacks=callbacks),
        header_timeout=s.agi_header_timeout_seconds,
        command_timeout=s.agi_command_timeout_seconds,
        allowed_networks=s.agi_allowed_networks,
        secret=s.agi_secret,
    )
    await server.start(s.agi_host, s.agi_port)
    owner.own("fastagi", server.stop)
    if sim is not None:  # simulated calls may pass through the IVR too
        sim.agi_address = (s.agi_host, server.port)
        sim.agi_secret = s.agi_secret
    return server
