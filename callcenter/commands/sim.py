"""`callcenter sim`: the PBX simulator alone (AMI + control API)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from aiohttp import web

from callcenter.settings import Settings
from telephony.sim import DemoTraffic, create_control_app, demo_simulator
from telephony.sim.agi_caller import installed_prompts


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    secret = settings.ami_secret or "simsecret"
    sim = demo_simulator(
        ami_secret=secret,
        preload_members=True,
        ring_limit_seconds=settings.ring_limit_seconds,
    )
    if args.prompts:
        sim.prompts = installed_prompts(Path(args.prompts))
    if args.agi_url:
        host, _, port = args.agi_url.removeprefix("agi://").partition(":")
        sim.agi_address = (host, int(port or 4573))
    await sim.start(args.host, args.ami_port)
    root = web.Application()
    root.add_subapp("/sim/", create_control_app(sim))
    runner = web.AppRunner(root)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.control_port)
    await site.start()
    traffic = DemoTraffic(sim, args.calls_per_minute)
    traffic.start()
    print(
        f"PBX simulator: AMI on {args.host}:{sim.port} (user {settings.ami_username}, "
        f"secret {'from settings' if settings.ami_secret else secret})",
        flush=True,
    )
    print(
        f"control API on http://{args.host}:{args.control_port}/sim/ "
        "(POST /sim/calls, PUT /sim/agents/NAME, GET /sim/state)",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await traffic.stop()
    await runner.cleanup()
    await sim.stop()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_serve(args, settings))
    except OSError as exc:
        print(f"callcenter sim: {exc}", file=sys.stderr)
        return 1
