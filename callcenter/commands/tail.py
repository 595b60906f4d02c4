"""`callcenter tail`: an agent's live console messages, one JSON line each.

Logs in through the REST API (`POST /api/login` → bearer token), opens the
console's WebSocket (`/ws?token=…`) with the `websockets` library and prints
every message the console would receive (the snapshot first, then screen pops,
state changes, callbacks …) as one JSON line on stdout until Ctrl-C. Heartbeats
are not printed. When the socket drops it logs in again and reconnects with
`?after=<last seq>`, so nothing the server still buffers is lost (docs/adr/0075).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import websockets
from websockets.asyncio.client import ClientConnection, connect

from callcenter.settings import Settings

QUIET = frozenset({"heartbeat", "pong"})  # keep-alives, not news
RETRY_MAX_SECONDS = 10.0


class LoginRefused(Exception):
    """The console refused the username/password (exit code 1, no retry)."""


def socket_url(base: str, token: str, after: int) -> str:
    """`http(s)://host/prefix` → `ws(s)://host/prefix/ws?token=…[&after=N]`."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = f"token={token}" + (f"&after={after}" if after >= 0 else "")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", query, ""))


def read_password(var: str | None) -> str:
    if var:
        if var not in os.environ:
            raise SystemExit(f"callcenter tail: environment variable {var} is not set")
        return os.environ[var]
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\n")


async def login(base: str, username: str, password: str) -> str:
    url = base.rstrip("/") + "/api/login"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"username": username, "password": password}) as res,
    ):
        if res.status in (401, 403):
            raise LoginRefused(f"login refused (HTTP {res.status})")
        if res.status != 200:
            raise OSError(f"login: HTTP {res.status}")
        body: dict[str, Any] = await res.json()
        return str(body["token"])


class Tail:
    """Prints the messages of one console socket; remembers the last `seq` for resuming."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.username = username
        self.password = password
        self.last_seq = -1

    def emit(self, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        if isinstance(seq, int) and message.get("type") not in ("pong", "error"):
            self.last_seq = max(self.last_seq, seq)
        if message.get("type") in QUIET:
            return
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    async def read(self, ws: ClientConnection) -> None:
        async for frame in ws:
            data = json.loads(frame)
            for message in data if isinstance(data, list) else [data]:
                if isinstance(message, dict):
                    self.emit(message)

    async def once(self) -> None:
        token = await login(self.base, self.username, self.password)
        url = socket_url(self.base, token, self.last_seq)
        async with connect(url, max_size=2**20, compression=None) as ws:
            await self.read(ws)

    async def run(self) -> int:
        pause = 0.5
        connected_once = False
        while True:
            try:
                await self.once()
                connected_once = True
                pause = 0.5
                reason = "the console closed the socket"
            except LoginRefused as exc:
                print(f"callcenter tail: {exc}", file=sys.stderr)
                return 1
            except (OSError, aiohttp.ClientError, websockets.WebSocketException) as exc:
                if not connected_once and self.last_seq < 0:
                    print(f"callcenter tail: cannot reach {self.base}: {exc}", file=sys.stderr)
                    return 1
                reason = str(exc) or type(exc).__name__
            print(f"callcenter tail: {reason}; reconnecting", file=sys.stderr, flush=True)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_SECONDS)


def run(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password(args.password_env)
    tail = Tail(args.url, args.user, password)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(tail.run())
    return 0
