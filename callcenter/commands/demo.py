"""`callcenter demo`: the whole product on one machine with nothing else installed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import sys
from pathlib import Path

from callcenter import heap
from callcenter.demo_seed import DEMO_AGENTS, DEMO_PASSWORD
from callcenter.logs import configure_logging
from callcenter.settings import Settings
from callcenter.wiring import DemoOptions, Runtime

log = logging.getLogger(__name__)


def demo_settings(
    settings: Settings,
    database: Path,
    *,
    agi_port: int | None = None,
    database_url: str | None = None,
) -> Settings:
    """The demo's own SQLite file (or `database_url`), in-process bus, loopback FastAGI
    and a fresh secret. Every port is an option, so two demos can run side by side."""
    return dataclasses.replace(
        settings,
        database_url=database_url or f"sqlite+aiosqlite:///{database}",
        redis_url="",
        secret_key=settings.secret_key or secrets.token_urlsafe(32),
        ami_secret=settings.ami_secret or secrets.token_urlsafe(12),
        agi_host="127.0.0.1",
        agi_port=settings.agi_port if agi_port is None else agi_port,
        outbox_path=str(database.parent / "demo-outbox.db"),
    )


def banner(runtime: Runtime) -> str:
    if runtime.demo is None:  # `serve`: its users come from `callcenter user add`
        return f"callcenter serving at {runtime.url} (SIGTERM or Ctrl-C stops it)"
    logins = ", ".join(f"agent{n}" for n in range(1, DEMO_AGENTS + 1))
    return "\n".join(
        [
            "",
            f"  callcenter demo is running: {runtime.url}",
            f"  logins (password '{DEMO_PASSWORD}'): {logins}, lead1, manager1, admin",
            f"  PBX simulator control API: {runtime.url}sim/  (loopback only)",
            f"  FastAGI: agi://127.0.0.1:{runtime.components.fastagi.port}/"
            "{welcome,menu,selfservice,callback,survey}",
            "  Ctrl-C stops it.",
            "",
        ]
    )


async def serve_until_stopped(runtime: Runtime) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except OSError as exc:
        print(f"callcenter: cannot start: {exc}", file=sys.stderr)
        return 1
    heap.settle_after_start()  # after start-up: the long-lived heap is built (ADR 0036)
    try:
        print(banner(runtime), flush=True)
        await stop.wait()
        print("callcenter: stopping…", file=sys.stderr, flush=True)
    finally:
        await runtime.stop()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(
        level=settings.log_level, json_lines=settings.log_json, instance=settings.instance_id
    )
    database = Path(args.database or "var/demo.db")
    options = DemoOptions(database_file=database, calls_per_minute=args.calls_per_minute)
    runtime = Runtime(
        settings=demo_settings(
            settings, database, agi_port=args.agi_port, database_url=args.database_url
        ),
        demo=options,
        host=args.host,
        port=args.port,
    )
    return asyncio.run(serve_until_stopped(runtime))
