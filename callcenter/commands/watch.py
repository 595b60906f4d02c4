"""`callcenter watch`: print finished calls from a live AMI as JSON lines.

The AMI client feeds the same ingest path as `serve`, `replay` and `bench ami`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from callcenter.settings import Settings
from crm_core.clock import SystemClock
from crm_core.domain.events import AmiDisconnected, CallEnded, DomainEvent
from crm_core.services.rules import QueueTimeoutCheck
from telephony.ami.client import Endpoint
from telephony.pbx_reader import pbx_reader
from telephony.tracker import CallTracker


async def _watch(args: argparse.Namespace, settings: Settings) -> int:
    rings = args.rings if args.rings is not None else settings.ring_count
    cycle = args.ring_cycle if args.ring_cycle is not None else settings.ring_cycle_seconds
    endpoint = Endpoint(
        args.ami_host or settings.ami_host,
        args.ami_port or settings.ami_port,
        args.ami_user or settings.ami_username,
        args.ami_secret if args.ami_secret is not None else settings.ami_secret,
    )

    ring_limit = rings * cycle
    queue_timeouts = QueueTimeoutCheck(ring_limit)  # logs queues that ring too long

    async def sink(events: list[DomainEvent]) -> None:
        for event in events:
            queue_timeouts.handle(event)
            if isinstance(event, CallEnded):
                sys.stdout.write(json.dumps(event.record.to_contract(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            elif isinstance(event, AmiDisconnected):
                print(
                    f"callcenter watch: AMI disconnected ({event.reason}); reconnecting",
                    file=sys.stderr,
                )

    client = pbx_reader(
        endpoint,
        tracker=CallTracker(
            ring_limit, abandon_threshold_seconds=settings.abandon_threshold_seconds
        ),
        on_events=sink,
        clock=SystemClock(),
        action_timeout=settings.ami_action_timeout_seconds,
        ping_interval=settings.ami_ping_interval_seconds,
        watchdog=settings.ami_watchdog_seconds,
    )
    client.start()
    try:
        await asyncio.Event().wait()
    finally:
        await client.stop()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_watch(args, settings))
    except KeyboardInterrupt:
        return 0
