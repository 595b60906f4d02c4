"""The AMI side of the runtime: the demo's PBX simulator, one AMI reader per PBX, the
commands (routed by PBX), the campaign dialer, the AMI leases with several instances,
and the health registry that starts from what the clients already know."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from callcenter.demo_seed import DEMO_AGENTS, DEMO_QUEUES, demo_interface, demo_member
from callcenter.settings import AmiEndpoint, Settings
from callcenter.wiring.owner import Owner
from crm_core.clock import SystemClock
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from crm_core.db import Database
    from crm_core.health import HealthRegistry
    from crm_core.lease import RedisLease
    from crm_core.ports.telephony import TelephonyCommands
    from telephony.ami.client import AmiClient
    from telephony.dialer import CampaignDialer
    from telephony.dialer_task import SupervisedDialer
    from telephony.sim import Simulator

__all__ = ["Telephony", "health_registry", "start_simulator", "start_telephony"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Telephony:
    """The AMI side: one client per PBX, the commands (routed by PBX), the dialer."""

    clients: list[AmiClient]
    commands: TelephonyCommands
    dialer: CampaignDialer
    dialer_loop: SupervisedDialer
    leases: dict[str, RedisLease]  # per PBX, with Redis only


async def start_simulator(
    owner: Owner, settings: Settings, *, answer_after: float
) -> tuple[Simulator, AmiEndpoint]:
    """The demo's PBX, and the AMI endpoint that reaches it."""
    from telephony.sim import demo_simulator

    secret = settings.ami_secret
    sim = demo_simulator(
        ami_secret=secret,
        answer_after=answer_after,
        ring_limit_seconds=settings.ring_limit_seconds,
    )
    # agents 2..6 are already at work so calls flow; agent1 is yours to sign in
    for n in range(2, DEMO_AGENTS + 1):
        for queue in DEMO_QUEUES:
            sim.add_member(queue, demo_member(n), demo_interface(n))
    port = await sim.start("127.0.0.1", 0)
    owner.own("simulator", sim.stop)
    endpoint = AmiEndpoint(
        name="default", host="127.0.0.1", port=port, username=sim.username, secret=secret
    )
    return sim, endpoint


async def start_telephony(
    owner: Owner,
    settings: Settings,
    *,
    bus: EventBus,
    db: Database,
    clock: SystemClock,
    endpoints: list[AmiEndpoint],
    wait_connected: bool,
) -> Telephony:
    """One AMI client and tracker per PBX; commands routed by PBX (ADR 0038).
    `wait_connected`: the demo waits for its simulator's AMI before going on."""
    from crm_core.services.reconcile import pbx_calls_ended_since, pbx_legs
    from telephony.ami.client import Endpoint
    from telephony.commands import AmiCommands
    from telephony.pbx_reader import pbx_reader
    from telephony.pbx_router import Pbx, PbxRouter
    from telephony.tracker import CallTracker

    s = settings

    # agents' phones by interface, so calls of an agent in no queue (click-to-dial,
    # a transfer to their extension) still name them
    roster = {
        u.interface: u.member_name for u in await db.users.list() if u.interface and u.member_name
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
    dialer, dialer_loop = _dialer(owner, s, bus=bus, db=db, clock=clock, commands=commands)
    for client in clients:
        client.start()
        owner.own(f"ami client {client.endpoint.name}", client.stop)
    leases: dict[str, RedisLease] = {}
    if s.redis_url:
        for n, client in enumerate(clients):
            leases[client.endpoint.name] = _ami_lease(
                owner, s, client, dialer_loop if n == 0 else None
            )
    else:
        dialer_loop.start()
    if wait_connected:
        await clients[0].wait_connected(timeout=10.0)
    return Telephony(
        clients=clients,
        commands=commands,
        dialer=dialer,
        dialer_loop=dialer_loop,
        leases=leases,
    )


def _dialer(
    owner: Owner,
    s: Settings,
    *,
    bus: EventBus,
    db: Database,
    clock: SystemClock,
    commands: TelephonyCommands,
) -> tuple[CampaignDialer, SupervisedDialer]:
    """Campaign dialer; with several instances only the AMI lease holder dials."""
    from crm_core.phones import carrier_digits
    from telephony.dialer import CampaignDialer, DialerConfig
    from telephony.dialer_task import SupervisedDialer

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

    owner.own("dialer", stop)
    return dialer, loop


def _ami_lease(
    owner: Owner, s: Settings, client: AmiClient, dialer_loop: SupervisedDialer | None
) -> RedisLease:
    """One active AMI reader per PBX across instances (docs/adr/0028); the first
    PBX's reader also paces the campaigns (`dialer_loop`)."""
    from crm_core.lease import RedisLease

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
    owner.own(f"ami lease {name}", lease.stop)
    return lease


def health_registry(settings: Settings, bus: EventBus, clients: list[AmiClient]) -> HealthRegistry:
    """Health by component, listening on the bus from now on; it starts from what the
    AMI clients and the Redis bus already know."""
    from crm_core.bus_redis import RedisBus
    from crm_core.health import HealthRegistry

    components = ("ami", "database", "redis") if settings.redis_url else ("ami", "database")
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


def _instance_name(s: Settings) -> str:
    """This process among the instances: the setting, or host and pid."""
    return s.instance_id or f"{socket.gethostname()}-{os.getpid()}"
